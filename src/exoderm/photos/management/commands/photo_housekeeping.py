"""`exoderm manage photo_housekeeping`: re-queue analyses of dead workers, erase photos whose trash
period is over, remove upload leftovers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from exoderm.photos.services import STALE_FILE_SECONDS, purge_expired, sweep_storage
from exoderm.photos.tasks import recover_stalled


class Command(BaseCommand):
    help = (
        "Queue again the photo analyses whose worker died, erase the photos that lay in the trash longer "
        "than PHOTO_TRASH_DAYS, and remove temporary upload files and "
        "stored files without a database row (left by a killed upload) older than --older-than seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=STALE_FILE_SECONDS)

    def handle(self, *args: Any, older_than: float, **options: Any) -> None:
        recovered = recover_stalled()
        purged = purge_expired()
        swept = sweep_storage(older_than_seconds=older_than)
        self.stdout.write(
            f"analyses queued again: {len(recovered)}; photos erased from the trash: {len(purged)}; "
            f"temporary files removed: {swept['temporary']}; "
            f"orphan files removed: {swept['orphans']}; stale overlays removed: {swept['stale_overlays']}"
        )
