"""`exoderm manage records_housekeeping`: erase restricted records whose retention period is over."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from exoderm.patients.erasure import erase_expired_records


class Command(BaseCommand):
    help = (
        "Erase for good the records restricted by an erasure request whose retention period "
        "(RECORD_RETENTION_YEARS after the last session or visit) is over. Exits non-zero if a "
        "record could not be erased; it stays restricted and the next run tries again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = erase_expired_records()
        self.stdout.write(
            f"records erased: {len(result.erased)}; "
            f"restricted records still within retention: {result.kept}; failed: {len(result.failed)}"
        )
        for code in result.erased:
            self.stdout.write(f"erased {code}")
        if result.failed:
            for code, error in result.failed.items():
                self.stderr.write(f"could not erase {code}: {error}")
            raise CommandError(f"{len(result.failed)} record(s) could not be erased")
