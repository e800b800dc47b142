"""`exoderm manage messaging_housekeeping`: queue the messages that are due (reminders, aftercare,
check-ins, follow-up invitations), recover messages of lost workers, re-send overdue tasks.

Run it every few minutes (cron, a systemd timer); the worker sends what it queues."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from exoderm.messaging.tasks import housekeeping


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(housekeeping(), sort_keys=True))
