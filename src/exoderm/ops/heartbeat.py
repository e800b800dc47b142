"""The worker's heartbeat: a daemon thread that touches the worker's row while the process lives,
and takes its turn at the workers' periodic duties (see :class:`~exoderm.ops.models.DutyTurn`)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from exoderm.ops.models import DutyTurn, WorkerHeartbeat

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = settings.WORKER_HEARTBEAT_SECONDS


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Rows of workers gone this long are removed when a worker starts (each start is a new host:pid).
FORGET_AFTER = dt.timedelta(days=7)


@dataclass(frozen=True)
class Duty:
    """Work that one worker of all does every ``every`` seconds (whichever takes the turn)."""

    name: str
    every: float
    run: Callable[[], object]


def beat(*, worker: str) -> None:
    """Record that ``worker`` is alive now."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"seen_at": now}, create_defaults={"seen_at": now, "started_at": now}
    )


def take_turn(*, duty: str, every: float, worker: str) -> bool:
    """Whether ``worker`` takes the turn at ``duty`` now: True for exactly one caller per period.

    A compare-and-set on the duty's row (no lock held while the duty runs): of workers asking at
    the same moment on any hosts, one update matches and the others find the turn taken.
    """
    now = timezone.now()
    taken = DutyTurn.objects.filter(name=duty, last_run_at__lte=now - dt.timedelta(seconds=every)).update(
        last_run_at=now, last_worker=worker
    )
    if taken:
        return True
    try:
        with transaction.atomic():  # the first turn ever: one insert wins the unique name
            DutyTurn.objects.create(name=duty, last_run_at=now, last_worker=worker)
    except IntegrityError:
        return False
    return True


def _do_duties(duties: tuple[Duty, ...], name: str) -> None:
    for duty in duties:
        if take_turn(duty=duty.name, every=duty.every, worker=name):
            try:
                duty.run()
            except Exception:  # the next turn tries again; the heartbeat must go on
                logger.exception("the periodic duty %s failed", duty.name)


def start(*, interval: float = INTERVAL_SECONDS, duties: tuple[Duty, ...] = ()) -> None:
    """Beat now and then every ``interval`` seconds in a daemon thread, for the life of the process,
    offering to do each of ``duties`` after each beat.

    The first beat happens before this returns, so a worker that cannot reach the database fails at
    once instead of running unseen. The duties run in this thread, not in the task loop: a worker
    does them while it waits for tasks too, which is when the tasks of a dead colleague are stuck.
    """
    name = worker_name()
    WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()
    beat(worker=name)

    def run() -> None:
        while True:
            time.sleep(interval)
            # a database blip must not end the thread: the next beat tries again, /readyz shows the gap
            try:
                beat(worker=name)
                _do_duties(duties, name)
            except DatabaseError:
                pass
            finally:
                # the thread's own connection: closed after each beat, so that it never goes stale
                connection.close()

    threading.Thread(target=run, name="exoderm-heartbeat", daemon=True).start()
