"""/metrics for Prometheus and the JSON log lines: what the operator's dashboards and log search read."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from exoderm.ops import heartbeat
from exoderm.ops.logs import JsonFormatter, WarningsOnlyFrom
from tests import factories
from tests.ops._server import exoderm_serve

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-0123456789"


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample of the text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))).strip(",") == wanted:
            return float(match.group(2))
    return 0.0


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def test_without_a_configured_token_there_is_no_metrics_endpoint(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


def test_a_wrong_or_missing_token_is_refused(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_requests_are_counted_by_route_pattern_method_and_status(client, settings, clinic):
    settings.METRICS_TOKEN = TOKEN
    patient = factories.PatientFactory(clinic=clinic)
    client.force_login(factories.UserFactory(clinic=clinic, role="clinician"))
    route = "patients/<id:pk>/"
    before = sample(
        scrape(client), "exoderm_http_request_duration_seconds_count", route=route, method="GET", status="200"
    )
    for _ in range(3):
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    after = scrape(client)
    assert (
        sample(after, "exoderm_http_request_duration_seconds_count", route=route, method="GET", status="200")
        == before + 3
    )
    assert f"/patients/{patient.pk}/" not in after  # the pattern, never a path with a record's id


def test_queue_depth_age_and_live_workers_come_from_the_database(client, settings):
    from exoderm.patients.tasks import records_housekeeping

    settings.METRICS_TOKEN = TOKEN
    records_housekeeping.enqueue()
    heartbeat.beat(worker="host-a:1")
    exposition = scrape(client)
    assert sample(exposition, "exoderm_tasks", queue="default", status="READY") == 1
    assert 0 <= sample(exposition, "exoderm_task_queue_oldest_seconds", queue="default") < 60
    assert sample(exposition, "exoderm_workers_alive") == 1
    assert "exoderm_analyses_last_minute 0.0" in exposition
    assert "exoderm_tasks_failed_last_hour 0.0" in exposition


def test_json_log_lines_carry_the_request_id_of_the_response(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("exoderm.requests")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = client.get("/healthz")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == response["X-Request-ID"]
    assert (entry["level"], entry["logger"], entry["route"], entry["status"]) == (
        "INFO",
        "exoderm.requests",
        "healthz",
        200,
    )
    assert entry["message"].startswith("GET healthz 200 ")


def test_without_task_progress_lines_failed_tasks_and_the_worker_still_log():
    """LOG_TASK_PROGRESS=0 (the demo's worker): the line per task started and finished goes, a
    failed task's line (ERROR, with its traceback) and the worker's own lines stay."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(WarningsOnlyFrom(["django.tasks"]))
    loggers = [
        logging.getLogger(name) for name in ("django.tasks", "django.tasks.signals", "django_tasks_db")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        loggers[0].info("Task id=1 path=p state=RUNNING")
        loggers[0].info("Task id=1 path=p state=SUCCESSFUL")
        loggers[1].info("Task id=2 path=p state=RUNNING")
        loggers[0].error("Task id=3 path=p state=FAILED")
        loggers[2].info("Starting worker worker_id=w queues=default")
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    assert stream.getvalue().splitlines() == [
        "Task id=3 path=p state=FAILED",
        "Starting worker worker_id=w queues=default",
    ]


@pytest.mark.slow
def test_several_server_processes_are_scraped_as_one(tmp_path):
    """Granian with two worker processes: each scrape lands on one of them, and sees all requests."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "EXODERM_DATA_DIR": str(tmp_path),
    }
    database = {**os.environ, **env}
    database.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "manage", "migrate", "-v", "0"], env=database, check=True
    )
    with exoderm_serve(
        tmp_path, workers=2, DATABASE_URL=f"sqlite:///{tmp_path / 'exoderm.sqlite3'}", **env
    ) as base:
        for _ in range(19):
            # a long timeout: a process that has not answered yet loads the app first (and a
            # request sent twice would count twice)
            urllib.request.urlopen(f"{base}/healthz", timeout=30).close()
        request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        counts = set()
        for _ in range(6):
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
            counts.add(
                sample(
                    text,
                    "exoderm_http_request_duration_seconds_count",
                    route="healthz",
                    method="GET",
                    status="200",
                )
            )
        assert counts == {20.0}, text
        assert len(list(metrics_dir.glob("histogram_*.db"))) == 2  # two processes measured
