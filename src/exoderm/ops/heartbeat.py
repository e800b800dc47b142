"""The worker's heartbeat: a daemon thread that touches the worker's row while the process lives."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time

from django.db import DatabaseError, connection
from django.utils import timezone

from exoderm.ops.models import WorkerHeartbeat

INTERVAL_SECONDS = 30


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Rows of workers gone this long are removed when a worker starts (each start is a new host:pid).
FORGET_AFTER = dt.timedelta(days=7)


def beat(*, worker: str) -> None:
    """Record that ``worker`` is alive now."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker=worker, defaults={"seen_at": now}, create_defaults={"seen_at": now, "started_at": now}
    )


def start(*, interval: float = INTERVAL_SECONDS) -> None:
    """Beat now and then every ``interval`` seconds in a daemon thread, for the life of the process.

    The first beat happens before this returns, so a worker that cannot reach the database fails at
    once instead of running unseen.
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
            except DatabaseError:
                pass
            finally:
                # the thread's own connection: closed after each beat, so that it never goes stale
                connection.close()

    threading.Thread(target=run, name="exoderm-heartbeat", daemon=True).start()
