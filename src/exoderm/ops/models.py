"""What the operator needs to know about the running processes, kept in the database that all hosts share."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """A task worker's sign of life: one row per worker process, touched while it runs.

    Kept in the database rather than in a process or on a host, so that the readiness check of any
    application host sees the workers of every other host.
    """

    worker = models.CharField(max_length=200, unique=True, help_text="host:pid of the worker process")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.worker
