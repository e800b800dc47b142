"""`exoderm manage reanalyze`: analyse every stored photo that has no result of the current engine
version, across all workers, as a resumable run (:class:`~exoderm.photos.models.Reanalysis`)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exoderm.clinics.models import Clinic
from exoderm.photos.selectors import ReanalysisProgress, reanalysis_progress
from exoderm.photos.services import start_reanalysis
from exoderm.photos.tasks import REANALYSIS_CHUNK, queue_reanalysis, recover_stalled


class Command(BaseCommand):
    help = (
        "Re-analyse the stored photos (all clinics, or --clinic) with the current skinlab version: "
        "starts a run, or resumes the open one where its queuing stopped (a photo already queued or "
        "analysed is never queued again), and queues the photos in chunks (one transaction each) for "
        "the workers. With --wait, prints the progress until every photo is analysed or failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=REANALYSIS_CHUNK, help="photos per transaction")
        parser.add_argument("--clinic", type=int, help="only this clinic's photos (id)")
        parser.add_argument("--wait", action="store_true", help="wait for the workers, printing progress")
        parser.add_argument("--poll", type=float, default=5.0, help="seconds between progress lines")

    def handle(
        self, *args: Any, chunk: int, clinic: int | None, wait: bool, poll: float, **options: Any
    ) -> None:
        scope = None
        if clinic is not None:
            scope = Clinic.objects.filter(pk=clinic).first()
            if scope is None:
                raise CommandError(f"no clinic with the id {clinic}")
        recover_stalled()
        run, new = start_reanalysis(clinic=scope, by=None)
        self.stdout.write(
            f"{'started' if new else 'resuming'} re-analysis {run.pk} by skinlab {run.engine_version}: "
            f"photos up to id {run.last_photo_id}, queued up to id {run.queued_up_to}"
        )
        started = time.monotonic()
        queued = queue_reanalysis(run=run, chunk=chunk)
        self.stdout.write(f"queued {queued} photo(s) in {time.monotonic() - started:.1f} s")
        progress = reanalysis_progress(run)
        self.stdout.write(describe(progress))
        while wait and not progress.complete:
            time.sleep(poll)
            recover_stalled()
            progress = reanalysis_progress(run)
            self.stdout.write(describe(progress))
        if wait:
            self.stdout.write(self.style.SUCCESS("done"))


def describe(progress: ReanalysisProgress) -> str:
    """One line of progress for the operator's terminal."""
    left = progress.seconds_left
    return (
        f"{progress.done}/{progress.total} analysed, {progress.queued} queued, {progress.failed} failed, "
        f"{progress.not_queued} not queued yet, {progress.per_minute:.1f}/min, "
        f"{'time left unknown' if left is None else f'{left / 60:.1f} min left'}"
    )
