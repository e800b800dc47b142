"""`exoderm manage purge_photo_trash`: erase the photos whose trash period is over."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from exoderm.photos.services import purge_expired


class Command(BaseCommand):
    help = (
        "Erase for good the photos that lay in the trash longer than PHOTO_TRASH_DAYS: their analyses, "
        "their row and, once that is committed, their file (photo_housekeeping does this too)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        purged = purge_expired()
        self.stdout.write(
            f"photos erased from the trash (older than {settings.PHOTO_TRASH_DAYS} days): {len(purged)}"
            + (f" ({', '.join(map(str, purged))})" if purged else "")
        )
