"""`exoderm manage reanalyze`: analyse every photo that has no result of the current engine version."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.tasks import TaskResultStatus

from exoderm.photos.engine import current_version
from exoderm.photos.models import Analysis, AnalysisStatus, Photo
from exoderm.photos.services import mark_queued
from exoderm.photos.tasks import enqueue_analysis, recover_stalled


class Command(BaseCommand):
    help = (
        "Queue the analysis of every photo without a result of the current skinlab version, in chunks "
        "(one transaction each). With --wait, each chunk is finished by the workers before the next is "
        "queued, and progress is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=200, help="photos per chunk (default 200)")
        parser.add_argument("--clinic", type=int, help="only this clinic's photos (id)")
        parser.add_argument("--wait", action="store_true", help="wait for each chunk to be analysed")
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between progress checks")

    def handle(
        self, *args: Any, chunk: int, clinic: int | None, wait: bool, poll: float, **options: Any
    ) -> None:
        from django_tasks_db.models import DBTaskResult

        version = current_version()
        recover_stalled()
        pending = DBTaskResult.objects.filter(
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
        ).values_list("id", flat=True)
        queued = {str(task_id) for task_id in pending}
        todo = Photo.objects.exclude(
            pk__in=Analysis.objects.filter(engine_version=version).values("photo_id")
        ).order_by("pk")
        if clinic is not None:
            todo = todo.filter(clinic_id=clinic)
        # a photo whose task is still waiting or running is not queued a second time
        missing = list(todo.values_list("pk", "analysis_task_id"))
        ids = [pk for pk, task_id in missing if task_id not in queued]
        self.stdout.write(
            f"skinlab {version}: {len(missing)} photo(s) without a result, "
            f"{len(missing) - len(ids)} of them already queued"
        )
        for start in range(0, len(ids), max(1, chunk)):
            part = ids[start : start + chunk]
            with transaction.atomic():
                mark_queued(part)
                for photo_id in part:
                    enqueue_analysis(photo_id)
            self.stdout.write(f"queued {start + len(part)}/{len(ids)}")
            if wait:
                self._wait(part, version, poll)
        if wait:
            self._wait([pk for pk, _task in missing], version, poll)  # the ones queued before, too
            self.stdout.write(self.style.SUCCESS("done"))

    def _wait(self, part: list[int], version: str, poll: float) -> None:
        while True:
            done = set(
                Analysis.objects.filter(photo_id__in=part, engine_version=version).values_list(
                    "photo_id", flat=True
                )
            )
            failed = (
                set(
                    Photo.objects.filter(pk__in=part, analysis_status=AnalysisStatus.FAILED).values_list(
                        "pk", flat=True
                    )
                )
                - done
            )
            waiting = len(part) - len(done) - len(failed)
            self.stdout.write(f"  {len(done)} analysed, {len(failed)} failed, {waiting} waiting")
            if not waiting:
                return
            time.sleep(poll)
            recover_stalled()
