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


class DutyTurn(models.Model):
    """When a periodic duty of the workers (e.g. re-queueing the analyses of dead workers) last ran.

    Every worker offers to do it; the one whose conditional update moves ``last_run_at`` forward
    takes the turn, so on any number of hosts it runs once per period, not once per worker.
    """

    name = models.CharField(max_length=100, unique=True)
    last_run_at = models.DateTimeField()
    last_worker = models.CharField(max_length=200, help_text="host:pid of the worker that took the turn")

    def __str__(self) -> str:
        return self.name
