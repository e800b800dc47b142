"""`exoderm manage expire_lots`: the daily job that marks lots past their expiry date expired."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from exoderm.products.services import mark_expired_lots


class Command(BaseCommand):
    help = "Mark quarantined or released lots past their expiry date (clinic time) as expired."

    def handle(self, *args: Any, **options: Any) -> None:
        count = mark_expired_lots()
        self.stdout.write(f"{count} lot(s) expired.")
