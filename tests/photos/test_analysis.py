"""Background analysis: one result per (photo, engine version), status, recovery, re-analysis."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from exoderm import skinlab
from exoderm.photos import storage
from exoderm.photos.models import Analysis, AnalysisStatus, Photo
from exoderm.photos.services import upload_photo
from exoderm.photos.tasks import enqueue_analysis, recover_stalled
from tests.photos._helpers import stored_files
from tests.photos._images import MM_PER_PX, phantom_png


def _work() -> None:
    """Run every queued task in this process, as `exoderm worker` would."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)


@pytest.fixture
def upload(patient, photo_consent, clinician, django_capture_on_commit_callbacks):
    def make(seed: int = 0, **kwargs) -> Photo:
        kwargs.setdefault("view", "close_up")
        kwargs.setdefault("area", "cheek_left" if kwargs["view"] == "close_up" else "")
        kwargs.setdefault("timepoint", "follow_up")
        kwargs.setdefault("mm_per_px", MM_PER_PX)
        with django_capture_on_commit_callbacks(execute=True):
            photo, _ = upload_photo(
                patient=patient,
                chunks=[kwargs.pop("data", None) or phantom_png(seed)],
                by=clinician,
                **kwargs,
            )
        photo.refresh_from_db()
        return photo

    return make


@pytest.mark.django_db(transaction=True)
def test_a_new_photo_is_queued_and_analysed_once(upload):
    photo = upload(seed=1)
    assert photo.analysis_status == AnalysisStatus.QUEUED
    task = DBTaskResult.objects.get(pk=photo.analysis_task_id)
    assert task.status == TaskResultStatus.READY
    assert task.args_kwargs["args"] == [photo.pk]

    _work()

    photo.refresh_from_db()
    assert photo.analysis_status == AnalysisStatus.DONE
    analysis = Analysis.objects.get(photo=photo)
    assert analysis.engine_version == skinlab.ENGINE_VERSION
    assert analysis.roi == "full" and analysis.usable
    assert set(analysis.data) >= {
        "engine_version",
        "width",
        "height",
        "calibration",
        "scale",
        "quality",
        "regions",
    }
    assert analysis.data["scale"] == {"mm_per_px": MM_PER_PX, "source": "caller"}
    assert analysis.metric("full", "spot_count") > 0

    enqueue_analysis(photo.pk)  # queued again by mistake: nothing is stored twice
    _work()
    assert Analysis.objects.filter(photo=photo).count() == 1
    assert DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_face_view_without_a_face_is_stored_as_unusable(upload):
    photo = upload(seed=2, view="front", area="")
    _work()
    analysis = Analysis.objects.get(photo=photo)
    assert analysis.roi == "face" and not analysis.usable
    assert analysis.data["regions"] == {}


def _claimed_task(photo: Photo, *, worker: str, started: dt.datetime) -> DBTaskResult:
    """The photo's task as a worker leaves it when it dies inside the analysis."""
    task = DBTaskResult.objects.get(pk=photo.analysis_task_id)
    task.claim("gone-worker")
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=started)
    Photo.objects.filter(pk=photo.pk).update(
        analysis_status=AnalysisStatus.RUNNING, analysis_worker=worker, analysis_started_at=started
    )
    return task


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.django_db(transaction=True)
def test_the_task_of_a_dead_worker_is_queued_again_and_analysed_once(
    upload, django_capture_on_commit_callbacks
):
    photo = upload(seed=3)
    task = _claimed_task(photo, worker=f"{socket.gethostname()}:{_dead_pid()}", started=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stalled() == [photo.pk]
        assert recover_stalled() == []  # a second recoverer finds nothing left to do
    task.refresh_from_db()
    assert task.status == TaskResultStatus.FAILED
    assert task.exception_class_path == "exoderm.photos.tasks.WorkerLost"
    photo.refresh_from_db()
    assert photo.analysis_status == AnalysisStatus.QUEUED
    assert DBTaskResult.objects.get(pk=photo.analysis_task_id).status == TaskResultStatus.READY

    _work()
    assert Analysis.objects.filter(photo=photo).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_living_worker_keeps_its_task_until_the_lease_ends(upload):
    photo = upload(seed=4)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        task = _claimed_task(photo, worker=f"{socket.gethostname()}:{sleeper.pid}", started=timezone.now())
        assert recover_stalled() == []
        task.refresh_from_db()
        assert task.status == TaskResultStatus.RUNNING
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.django_db(transaction=True)
def test_a_task_on_another_host_is_recovered_after_its_lease(upload):
    photo = upload(seed=5)
    _claimed_task(photo, worker="elsewhere:123", started=timezone.now() - dt.timedelta(minutes=5))
    assert recover_stalled() == []
    Photo.objects.filter(pk=photo.pk).update(analysis_started_at=timezone.now() - dt.timedelta(hours=1))
    DBTaskResult.objects.filter(pk=photo.analysis_task_id).update(
        started_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert recover_stalled() == [photo.pk]


@pytest.mark.django_db(transaction=True)
def test_reanalyze_runs_every_photo_for_a_new_engine_version(upload, monkeypatch):
    photos = [upload(seed=6), upload(seed=7)]
    _work()
    assert Analysis.objects.count() == 2

    from exoderm.skinlab import pipeline

    first_version = skinlab.ENGINE_VERSION
    monkeypatch.setattr(skinlab, "ENGINE_VERSION", "99.0.0")
    monkeypatch.setattr(pipeline, "ENGINE_VERSION", "99.0.0")
    call_command("reanalyze", chunk=1, verbosity=0)
    assert {p.analysis_status for p in Photo.objects.all()} == {AnalysisStatus.QUEUED}
    _work()
    versions = sorted(Analysis.objects.filter(photo__in=photos).values_list("photo_id", "engine_version"))
    assert versions == sorted((p.pk, v) for p in photos for v in (first_version, "99.0.0"))
    call_command("reanalyze", verbosity=0)  # nothing left for this version
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 0


@pytest.mark.django_db(transaction=True)
def test_housekeeping_removes_what_killed_uploads_left(upload):
    photo = upload(seed=8)
    orphan = storage.path_of(f"{photo.clinic_id}/ab/{'ab' * 32}.png")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a killed upload")
    leftover = storage.tmp_dir() / "tmpabc.upload"
    leftover.write_bytes(b"half an upload")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    os.utime(leftover, (old, old))

    call_command("photo_housekeeping", verbosity=0)

    assert stored_files() == [storage.path_of(photo.file_name)]


@pytest.mark.django_db(transaction=True)
def test_reanalyze_does_not_queue_a_photo_twice(upload):
    upload(seed=9)
    assert DBTaskResult.objects.count() == 1
    call_command("reanalyze", verbosity=0)
    assert DBTaskResult.objects.count() == 1
    _work()
    assert Analysis.objects.count() == 1
