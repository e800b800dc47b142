"""Demo data of the messaging app: a fortnight of messages in the outbox, sent by the console backends."""

from __future__ import annotations

import datetime as dt
import logging

from django.test.utils import override_settings
from django.utils import timezone

from exoderm.clinics.models import Clinic
from exoderm.messaging import delivery, producers
from exoderm.messaging.models import Channel, MessageStatus, OutboxMessage

DEMO_DAYS = 14
_MEMORY_MAILER = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def seed_outbox(*, clinic: Clinic, now: dt.datetime | None = None) -> int:
    """Run the producers once a day over the last fortnight, as the periodic task would have, and
    send what they queued: e-mails into memory, SMS to the log (the demo needs no SMTP server and
    never writes to a real address, whatever ``EMAIL_HOST`` says). One e-mail bounced. Returns the
    number of messages; seeding a clinic that has messages already adds none."""
    if OutboxMessage.objects.filter(clinic=clinic).exists():
        return 0
    now = now or timezone.now()
    quiet = logging.getLogger("exoderm.messaging.channels")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # forty patients' SMS would flood the demo's console
    try:
        with override_settings(MAILERS=_MEMORY_MAILER, SMS_BACKEND="console", SMS_FILE=""):
            for day in range(DEMO_DAYS, -1, -1):
                at = now - dt.timedelta(days=day)
                before = set(OutboxMessage.objects.filter(clinic=clinic).values_list("pk", flat=True))
                producers.run_producers(now=at)
                new = OutboxMessage.objects.filter(clinic=clinic).exclude(pk__in=before)
                new.update(created_at=at, not_before=at)
                for message_id in new.filter(status=MessageStatus.QUEUED).values_list("pk", flat=True):
                    delivery.deliver(message_id)
                new.filter(status=MessageStatus.SENT).update(sent_at=at + dt.timedelta(minutes=1))
    finally:
        quiet.setLevel(level)
    bounced = OutboxMessage.objects.filter(
        clinic=clinic, channel=Channel.EMAIL, status=MessageStatus.SENT
    ).first()
    if bounced is not None:
        OutboxMessage.objects.filter(pk=bounced.pk).update(
            status=MessageStatus.BOUNCED, detail="550 5.1.1 mailbox unavailable (a demo bounce)"
        )
    return OutboxMessage.objects.filter(clinic=clinic).count()
