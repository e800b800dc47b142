"""Messages to patients: the outbox, resending and bounces, message templates with a preview,
patients' message preferences (opt-outs), recall notices.

Mounted at /api/v1/. The outbox names patients and their addresses: clinical staff only; the
templates are the clinic administrator's.
"""

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from exoderm.api.courses import current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.types import Id, Note, Text
from exoderm.core.permissions import Action
from exoderm.messaging import selectors, services
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.patients import selectors as patient_selectors
from exoderm.products import selectors as product_selectors

router = Router(tags=["messages"])

KindName = Literal[
    "visit_reminder",
    "aftercare_microneedling",
    "aftercare_laser",
    "check_in",
    "follow_up_invitation",
    "recall_notice",
]
ChannelName = Literal["email", "sms"]
LanguageName = Literal["de", "en"]
StatusName = Literal["queued", "sending", "sent", "failed", "bounced", "unconfirmed", "skipped"]


class MessageOut(Schema):
    id: int
    patient: int
    kind: str
    channel: str
    language: str
    recipient: str
    subject: str
    body: str
    status: str
    detail: str
    attempts: int
    created_at: dt.datetime
    not_before: dt.datetime
    sent_at: dt.datetime | None
    provider_reference: str
    visit: int | None
    session: int | None
    lot: int | None

    @staticmethod
    def resolve_patient(obj: OutboxMessage) -> int:
        return obj.patient_id

    @staticmethod
    def resolve_visit(obj: OutboxMessage) -> int | None:
        return obj.visit_id

    @staticmethod
    def resolve_session(obj: OutboxMessage) -> int | None:
        return obj.session_id

    @staticmethod
    def resolve_lot(obj: OutboxMessage) -> int | None:
        return obj.lot_id


class BounceIn(Schema):
    reason: Note


class TemplateKeyIn(Schema):
    kind: KindName
    channel: ChannelName
    language: LanguageName


class TemplateIn(TemplateKeyIn):
    subject: Text = ""
    body: Note


class TemplateOut(Schema):
    kind: str
    channel: str
    language: str
    subject: str
    body: str
    customised: bool


class PreviewIn(Schema):
    channel: ChannelName
    subject: Text = ""
    body: Note


class PreviewOut(Schema):
    subject: str
    body: str
    unknown_placeholders: list[str]


class PreferencesIO(Schema):
    email_opt_out: bool
    sms_opt_out: bool


@router.get("/messages", response=list[MessageOut])
@paginate(Page)
def list_messages(
    request: HttpRequest,
    status: StatusName | None = None,
    kind: KindName | None = None,
    patient: Id | None = None,
    lot: Id | None = None,
) -> Any:
    """The clinic's outbox, newest first; filter by status, kind, patient or lot."""
    clinic = user_clinic(request, Action.VIEW_IDENTITY)
    return selectors.outbox(clinic, status=status, kind=kind, patient_id=patient, lot_id=lot)


@router.get("/messages/{message_id}", response=MessageOut)
def get_message(request: HttpRequest, message_id: Id) -> OutboxMessage:
    return selectors.message(user_clinic(request, Action.VIEW_IDENTITY), message_id)


@router.post("/messages/{message_id}/resend", response=MessageOut)
def resend_message(request: HttpRequest, message_id: Id) -> OutboxMessage:
    """Queue an unconfirmed, failed or bounced message again (a person's decision: an unconfirmed
    message may have arrived already)."""
    user = current_user(request, Action.VIEW_IDENTITY)
    found = selectors.message(user_clinic(request), message_id)
    return services.resend(message=found, by=user)


@router.post("/messages/{message_id}/bounce", response=MessageOut)
def bounce_message(request: HttpRequest, message_id: Id, payload: BounceIn) -> OutboxMessage:
    """Record that a sent message came back (a bounce report, a gateway's failed delivery)."""
    user = current_user(request, Action.VIEW_IDENTITY)
    found = selectors.message(user_clinic(request), message_id)
    return services.mark_bounced(message=found, reason=payload.reason, by=user)


