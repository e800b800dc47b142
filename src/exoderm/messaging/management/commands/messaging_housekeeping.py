"""`exoderm manage messaging_housekeeping`: queue the messages that are due (reminders, aftercare,
check-ins, follow-up invitations), recover messages of lost workers, re-send overdue tasks.

`exoderm worker` schedules it as a task that runs every ``MESSAGE_HOUSEKEEPING_MINUTES``; run the
command from cron instead where no worker runs all the time. ``--schedule`` only makes sure the
periodic task is queued."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from exoderm.messaging.tasks import housekeeping, schedule_housekeeping


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule", action="store_true", help="only queue the periodic task (now) unless it is queued"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["schedule"]:
            from django.utils import timezone

            queued = schedule_housekeeping(at=timezone.now())
            self.stdout.write(
                f"messaging housekeeping: queued, then every {settings.MESSAGE_HOUSEKEEPING_MINUTES} minutes"
                if queued
                else "messaging housekeeping: already queued"
            )
            return
        self.stdout.write(json.dumps(housekeeping(), sort_keys=True))
