"""Background analysis of photos (django.tasks with the database backend).

Exactly once, although workers die:

- **Idempotent result.** An analysis is stored under the unique constraint (photo, engine
  version). A task that finds the result already there does nothing; two workers that race on
  the same photo both measure, one insert wins and the other's ``IntegrityError`` is swallowed.
- **Recovery of killed workers.** A worker killed with SIGKILL leaves its ``DBTaskResult``
  RUNNING for ever. While it analyses, the task writes ``host:pid`` of its worker process onto the
  photo. :func:`recover_stalled` finds RUNNING analysis tasks whose process is gone (same host and
  the pid no longer exists), whose worker on another host stopped beating (its
  :class:`~exoderm.ops.models.WorkerHeartbeat` is stale) or that have held their lease too long
  (workers without a heartbeat, or killed before they could write the pid), marks them FAILED
  with ``WorkerLost`` (a compare-and-set, so that concurrent recoverers act once) and queues a
  new task for the photo. It runs in every worker when it starts a task (at most every
  ``RECOVERY_EVERY`` seconds), in one idle or busy ``exoderm worker`` of all every
  ``PHOTO_RECOVERY_SECONDS`` (its heartbeat thread's duty) and in ``exoderm manage
  photo_housekeeping`` / ``reanalyze``.

Re-analysis of the archive (:class:`~exoderm.photos.models.Reanalysis`): :func:`queue_reanalysis`
queues a run's photos chunk by chunk at a lower priority than new uploads, so that the clinic's
fresh photos are analysed first while the archive is worked through.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import TaskContext, TaskResultStatus, task
from django.utils import timezone

from exoderm.ops.health import WORKER_STALE_AFTER
from exoderm.ops.models import WorkerHeartbeat
from exoderm.photos import storage
from exoderm.photos.engine import current_version, measure_photo
from exoderm.photos.models import Analysis, AnalysisStatus, Photo, Reanalysis
from exoderm.photos.selectors import open_reanalyses, reanalysis_progress

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=settings.PHOTO_ANALYSIS_LEASE_SECONDS)
RECOVERY_EVERY = 30.0
# below the default (0): a photo just taken is analysed before the archive's next one
REANALYSIS_PRIORITY = -10
REANALYSIS_CHUNK = 500


class WorkerLost(Exception):
    """The worker process running this task disappeared (killed, crashed, machine lost)."""


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@task(takes_context=True)
def analyse_photo(context: TaskContext, photo_id: int) -> str:
    """Analyse one photo with the current engine version; returns what happened."""
    return run_analysis(photo_id, task_id=str(context.task_result.id))


def run_analysis(photo_id: int, *, task_id: str = "") -> str:
    photo = Photo.objects.filter(pk=photo_id).first()
    if photo is None:
        return "photo gone"
    if Analysis.objects.filter(photo_id=photo_id, engine_version=current_version()).exists():
        Photo.objects.filter(pk=photo_id).update(analysis_status=AnalysisStatus.DONE, analysis_worker="")
        return "already analysed"
    Photo.objects.filter(pk=photo_id).update(
        analysis_status=AnalysisStatus.RUNNING,
        analysis_worker=_worker_name(),
        analysis_started_at=timezone.now(),
        analysis_task_id=task_id or photo.analysis_task_id,
        analysis_error="",
    )
    from exoderm.skinlab import keep_freed_memory
    from exoderm.skinlab.io import SkinlabError

    keep_freed_memory()  # this process analyses photo after photo: memory is reused, not refaulted
    started = time.perf_counter()
    try:
        measurement = measure_photo(storage.read(photo.file_name), view=photo.view, mm_per_px=photo.mm_per_px)
    except SkinlabError as exc:
        _finish(photo_id, AnalysisStatus.FAILED, error=str(exc))
        return "not measurable"
    except storage.UnreadableFile as exc:
        # tampered or wrong key: retrying cannot help, and the store has logged it as an error
        _finish(photo_id, AnalysisStatus.FAILED, error=str(exc))
        return "file unreadable"
    except BaseException as exc:
        _finish(photo_id, AnalysisStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    seconds = time.perf_counter() - started
    stored = False
    with transaction.atomic():
        try:
            with transaction.atomic():
                Analysis.objects.create(
                    photo_id=photo_id,
                    engine_version=measurement.engine_version,
                    roi=measurement.roi,
                    usable=measurement.usable,
                    data=measurement.record,
                    seconds=round(seconds, 3),
                )
                stored = True
        except IntegrityError:
            pass  # another worker stored this photo's analysis first: one result, as it must be
        _finish(photo_id, AnalysisStatus.DONE)
    return "analysed" if stored else "already analysed"


def _finish(photo_id: int, status: str, *, error: str = "") -> None:
    Photo.objects.filter(pk=photo_id).update(analysis_status=status, analysis_error=error, analysis_worker="")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is starting another task, so it no longer runs that one
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_alive(
    photo: Photo | None, task_id: str, started_at: dt.datetime | None, now: dt.datetime
) -> bool:
    if photo is not None and photo.analysis_task_id == task_id and photo.analysis_worker:
        host, _sep, pid = photo.analysis_worker.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return _pid_alive(int(pid))
        seen = (
            WorkerHeartbeat.objects.filter(worker=photo.analysis_worker)
            .values_list("seen_at", flat=True)
            .first()
        )
        if seen is not None and now - seen > WORKER_STALE_AFTER:
            return False  # its worker, on another host, stopped beating: the host or process is gone
    return started_at is not None and now - started_at < LEASE


def enqueue_analysis(photo_id: int, *, priority: int | None = None) -> str:
    """Queue the analysis of one photo and remember the task on the photo. Returns the task id.

    Here beside the task it queues, so that the services (uploads, restores) call into the tasks
    and never the other way round."""
    result = analyse_photo.using(priority=priority).enqueue(photo_id)
    Photo.objects.filter(pk=photo_id).exclude(analysis_status=AnalysisStatus.DONE).update(
        analysis_task_id=str(result.id)
    )
    return str(result.id)


def recover_stalled() -> list[int]:
    """Re-queue the analyses whose worker died. Returns the photo ids queued again."""
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    recovered: list[int] = []
    running = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, task_path=analyse_photo.module_path
    ).values_list("id", "args_kwargs", "started_at")
    for result_id, args_kwargs, started_at in running:
        args: list[Any] = args_kwargs.get("args") or list(args_kwargs.get("kwargs", {}).values())
        photo_id = int(args[0])
        photo = Photo.objects.filter(pk=photo_id).first()
        if _holder_alive(photo, str(result_id), started_at, now):
            continue
        with transaction.atomic():
            claimed = DBTaskResult.objects.filter(pk=result_id, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{__name__}.WorkerLost",
                traceback="WorkerLost: the worker process running this task disappeared; queued again.\n",
            )
            if not claimed or photo is None:
                continue
            if Analysis.objects.filter(photo_id=photo_id, engine_version=current_version()).exists():
                _finish(photo_id, AnalysisStatus.DONE)
                continue
            Photo.objects.filter(pk=photo_id).update(
                analysis_status=AnalysisStatus.QUEUED, analysis_worker="", analysis_started_at=None
            )
            transaction.on_commit(partial(enqueue_analysis, photo_id))
            recovered.append(photo_id)
    if recovered:
        logger.warning("queued the analysis of photos %s again: their worker disappeared", recovered)
    return recovered


def queue_reanalysis(*, run: Reanalysis, chunk: int = REANALYSIS_CHUNK) -> int:
    """Queue the analyses of ``run`` from where its queuing stopped; returns how many were queued.

    One transaction per chunk moves the run's cursor together with the tasks it queued, so a
    queuing killed at any moment resumes after the last committed chunk, and a photo that already
    has a result of the run's version or a task waiting or running is not queued again. The run's
    row lock makes two queuers (the command run twice, a page and a command) take turns.
    """
    from django_tasks_db.models import DBTaskResult

    queued = 0
    while True:
        with transaction.atomic():
            run = Reanalysis.objects.select_for_update().get(pk=run.pk)
            photos = Photo.objects.filter(pk__gt=run.queued_up_to, pk__lte=run.last_photo_id)
            if run.clinic_id is not None:
                photos = photos.filter(clinic_id=run.clinic_id)
            rows = list(photos.order_by("pk").values_list("pk", "analysis_task_id")[: max(1, chunk)])
            if not rows:
                Reanalysis.objects.filter(pk=run.pk).update(queued_up_to=run.last_photo_id)
                return queued
            ids = [pk for pk, _task in rows]
            done = set(
                Analysis.with_trashed.filter(photo_id__in=ids, engine_version=run.engine_version).values_list(
                    "photo_id", flat=True
                )
            )
            waiting = {
                str(task_id)
                for task_id in DBTaskResult.objects.filter(
                    id__in=[task for _pk, task in rows if task],
                    status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
                ).values_list("id", flat=True)
            }
            todo = [pk for pk, task in rows if pk not in done and task not in waiting]
            Photo.objects.filter(pk__in=todo).update(
                analysis_status=AnalysisStatus.QUEUED,
                analysis_error="",
                analysis_worker="",
                analysis_started_at=None,
            )
            for photo_id in todo:
                enqueue_analysis(photo_id, priority=REANALYSIS_PRIORITY)
            Reanalysis.objects.filter(pk=run.pk).update(queued_up_to=ids[-1])
            queued += len(todo)


def finish_complete_reanalyses() -> list[int]:
    """Close the open re-analyses whose every photo has its result (or failed); returns their ids.

    A worker's periodic duty: a run started from the page has no one waiting for its end."""
    now = timezone.now()
    finished = [run.pk for run in open_reanalyses() if reanalysis_progress(run, now=now).complete]
    Reanalysis.objects.filter(pk__in=finished, finished_at__isnull=True).update(finished_at=now)
    return finished


@task()
def continue_reanalysis(run_id: int) -> int:
    """Queue a run's photos in a worker (a run started from the page); returns how many it queued."""
    run = Reanalysis.objects.filter(pk=run_id, finished_at__isnull=True).first()
    return 0 if run is None else queue_reanalysis(run=run)


_last_recovery = -RECOVERY_EVERY


def recover_on_task_start(sender: Any, **kwargs: Any) -> None:
    """``task_started`` receiver: a worker that starts work first looks for its dead colleagues'."""
    global _last_recovery
    if time.monotonic() - _last_recovery < RECOVERY_EVERY:
        return
    _last_recovery = time.monotonic()
    try:
        recover_stalled()
    except Exception:  # a failing recovery must never fail the task that is about to run
        logger.exception("recovering stalled photo analyses failed")
