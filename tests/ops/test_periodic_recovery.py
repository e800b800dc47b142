"""Analyses of a dead worker are re-queued by the workers still running, idle ones too, once per
period across all hosts (the heartbeat thread's duty; before, only a worker start or a task start did)."""

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
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from exoderm.consent.models import ConsentKind
from exoderm.ops import heartbeat
from exoderm.ops.health import WORKER_STALE_AFTER
from exoderm.ops.models import DutyTurn, WorkerHeartbeat
from exoderm.photos.models import AnalysisStatus, Photo
from exoderm.photos.services import upload_photo
from exoderm.photos.tasks import recover_stalled
from tests import factories
from tests.photos import _scenario
from tests.photos._images import MM_PER_PX, phantom_png

HEARTBEAT_SECONDS = 1
RECOVERY_SECONDS = 2


@pytest.mark.django_db
def test_one_worker_of_all_takes_each_turn():
    assert heartbeat.take_turn(duty="d", every=60, worker="host-a:1")  # the first turn ever
    assert not heartbeat.take_turn(duty="d", every=60, worker="host-b:2")  # taken for this period
    assert not heartbeat.take_turn(duty="d", every=60, worker="host-a:1")
    DutyTurn.objects.filter(name="d").update(last_run_at=timezone.now() - dt.timedelta(seconds=61))
    assert heartbeat.take_turn(duty="d", every=60, worker="host-b:2")
    assert DutyTurn.objects.get(name="d").last_worker == "host-b:2"
    assert heartbeat.take_turn(duty="other", every=60, worker="host-b:2")  # each duty has its turn


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_asking_at_once_take_one_turn():
    """Threads with their own connections ask together: the conditional update lets one through."""
    import threading

    assert connection.vendor == "postgresql"
    heartbeat.take_turn(duty="race", every=60, worker="seed:0")
    DutyTurn.objects.filter(name="race").update(last_run_at=timezone.now() - dt.timedelta(minutes=5))
    start = threading.Barrier(4)
    taken: list[bool] = []

    def ask(n: int) -> None:
        try:
            start.wait()
            taken.append(heartbeat.take_turn(duty="race", every=60, worker=f"host:{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [False, False, False, True]


@pytest.mark.django_db(transaction=True)
def test_a_task_on_another_host_is_recovered_when_its_workers_heartbeat_is_stale(
    clinic, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    user = factories.UserFactory(clinic=clinic, role="clinician")
    patient = factories.PatientFactory(clinic=clinic)
    template = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY)
    factories.ConsentRecordFactory(patient=patient, template=template, recorded_by=user)
    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = upload_photo(
            patient=patient, chunks=[phantom_png(1, side=240)], view="close_up", area="cheek_left",
            timepoint="follow_up", mm_per_px=MM_PER_PX, by=user,
        )  # fmt: skip
    photo.refresh_from_db()
    DBTaskResult.objects.get(pk=photo.analysis_task_id).claim("elsewhere")
    Photo.objects.filter(pk=photo.pk).update(
        analysis_status=AnalysisStatus.RUNNING,
        analysis_worker="elsewhere:7",
        analysis_started_at=timezone.now(),
    )  # a minute into its lease: only the heartbeat tells that the worker is gone
    heartbeat.beat(worker="elsewhere:7")
    assert recover_stalled() == []  # it beats: it is working

    WorkerHeartbeat.objects.filter(worker="elsewhere:7").update(
        seen_at=timezone.now() - WORKER_STALE_AFTER - dt.timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stalled() == [photo.pk]
    photo.refresh_from_db()
    assert photo.analysis_status == AnalysisStatus.QUEUED
    assert DBTaskResult.objects.get(pk=photo.analysis_task_id).status == "READY"


def _photo_row(root) -> tuple[str, str, int]:
    with contextlib.closing(sqlite3.connect(root / "exoderm.sqlite3", timeout=30)) as db:
        status, worker = db.execute("SELECT analysis_status, analysis_worker FROM photos_photo").fetchone()
        analyses = db.execute("SELECT COUNT(*) FROM photos_analysis").fetchone()[0]
    return status, worker, analyses


def _start_worker(root, name: str) -> subprocess.Popen[bytes]:
    env = _scenario.environment(root) | {
        "WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "PHOTO_RECOVERY_SECONDS": str(RECOVERY_SECONDS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "exoderm.cli", "worker"],
        cwd=_scenario.REPO, env=env, stdout=(root / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.slow
def test_an_idle_worker_takes_over_the_analysis_of_a_sigkilled_one(tmp_path):
    root = tmp_path / "site"
    _scenario.prepare(root, 1, side=1400)  # one photo, queued; large enough to kill a worker inside it
    workers = {name: _start_worker(root, name) for name in ("left", "right")}
    try:
        deadline = time.monotonic() + 180
        while True:  # whichever worker took the photo: kill it inside the analysis
            status, holder, _analyses = _photo_row(root)
            if status == "running" and holder:
                break
            assert all(w.poll() is None for w in workers.values()), [
                (root / f"{n}.log").read_text() for n in workers
            ]
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        pid = int(holder.rpartition(":")[2])
        (victim,) = [n for n, w in workers.items() if w.pid == pid]
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait()
        killed_at = time.monotonic()
        (survivor,) = [w for n, w in workers.items() if n != victim]

        while True:  # the survivor waits for tasks: its heartbeat thread's duty finds the lost one
            status, holder, analyses = _photo_row(root)
            if status == "done":
                break
            assert survivor.poll() is None
            assert time.monotonic() - killed_at < 120, (status, holder)
            time.sleep(0.1)
    finally:
        for w in workers.values():
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers.values():
            w.wait(timeout=60)

    assert analyses == 1
    state = _scenario.status(root)
    lost = [t for t in state["tasks"] if t["exception_class_path"].endswith("WorkerLost")]
    assert len(lost) == 1
    with contextlib.closing(sqlite3.connect(root / "exoderm.sqlite3", timeout=30)) as db:
        turns = dict(db.execute("SELECT name, last_worker FROM ops_dutyturn").fetchall())
    # re-queued by the survivor's duty, not by a restart or a task start (it had no task to start)
    assert turns["photos.recover_stalled"] == f"{socket.gethostname()}:{survivor.pid}"
