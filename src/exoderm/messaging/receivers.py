"""What the messaging app does when other apps' records change, without those apps knowing it.

An erasure request (:mod:`exoderm.patients.erasure`) erases the patient's contact details at once
and restricts the record. The outbox holds copies of those details (the address a message went to,
the name in its text), so they go too: the rows stay, with kind, channel, status and times, as the
record of what was sent, and nothing still queued goes out.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from exoderm.messaging.models import MessageStatus, OutboxMessage


def erase_copies_on_restriction(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """``post_save`` of a patient: once the record is restricted, blank its messages' contents."""
    if instance.restricted_at is None or (update_fields is not None and "restricted_at" not in update_fields):
        return
    with transaction.atomic():
        messages = OutboxMessage.objects.filter(patient_id=instance.pk)
        messages.filter(status=MessageStatus.QUEUED).update(
            status=MessageStatus.SKIPPED, detail="record restricted"
        )
        # a bulk update: these columns are never written to the audit trail (audit.recording.ERASABLE)
        messages.update(recipient="", subject="", body="")
