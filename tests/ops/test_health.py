"""/healthz and /readyz: what a load balancer and the operator see, without a login."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from exoderm.ops import heartbeat
from exoderm.ops.models import WorkerHeartbeat
from tests.photos import _scenario

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login_and_asks_nothing_else(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_with_database_migrations_storage_and_a_live_worker(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    heartbeat.beat(worker="host-a:1")
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "ready": True,
        "checks": {"database": "ok", "migrations": "ok", "storage": "ok", "worker": "ok"},
    }
    assert not list((tmp_path / "media").iterdir())  # the write probe leaves nothing behind


def test_readyz_without_any_worker_is_not_ready(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "no worker has run"


def test_a_worker_silent_for_three_beats_is_stale_and_a_live_one_elsewhere_counts(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    long_ago = timezone.now() - dt.timedelta(seconds=3 * heartbeat.INTERVAL_SECONDS + 5)
    WorkerHeartbeat.objects.create(worker="host-a:1", started_at=long_ago, seen_at=long_ago)
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"].startswith("last heartbeat 9")

    heartbeat.beat(worker="host-b:7")  # another host's worker: the database is what they share
    assert client.get("/readyz").status_code == 200


def test_an_unwritable_photo_store_is_not_ready(client, settings, tmp_path):
    blocker = tmp_path / "media"
    blocker.write_text("a file where the photo directory should be")
    settings.MEDIA_ROOT = blocker
    heartbeat.beat(worker="host-a:1")
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["storage"].startswith("not writable")
    assert str(tmp_path) not in response.content.decode()  # no paths for whoever asks


@pytest.mark.django_db(transaction=True)
def test_a_migration_not_applied_is_not_ready(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call_command("migrate", "ops", "zero", verbosity=0)
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"] == "ok"
        assert checks["migrations"] == "2 not applied"  # the heartbeats and the duty turns
    finally:
        call_command("migrate", "ops", verbosity=0)


def test_heartbeats_are_not_audit_events(client):
    from exoderm.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    heartbeat.beat(worker="host-a:1")
    heartbeat.beat(worker="host-a:1")
    assert AuditEvent.objects.count() == before


@pytest.mark.slow
def test_the_exoderm_worker_beats_while_it_runs(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    _scenario.run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
    worker = subprocess.Popen(
        [sys.executable, "-m", "exoderm.cli", "worker"],
        cwd=_scenario.REPO,
        env=_scenario.environment(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        rows: list[tuple[str]] = []
        while not rows:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never beat"
            time.sleep(0.2)
            with contextlib.closing(sqlite3.connect(root / "exoderm.sqlite3", timeout=30)) as db:
                rows = db.execute("SELECT worker FROM ops_workerheartbeat").fetchall()
        assert rows == [(f"{socket.gethostname()}:{worker.pid}",)]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
