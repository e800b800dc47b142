"""Sending the outbox: claimed rows, leases, retries with backoff, and never twice.

**The guarantee.** Each message is handed to the mail server or SMS gateway at most once, and a
message is never lost without a trace: it ends ``sent``, ``failed`` (refused, or out of attempts),
``skipped`` (opted out) or, in the one case nobody can decide, ``unconfirmed``.

How, step by step (each step one short transaction on the row, locked with ``SELECT ... FOR
UPDATE`` on PostgreSQL and by SQLite's write lock, so that two workers never both win):

1. **Claim.** A worker takes a ``queued`` row that is due: ``sending``, a fresh ``claim_token``,
   its ``host:pid``, the task's id and ``lease_until`` (``MESSAGE_LEASE_SECONDS``, longer than the
   SMTP and gateway timeouts), ``attempts + 1``.
2. **Hand over.** Right before the step after which the message may be delivered (the final
   ``.`` of the SMTP DATA, the gateway's HTTP request; see :mod:`.channels`) the worker writes
   ``handed_over_at``, only if the claim is still its own (else it stops without sending).
3. **Result.** ``sent`` with the Message-ID or the gateway's reference; on a temporary failure
   ``queued`` again with ``not_before`` pushed back (``MESSAGE_RETRY_SECONDS`` doubled per attempt,
   at most 6 hours) or ``failed`` after ``MESSAGE_MAX_ATTEMPTS``; on a refusal ``failed``.

A worker killed (SIGKILL, power loss) leaves its row ``sending``. :func:`recover_stalled` finds it
once its process is gone (same host: the pid no longer exists) or its lease is over (other hosts):

- without ``handed_over_at`` nothing reached the server (an SMTP server drops a message whose
  DATA never ended): the row is ``queued`` again and sent by the next worker. **Not lost.**
- with ``handed_over_at`` the worker died in the window between giving the server the message
  and recording its answer (a few milliseconds: the server's reply and one UPDATE). The server
  may or may not have taken it, and nothing on our side can tell. The row becomes
  ``unconfirmed`` and is **not sent again by itself** (that could deliver it twice); the outbox
  page shows it, and staff resend it (:func:`exoderm.messaging.services.resend`) after checking.
  Sending twice would need that window *and* a second decision by a person.

The killed worker's task result stays RUNNING in django-tasks-db; recovery marks it FAILED with
:class:`WorkerLost`, as the photo analysis does. Recovery runs in every worker when it starts
sending (at most every ``RECOVERY_EVERY`` seconds) and in ``exoderm manage messaging_housekeeping``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exoderm.booking.models import AppointmentStatus
from exoderm.consent.documents import document_name, signed_pdf
from exoderm.consent.models import ConsentSignature
from exoderm.courses.models import VisitStatus
from exoderm.messaging import channels, sealing
from exoderm.messaging.models import (
    LINK_PLACEHOLDER,
    TRANSACTIONAL_KINDS,
    Channel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    appointment_stamp,
)
from exoderm.vault.cipher import DecryptionError

logger = logging.getLogger(__name__)

RECOVERY_EVERY = 30.0
CLAIM_FIELDS = ("status", "claim_token", "claimed_by", "claimed_task", "lease_until", "handed_over_at")
MAX_BACKOFF = dt.timedelta(hours=6)


class WorkerLost(Exception):
    """The worker process sending this message disappeared (killed, crashed, machine lost)."""


class ClaimLost(Exception):
    """Another worker took the message over (this one's lease ran out): stop without sending."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MESSAGE_LEASE_SECONDS)


def backoff(attempts: int) -> dt.timedelta:
    """The wait before attempt ``attempts + 1``: the retry time doubled per failed attempt."""
    return min(dt.timedelta(seconds=settings.MESSAGE_RETRY_SECONDS * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def enqueue(message_id: int, *, run_after: dt.datetime | None = None) -> None:
    """Queue the task that sends the message (at ``run_after`` at the earliest)."""
    from exoderm.messaging.tasks import send_message

    task = send_message.using(run_after=run_after) if run_after is not None else send_message
    task.enqueue(message_id)


def enqueue_on_commit(message_id: int, *, run_after: dt.datetime | None = None) -> None:
    transaction.on_commit(partial(enqueue, message_id, run_after=run_after))


def claim(message_id: int, *, task_id: str = "") -> OutboxMessage | None:
    """Take the message for this worker if it is queued and due; None if not (sent, taken, not due)."""
    now = timezone.now()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(of=("self",))
            .select_related("patient__identity", "intake")
            .filter(pk=message_id, status=MessageStatus.QUEUED, not_before__lte=now)
            .first()
        )
        if message is None:
            return None
        identity = getattr(message.patient, "identity", None)
        opted_out = identity is None or (
            message.kind not in TRANSACTIONAL_KINDS
            and (identity.email_opt_out if message.channel == Channel.EMAIL else identity.sms_opt_out)
        )
        reason = _no_longer_wanted(message, opted_out=opted_out)
        if reason:
            # the patient opted out, the record was restricted or the visit called off after queueing
            message.status, message.detail = MessageStatus.SKIPPED, reason
            message.save(update_fields=["status", "detail"])
            return None
        message.status = MessageStatus.SENDING
        message.claim_token = str(uuid.uuid4())
        message.claimed_by = worker_name()
        message.claimed_task = task_id
        message.lease_until = now + lease()
        message.handed_over_at = None
        message.attempts += 1
        message.save(update_fields=[*CLAIM_FIELDS, "attempts"])
    return message


def _no_longer_wanted(message: OutboxMessage, *, opted_out: bool) -> str:
    """Why a queued message must not go out any more, or ''."""
    if opted_out:
        return "opted out"
    if message.patient.restricted_at is not None:
        return "record restricted"
    if message.kind == MessageKind.VISIT_REMINDER:
        appointment, visit = message.appointment, message.visit
        if appointment is not None and appointment.status in {
            AppointmentStatus.ARRIVED,
            AppointmentStatus.COMPLETED,
        }:
            return "the patient has come already"
        if appointment is not None and appointment.status != AppointmentStatus.BOOKED:
            return "the appointment was cancelled"
        if appointment is not None and f":{appointment_stamp(appointment.starts_at)}:" not in message.key:
            return "the appointment was moved"
        if visit is not None and visit.status != VisitStatus.PLANNED:
            return "the visit is no longer planned"
    if message.kind == MessageKind.INTAKE_LINK and message.intake is not None:
        if message.intake.submitted_at is not None:
            return "the questionnaire was filled in already"
        if message.intake.expires_at <= timezone.now():
            return "the link has expired"
    return ""


def _outgoing(message: OutboxMessage) -> channels.Outgoing:
    """What leaves for ``message``: its text with the sealed link filled in, and the signed
    consent's PDF attached, both opened only now (:class:`channels.PermanentFailure` if they
    cannot be: a link that does not decrypt, a signature gone)."""
    body = message.body
    if message.sealed_link is not None:
        try:
            link = sealing.open_link(message.sealed_link, clinic_id=message.clinic_id, key=message.key)
        except DecryptionError as error:
            raise channels.PermanentFailure(f"the link cannot be decrypted: {error}") from error
        body = body.replace(LINK_PLACEHOLDER, link)
    attachments: tuple[channels.Attachment, ...] = ()
    if message.kind == MessageKind.SIGNED_CONSENT:
        signature = (
            ConsentSignature.objects.select_related("record__template")
            .filter(pk__in=[message.consent_signature_id])
            .first()
        )
        if signature is None:
            raise channels.PermanentFailure("the signed consent is no longer on record")
        attachments = (
            channels.Attachment(document_name(signature.record), signed_pdf(signature), "application/pdf"),
        )
    return channels.Outgoing(
        reference=f"exoderm-{message.pk}",
        recipient=message.recipient,
        subject=message.subject,
        body=body,
        attachments=attachments,
    )


def _update_claimed(message: OutboxMessage, **fields: object) -> bool:
    """Write ``fields`` on the row if this worker's claim still holds it; whether it did."""
    with transaction.atomic():
        current = (
            OutboxMessage.objects.select_for_update()
            .filter(pk=message.pk, status=MessageStatus.SENDING, claim_token=message.claim_token)
            .first()
        )
        if current is None:
            return False
        for name, value in fields.items():
            setattr(current, name, value)
        current.save(update_fields=list(fields))
    return True


def _finish(message: OutboxMessage, status: str, **fields: object) -> bool:
    return _update_claimed(message, status=status, claim_token="", lease_until=None, **fields)


def _retry_or_fail(message: OutboxMessage, detail: str) -> str:
    if message.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        _finish(message, MessageStatus.FAILED, detail=detail[:2000])
        return "failed"
    not_before = timezone.now() + backoff(message.attempts)
    with transaction.atomic():
        if _finish(
            message, MessageStatus.QUEUED, detail=detail[:2000], not_before=not_before, handed_over_at=None
        ):
            enqueue_on_commit(message.pk, run_after=not_before)
    return "retry"


def deliver(message_id: int, *, task_id: str = "") -> str:
    """Send one message if it is queued and due; returns what happened."""
    recover_now_and_then()
    message = claim(message_id, task_id=task_id)
    if message is None:
        return "nothing to send"
    handed_over = False

    def handing_over() -> None:
        nonlocal handed_over
        if not _update_claimed(message, handed_over_at=timezone.now()):
            raise ClaimLost
        handed_over = True

    try:
        outgoing = _outgoing(message)
        if message.channel == Channel.EMAIL:
            reference = channels.send_email(outgoing, handing_over)
        else:
            reference = channels.sms_gateway().send(outgoing, handing_over)
    except ClaimLost:
        return "taken over by another worker"
    except channels.TemporaryFailure as failure:
        return _retry_or_fail(message, str(failure))
    except channels.PermanentFailure as failure:
        _finish(message, MessageStatus.FAILED, detail=str(failure)[:2000])
        return "failed"
    except Exception as error:
        detail = f"{type(error).__name__}: {error}"
        if not handed_over:
            logger.warning("message %s: %s; it will be retried", message.pk, detail)
            return _retry_or_fail(message, detail)
        # the server had the message and the answer was lost: it may have been delivered
        logger.error("message %s: %s after handing it over; not sent again", message.pk, detail)
        _finish(
            message, MessageStatus.UNCONFIRMED, detail=f"no answer after handing it over: {detail}"[:2000]
        )
        return "unconfirmed"
    _finish(
        message, MessageStatus.SENT, sent_at=timezone.now(), provider_reference=reference[:200], detail=""
    )
    return "sent"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is starting another send, so it is not inside that one
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_alive(message: OutboxMessage, now: dt.datetime) -> bool:
    host, _sep, pid = message.claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return _pid_alive(int(pid))
    return message.lease_until is not None and now < message.lease_until


def _fail_lost_task(task_id: str, now: dt.datetime) -> None:
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    if not task_id:
        return
    DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=f"{__name__}.WorkerLost",
        traceback="WorkerLost: the worker process sending this message disappeared.\n",
    )


def recover_stalled() -> dict[str, list[int]]:
    """Rows left ``sending`` by a worker that is gone: queued again, or unconfirmed if handed over."""
    now = timezone.now()
    outcome: dict[str, list[int]] = {"queued": [], "unconfirmed": []}
    for message in OutboxMessage.objects.filter(status=MessageStatus.SENDING):
        if _holder_alive(message, now):
            continue
        with transaction.atomic():
            current = (
                OutboxMessage.objects.select_for_update()
                .filter(pk=message.pk, status=MessageStatus.SENDING, claim_token=message.claim_token)
                .first()
            )
            if current is None:
                continue
            if current.handed_over_at is not None:
                current.status = MessageStatus.UNCONFIRMED
                current.detail = (
                    "the worker stopped after handing the message over: it may have been delivered, "
                    "so it is not sent again by itself"
                )
                outcome["unconfirmed"].append(current.pk)
            else:
                current.status = MessageStatus.QUEUED
                current.not_before = now
                current.detail = "the worker sending it stopped before handing it over; queued again"
                enqueue_on_commit(current.pk)
                outcome["queued"].append(current.pk)
            current.claim_token = ""
            current.lease_until = None
            current.save(update_fields=["status", "detail", "not_before", "claim_token", "lease_until"])
            _fail_lost_task(current.claimed_task, now)
    if outcome["queued"] or outcome["unconfirmed"]:
        logger.warning("messages left by a lost worker: %s", outcome)
    return outcome


def dispatch_due(*, overdue: dt.timedelta = dt.timedelta(minutes=2)) -> list[int]:
    """Queue a send task for every queued message overdue by ``overdue``: its task was lost (a
    database restored, a queue emptied). A task too many finds the message taken and does nothing."""
    ids = list(
        OutboxMessage.objects.filter(
            status=MessageStatus.QUEUED, not_before__lte=timezone.now() - overdue
        ).values_list("pk", flat=True)[:1000]
    )
    for message_id in ids:
        enqueue(message_id)
    return ids


_last_recovery = -RECOVERY_EVERY


def recover_now_and_then() -> None:
    global _last_recovery
    if time.monotonic() - _last_recovery < RECOVERY_EVERY:
        return
    _last_recovery = time.monotonic()
    try:
        recover_stalled()
    except Exception:  # a failing recovery must never keep this worker from sending
        logger.exception("recovering stalled messages failed")
