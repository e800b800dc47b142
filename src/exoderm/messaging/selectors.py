"""Reads of the messaging app: the outbox, a patient's messages, templates and their preview."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from exoderm.clinics.models import Clinic
from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.messaging import wording
from exoderm.messaging.models import TEMPLATE_KINDS, Channel, MessageTemplate, OutboxMessage
from exoderm.messaging.services import values_for, wording_for
from exoderm.patients.models import Patient, PatientIdentity

SAMPLE_PATIENT = {
    "given_name": wording.SAMPLE_VALUES["given_name"],
    "family_name": wording.SAMPLE_VALUES["family_name"],
}
SAMPLE_AT = dt.datetime(2026, 12, 9, 9, 30, tzinfo=dt.UTC)


def outbox(
    clinic: Clinic,
    *,
    status: str | None = None,
    kind: str | None = None,
    patient_id: int | None = None,
    lot_id: int | None = None,
) -> QuerySet[OutboxMessage]:
    messages = in_clinic(OutboxMessage, clinic).select_related("patient__identity")
    if status:
        messages = messages.filter(status=status)
    if kind:
        messages = messages.filter(kind=kind)
    if patient_id:
        messages = messages.filter(patient_id=patient_id)
    if lot_id:
        messages = messages.filter(lot_id=lot_id)
    return messages.order_by("-created_at", "-pk")


def message(clinic: Clinic, pk: object) -> OutboxMessage:
    return get_in_clinic(OutboxMessage.objects.select_related("patient__identity"), clinic, pk)


def patient_messages(patient: Patient, *, limit: int = 20) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(patient=patient).order_by("-created_at", "-pk")[:limit])


@dataclass(frozen=True)
class TemplateEntry:
    kind: str
    kind_label: str
    channel: str
    channel_label: str
    language: str
    subject: str
    body: str
    customised: bool


def templates(clinic: Clinic) -> list[TemplateEntry]:
    """Every kind, channel and language, with the wording in use and whether the clinic changed it."""
    own = {(t.kind, t.channel, t.language): t for t in MessageTemplate.objects.filter(clinic=clinic)}
    entries = []
    for kind in TEMPLATE_KINDS:
        kind_label = kind.label
        for channel, channel_label in Channel.choices:
            for language in ("de", "en"):
                template = own.get((kind, channel, language))
                text = (
                    wording.Wording(template.subject, template.body)
                    if template
                    else wording.default_wording(kind, channel, language)
                )
                entries.append(
                    TemplateEntry(
                        kind, str(kind_label), channel, str(channel_label), language, text.subject, text.body,
                        template is not None,
                    )
                )  # fmt: skip
    return entries


def template_in_use(clinic: Clinic, *, kind: str, channel: str, language: str) -> wording.Wording:
    return wording_for(clinic=clinic, kind=kind, channel=channel, language=language)


def preview(*, clinic: Clinic, channel: str, language: str, subject: str, body: str) -> wording.Wording:
    """The text as a patient would get it: a sample patient, the clinic's name, a date and time
    written as the language writes them."""
    values = {
        **wording.SAMPLE_VALUES,
        **values_for(
            identity=PatientIdentity(**SAMPLE_PATIENT, language=language), clinic=clinic, at=SAMPLE_AT
        ),
    }
    return wording.Wording(
        wording.fill(subject, values) if channel == Channel.EMAIL else "", wording.fill(body, values)
    )
