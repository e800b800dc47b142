"""`exoderm manage photo_housekeeping`: re-queue analyses of dead workers, remove upload leftovers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from exoderm.photos.services import STALE_FILE_SECONDS, sweep_storage
from exoderm.photos.tasks import recover_stalled


class Command(BaseCommand):
    help = (
        "Queue again the photo analyses whose worker died, and remove temporary upload files and "
        "stored files without a database row (left by a killed upload) older than --older-than seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=STALE_FILE_SECONDS)

    def handle(self, *args: Any, older_than: float, **options: Any) -> None:
        recovered = recover_stalled()
        swept = sweep_storage(older_than_seconds=older_than)
        self.stdout.write(
            f"analyses queued again: {len(recovered)}; temporary files removed: {swept['temporary']}; "
            f"orphan files removed: {swept['orphans']}"
        )
