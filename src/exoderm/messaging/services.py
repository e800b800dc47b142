"""Writes of the messaging app: queueing messages, the clinic's templates, opt-outs, bounces,
resending, recall notices. Sending is :mod:`.delivery`; what is queued when is :mod:`.producers`."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from exoderm.booking.models import Appointment
from exoderm.clinics.models import Clinic, User
from exoderm.consent.models import ConsentSignature
from exoderm.core.permissions import Action, require
from exoderm.courses.models import Visit
from exoderm.messaging import sealing, wording
from exoderm.messaging.delivery import enqueue_on_commit
from exoderm.messaging.models import (
    TEMPLATE_KINDS,
    TRANSACTIONAL_KINDS,
    Channel,
    MessageKind,
    MessageStatus,
    MessageTemplate,
    OutboxMessage,
)
from exoderm.patients.models import Intake, Patient, PatientIdentity
from exoderm.products.models import Lot, LotStatus
from exoderm.treatments.models import TreatmentSession

#: Kinds sent on one channel only: the e-mail if the patient has an address, else the SMS (the
#: aftercare instructions are long; an SMS repeating them would only add noise).
ONE_CHANNEL_KINDS = frozenset({MessageKind.AFTERCARE_MICRONEEDLING, MessageKind.AFTERCARE_LASER})


def wording_for(*, clinic: Clinic, kind: str, channel: str, language: str) -> wording.Wording:
    """The clinic's own wording if it has one, else the built-in one."""
    own = MessageTemplate.objects.filter(clinic=clinic, kind=kind, channel=channel, language=language).first()
    if own is not None:
        return wording.Wording(own.subject, own.body)
    return wording.default_wording(kind, channel, language)


def values_for(
    *, identity: PatientIdentity, clinic: Clinic, at: dt.datetime | dt.date | None
) -> dict[str, str]:
    """What the placeholders stand for, worded in the patient's language on the clinic's clock."""
    values = {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "clinic_name": clinic.name,
    }
    with translation.override(identity.language):
        if isinstance(at, dt.datetime):
            local = timezone.localtime(at, zoneinfo.ZoneInfo(clinic.time_zone))
            values["date"] = formats.date_format(local.date(), "SHORT_DATE_FORMAT")
            values["time"] = formats.time_format(local.time(), "TIME_FORMAT")
        elif isinstance(at, dt.date):
            values["date"] = formats.date_format(at, "SHORT_DATE_FORMAT")
    return values


def _create(message: OutboxMessage) -> OutboxMessage:
    """Insert once per key: a concurrent producer's row wins and is returned instead."""
    message.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        return OutboxMessage.objects.get(key=message.key)
    if message.status == MessageStatus.QUEUED:
        enqueue_on_commit(message.pk)
    return message


@transaction.atomic
def queue_for_patient(
    *,
    patient: Patient,
    kind: str,
    about: str,
    at: dt.datetime | dt.date | None,
    visit: Visit | None = None,
    session: TreatmentSession | None = None,
    lot: Lot | None = None,
    appointment: Appointment | None = None,
    by: User | None = None,
) -> list[OutboxMessage]:
    """Queue message ``kind`` to ``patient`` on each channel the patient can be reached on.

    ``about`` names its subject (``visit:12``, ``session:7``, ``lot:3``): with the kind, the
    patient and the channel it is the message's unique key, so calling this again creates
    nothing. A channel the patient opted out of gets a ``skipped`` row (the outbox shows why
    nobody was told); a patient with neither address gets one ``skipped`` e-mail row.
    """
    clinic = patient.clinic
    identity = PatientIdentity.objects.filter(patient=patient).first()
    if identity is None or patient.restricted_at is not None:
        return []
    reachable = [
        (Channel.EMAIL, identity.email, identity.email_opt_out),
        (Channel.SMS, identity.phone, identity.sms_opt_out),
    ]
    candidates = [(channel, address, out) for channel, address, out in reachable if address]
    if kind in ONE_CHANNEL_KINDS:
        usable = [c for c in candidates if not c[2]]
        candidates = usable[:1] or candidates[:1]
    values = values_for(identity=identity, clinic=clinic, at=at)
    now = timezone.now()
    messages = []
    for channel, address, opted_out in candidates or [(Channel.EMAIL, "", False)]:
        text = wording_for(clinic=clinic, kind=kind, channel=channel, language=identity.language)
        status, detail = MessageStatus.QUEUED, ""
        if not address:
            status, detail = MessageStatus.SKIPPED, "no e-mail address or phone number"
        elif opted_out:
            status, detail = MessageStatus.SKIPPED, "opted out"
        messages.append(
            _create(
                OutboxMessage(
                    clinic=clinic,
                    patient=patient,
                    kind=kind,
                    channel=channel,
                    language=identity.language,
                    key=f"{kind}:{about}:{patient.pk}:{channel}",
                    recipient=address,
                    subject=wording.fill(text.subject, values) if channel == Channel.EMAIL else "",
                    body=wording.fill(text.body, values),
                    status=status,
                    detail=detail,
                    not_before=now,
                    visit=visit,
                    session=session,
                    lot=lot,
                    appointment=appointment,
                    created_by=by,
                )
            )
        )
    return messages