@router.get("/message-templates", response=list[TemplateOut])
def list_templates(request: HttpRequest) -> Any:
    """Every kind, channel and language with the wording in use."""
    return selectors.templates(user_clinic(request, Action.MANAGE_CLINIC))


@router.put("/message-templates", response=TemplateOut)
def save_template(request: HttpRequest, payload: TemplateIn) -> Any:
    """The clinic's own wording of one kind of message on one channel in one language."""
    user = current_user(request, Action.MANAGE_CLINIC)
    template = services.save_template(
        clinic=user_clinic(request), kind=payload.kind, channel=payload.channel, language=payload.language,
        subject=payload.subject, body=payload.body, by=user,
    )  # fmt: skip
    key = _key(payload.kind, payload.channel, payload.language)
    return {**key, "subject": template.subject, "body": template.body, "customised": True}


@router.post("/message-templates/reset", response={204: None})
def reset_template(request: HttpRequest, payload: TemplateKeyIn) -> Any:
    """Back to the built-in wording."""
    user = current_user(request, Action.MANAGE_CLINIC)
    services.reset_template(
        clinic=user_clinic(request),
        kind=payload.kind,
        channel=payload.channel,
        language=payload.language,
        by=user,
    )
    return Status(204, None)


def _key(kind: str, channel: str, language: str) -> dict[str, str]:
    return {"kind": kind, "channel": channel, "language": language}


@router.post("/message-templates/preview", response=PreviewOut)
def preview_template(request: HttpRequest, payload: PreviewIn) -> Any:
    """The text as a patient would get it, with sample values; stores nothing."""
    from exoderm.messaging.wording import unknown_placeholders

    clinic = user_clinic(request, Action.MANAGE_CLINIC)
    shown = selectors.preview(
        clinic=clinic, channel=payload.channel, subject=payload.subject, body=payload.body
    )
    return {
        "subject": shown.subject,
        "body": shown.body,
        "unknown_placeholders": unknown_placeholders(payload.subject + payload.body),
    }


@router.get("/patients/{patient_id}/message-preferences", response=PreferencesIO)
def get_preferences(request: HttpRequest, patient_id: Id) -> Any:
    clinic = user_clinic(request, Action.VIEW_IDENTITY)
    patient = patient_selectors.patient_detail(clinic=clinic, patient_id=patient_id)
    identity = patient.identity
    return {"email_opt_out": identity.email_opt_out, "sms_opt_out": identity.sms_opt_out}


@router.put("/patients/{patient_id}/message-preferences", response=PreferencesIO)
def set_preferences(request: HttpRequest, patient_id: Id, payload: PreferencesIO) -> Any:
    """The channels the patient wants no messages on; messages already queued there are skipped."""
    user = current_user(request, Action.EDIT_PATIENT)
    patient = patient_selectors.patient_detail(clinic=user_clinic(request), patient_id=patient_id)
    identity = services.set_opt_out(
        patient=patient, email=payload.email_opt_out, sms=payload.sms_opt_out, by=user
    )
    return {"email_opt_out": identity.email_opt_out, "sms_opt_out": identity.sms_opt_out}


@router.get("/lots/{lot_id}/recall-notices", response=list[MessageOut])
@paginate(Page)
def list_recall_notices(request: HttpRequest, lot_id: Id) -> Any:
    """The recall notices sent for the lot, each with what became of it (sent, failed, bounced...)."""
    clinic = user_clinic(request, Action.VIEW_IDENTITY)
    lot = product_selectors.lot(clinic, lot_id)
    return selectors.outbox(clinic, lot_id=lot.pk, kind=MessageKind.RECALL_NOTICE)


@router.post("/lots/{lot_id}/recall-notices", response={201: list[MessageOut]})
def send_recall_notices(request: HttpRequest, lot_id: Id) -> Any:
    """Queue a notice to every patient of the recalled lot (once per patient and channel)."""
    user = current_user(request, Action.VIEW_IDENTITY)
    lot = product_selectors.lot(user_clinic(request), lot_id)
    return Status(201, services.queue_recall_notices(lot=lot, by=user))
