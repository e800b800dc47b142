"""Prometheus metrics: requests measured in each process, queue and analyses read from the database.

Request counts and latencies are measured where they happen, per route pattern (never the raw path:
one time series per page, not one per patient). With several server processes on a host, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory that all of them share (prometheus-client's
multiprocess mode), so that one scrape sees them all. Queue depth and age, analyses per minute,
failed tasks and live workers are read from the database at scrape time: they are the group's,
the same whichever host answers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from exoderm.ops.health import WORKER_STALE_AFTER
from exoderm.ops.models import WorkerHeartbeat

REQUEST_SECONDS = Histogram(
    "exoderm_http_request_duration_seconds",
    "Time from the request's arrival at Django to its response, by route pattern, method and status.",
    ["route", "method", "status"],
    # the page budget is 150 ms and the load test's limit 300 ms: both are bucket edges
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class DatabaseCollector(Collector):
    """What the shared database says about the background work, at the moment of the scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        tasks = GaugeMetricFamily(
            "exoderm_tasks", "Tasks in the database by queue and status.", labels=["queue", "status"]
        )
        for row in DBTaskResult.objects.values("queue_name", "status").annotate(n=Count("id")).order_by():
            tasks.add_metric([row["queue_name"], row["status"]], row["n"])
        yield tasks

        oldest = GaugeMetricFamily(
            "exoderm_task_queue_oldest_seconds",
            "Age of the oldest task waiting to run (0 when none waits), by queue.",
            labels=["queue"],
        )
        waiting = (
            DBTaskResult.objects.ready()
            .filter(run_after__lte=now)
            .values("queue_name")
            .annotate(since=Min("enqueued_at"))
            .order_by()
        )
        for queue, since in waiting.values_list("queue_name", "since"):
            oldest.add_metric([queue], (now - since).total_seconds())
        yield oldest

        hour_ago = now - dt.timedelta(hours=1)
        yield GaugeMetricFamily(
            "exoderm_tasks_failed_last_hour",
            "Tasks that ended in failure within the last hour.",
            value=DBTaskResult.objects.failed().filter(finished_at__gte=hour_ago).count(),
        )

        from exoderm.photos.models import Analysis

        yield GaugeMetricFamily(
            "exoderm_analyses_last_minute",
            "Photo analyses stored within the last minute.",
            value=Analysis.objects.filter(created_at__gte=now - dt.timedelta(minutes=1)).count(),
        )
        yield from _reanalysis_metrics(now)
        yield GaugeMetricFamily(
            "exoderm_workers_alive",
            "Task workers whose heartbeat is recent.",
            value=WorkerHeartbeat.objects.filter(seen_at__gte=now - WORKER_STALE_AFTER).count(),
        )


def _reanalysis_metrics(now: dt.datetime) -> Iterator[Metric]:
    """Each open re-analysis's photos by state and its rate (a bounded count per run, see the selector)."""
    from exoderm.photos.selectors import open_reanalyses, reanalysis_progress

    photos = GaugeMetricFamily(
        "exoderm_reanalysis_photos",
        "Photos of each open re-analysis by state (total, done, queued, failed, not_queued).",
        labels=["run", "engine_version", "state"],
    )
    rate = GaugeMetricFamily(
        "exoderm_reanalysis_photos_per_minute",
        "Photos of each open re-analysis analysed per minute over the last minutes.",
        labels=["run", "engine_version"],
    )
    for run in open_reanalyses():
        progress = reanalysis_progress(run, now=now)
        labels = [str(run.pk), run.engine_version]
        for state in ("total", "done", "queued", "failed", "not_queued"):
            photos.add_metric([*labels, state], getattr(progress, state))
        rate.add_metric(labels, progress.per_minute)
    yield photos
    yield rate


def exposition() -> bytes:
    """The text format for one scrape: this host's processes and the database's view."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class _ProcessMetrics(Collector):
    """The metrics of this process (its request histogram, Python's and the process's own)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