def _check_template_key(kind: str, channel: str, language: str) -> None:
    if kind not in TEMPLATE_KINDS or channel not in Channel.values or language not in ("de", "en"):
        raise ValidationError(_("No such message template."))


@transaction.atomic
def save_template(
    *, clinic: Clinic, kind: str, channel: str, language: str, subject: str, body: str, by: User
) -> MessageTemplate:
    """The clinic's own wording of one message; checked as :func:`wording.check_wording` says."""
    require(by, Action.MANAGE_CLINIC)
    _check_template_key(kind, channel, language)
    subject = subject.strip() if channel == Channel.EMAIL else ""
    wording.check_wording(channel=channel, subject=subject, body=body)
    template = MessageTemplate.objects.select_for_update().filter(
        clinic=clinic, kind=kind, channel=channel, language=language
    ).first() or MessageTemplate(clinic=clinic, kind=kind, channel=channel, language=language)
    template.subject, template.body, template.updated_by = subject, body.strip(), by
    template.full_clean()
    template.save()
    return template


@transaction.atomic
def reset_template(*, clinic: Clinic, kind: str, channel: str, language: str, by: User) -> None:
    """Back to the built-in wording."""
    require(by, Action.MANAGE_CLINIC)
    _check_template_key(kind, channel, language)
    for template in MessageTemplate.objects.filter(
        clinic=clinic, kind=kind, channel=channel, language=language
    ):
        template.delete()


@transaction.atomic
def set_opt_out(*, patient: Patient, email: bool, sms: bool, by: User) -> PatientIdentity:
    """Record which channels the patient does not want messages on; queued ones are then skipped."""
    require(by, Action.EDIT_PATIENT)
    identity = PatientIdentity.objects.select_for_update().get(patient=patient)
    identity.email_opt_out, identity.sms_opt_out = email, sms
    identity.save(update_fields=["email_opt_out", "sms_opt_out"])
    return identity


@transaction.atomic
def mark_bounced(*, message: OutboxMessage, reason: str, by: User | None = None) -> OutboxMessage:
    """A sent message came back (a bounce report, a gateway's delivery failure): recorded with why."""
    if by is not None:
        require(by, Action.VIEW_IDENTITY)
    locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
    if locked.status not in (MessageStatus.SENT, MessageStatus.UNCONFIRMED, MessageStatus.BOUNCED):
        raise ValidationError(_("Only a sent message can bounce."))
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason the message came back.")})
    locked.status, locked.detail = MessageStatus.BOUNCED, reason.strip()[:2000]
    locked.save(update_fields=["status", "detail"])
    return locked


RESENDABLE = (MessageStatus.UNCONFIRMED, MessageStatus.FAILED, MessageStatus.BOUNCED)


def resend_recipient(message: OutboxMessage) -> str:
    """The address :func:`resend` sends ``message`` to: the patient's current one on its channel
    (a corrected address is used), else the one it went to before."""
    identity = getattr(message.patient, "identity", None)
    if identity is None:
        return message.recipient
    return identity.email if message.channel == Channel.EMAIL else identity.phone


