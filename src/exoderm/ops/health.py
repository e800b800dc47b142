"""Liveness and readiness: what `/healthz` and `/readyz` answer.

Readiness asks what a load balancer and the operator at 3 a.m. need to know: can this process serve
requests right now (the database answers, every migration is applied, the photo store takes a
write), and is anyone doing the background work (a worker's heartbeat is recent)? Each check says
``ok`` or what is wrong in one line, without paths, hosts or patient data.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from exoderm.ops.heartbeat import INTERVAL_SECONDS
from exoderm.ops.models import WorkerHeartbeat

# Three missed beats: a worker busy with one long analysis still beats (its own thread).
WORKER_STALE_AFTER = dt.timedelta(seconds=3 * INTERVAL_SECONDS)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return Check("database", False, f"unreachable: {type(error).__name__}")
    return Check("database", True, "ok")


def _migrations() -> Check:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return Check("migrations", False, f"not readable: {type(error).__name__}")
    if pending:
        return Check("migrations", False, f"{len(pending)} not applied")
    return Check("migrations", True, "ok")


def _storage() -> Check:
    root = Path(settings.MEDIA_ROOT)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".readyz-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as error:
        return Check("storage", False, f"not writable: {error.strerror or type(error).__name__}")
    return Check("storage", True, "ok")


def _worker() -> Check:
    try:
        last = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    except DatabaseError as error:
        return Check("worker", False, f"not readable: {type(error).__name__}")
    if last is None:
        return Check("worker", False, "no worker has run")
    age = timezone.now() - last
    if age > WORKER_STALE_AFTER:
        return Check("worker", False, f"last heartbeat {int(age.total_seconds())} s ago")
    return Check("worker", True, "ok")


def readiness() -> list[Check]:
    """Every check, in a fixed order; a failed database makes the later checks fail with their reason."""
    return [_database(), _migrations(), _storage(), _worker()]