@transaction.atomic
def resend(*, message: OutboxMessage, by: User) -> OutboxMessage:
    """Queue an unconfirmed, failed or bounced message again, on a person's decision.

    An unconfirmed message may have arrived already (see :mod:`.delivery`): resending it is the
    one way a message can go out twice, and only a person can choose it.
    """
    require(by, Action.VIEW_IDENTITY)
    locked = (
        OutboxMessage.objects.select_for_update(of=("self",))
        .select_related("patient__identity")
        .get(pk=message.pk)
    )
    if locked.status not in RESENDABLE:
        raise ValidationError(_("Only an unconfirmed, failed or bounced message can be sent again."))
    identity = getattr(locked.patient, "identity", None)
    if identity is not None and (
        identity.email_opt_out if locked.channel == Channel.EMAIL else identity.sms_opt_out
    ):
        raise ValidationError(_("The patient wants no messages on this channel."))
    locked.recipient = resend_recipient(locked)
    if not locked.recipient:
        raise ValidationError(_("The patient has no address for this channel."))
    locked.status, locked.attempts, locked.not_before = MessageStatus.QUEUED, 0, timezone.now()
    locked.detail = _("sent again by %(user)s") % {"user": by.get_username()}
    locked.handed_over_at = None
    locked.save(update_fields=["status", "attempts", "not_before", "detail", "handed_over_at", "recipient"])
    enqueue_on_commit(locked.pk)
    return locked


@transaction.atomic
def queue_recall_notices(*, lot: Lot, by: User) -> list[OutboxMessage]:
    """A recall notice to every patient who received the recalled ``lot`` (once per patient and
    channel, however often this runs); each row records what became of it."""
    from exoderm.treatments.recall import affected_by_lot

    require(by, Action.VIEW_IDENTITY)
    if lot.status != LotStatus.RECALLED:
        raise ValidationError(_("Only a recalled lot's patients get a recall notice."))
    first_session: dict[int, dt.datetime] = {}
    for row in affected_by_lot(lot):
        if not row.restricted and row.patient_id not in first_session:
            first_session[row.patient_id] = row.performed_at
    patients = Patient.objects.select_related("clinic").in_bulk(first_session)
    messages: list[OutboxMessage] = []
    for patient_id, performed_at in first_session.items():
        messages += queue_for_patient(
            patient=patients[patient_id],
            kind=MessageKind.RECALL_NOTICE,
            about=f"lot:{lot.pk}",
            at=performed_at,
            lot=lot,
            by=by,
        )
    return messages


@transaction.atomic
def queue_requested_email(
    *,
    patient: Patient,
    kind: str,
    about: str,
    subject: str,
    body: str,
    by: User,
    consent_signature: ConsentSignature | None = None,
    intake: Intake | None = None,
    link: str = "",
) -> OutboxMessage:
    """Queue an e-mail the patient asked for (:data:`TRANSACTIONAL_KINDS`), worded by the caller.

    Sent by the worker like every message (retried, never twice, recorded in the outbox), but
    despite an e-mail opt-out: the patient asks for this one now. ``consent_signature`` attaches
    that signature's PDF, rendered when the message is sent; ``link`` is sealed
    (:mod:`.sealing`) and takes the place of :data:`LINK_PLACEHOLDER` in ``body`` only then.
    While the same thing waits to be sent (queued or sending), asking again returns that message
    rather than queueing a second one (a double click sends one e-mail).
    """
    if kind not in TRANSACTIONAL_KINDS:
        raise ValidationError(_("Only a message the patient asked for is queued this way."))
    identity = PatientIdentity.objects.filter(patient=patient).first()
    if identity is None or patient.restricted_at is not None:
        raise ValidationError(_("No message can be sent for this record."))
    if not identity.email:
        raise ValidationError({"email": _("The patient has no e-mail address.")})
    waiting = OutboxMessage.objects.filter(
        patient=patient,
        kind=kind,
        key__startswith=f"{kind}:{about}:",
        status__in=(MessageStatus.QUEUED, MessageStatus.SENDING),
    ).first()
    if waiting is not None:
        return waiting
    # one message per request: the patient may ask for the same document again later
    key = f"{kind}:{about}:{patient.pk}:{Channel.EMAIL}:{uuid.uuid4().hex[:12]}"
    message = OutboxMessage(
        clinic=patient.clinic,
        patient=patient,
        kind=kind,
        channel=Channel.EMAIL,
        language=identity.language,
        key=key,
        recipient=identity.email,
        subject=subject,
        body=body,
        not_before=timezone.now(),
        consent_signature=consent_signature,
        intake=intake,
        sealed_link=sealing.seal_link(link, clinic_id=patient.clinic_id, key=key) if link else None,
        created_by=by,
    )
    return _create(message)
