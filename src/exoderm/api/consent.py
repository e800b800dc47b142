"""Consent signed on the tablet or scanned from paper, and the intake before the visit
(/api/v1/patients/...).

The same services as the pages: a handwritten signature with the hash of the text version shown,
its PDF (download or e-mail to the patient), the scan of a consent signed on paper, and one-time
intake links with the clinician's review.
Researchers get 403; another clinic's ids are 404.
"""

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import StringConstraints

from exoderm.api.courses import current_user, user_clinic
from exoderm.api.patients import ConsentOut, ScreeningAnswerIn, ScreeningAnswerOut
from exoderm.api.types import Id, Text
from exoderm.consent import selectors as consent_selectors
from exoderm.consent import services as consent_services
from exoderm.consent.documents import MAX_SIGNATURE_BYTES, document_name
from exoderm.core.permissions import Action
from exoderm.patients import intake as intakes
from exoderm.patients import selectors
from exoderm.patients.models import Intake, Patient
from exoderm.patients.services import Answer

router = Router(tags=["consent and intake"])

SignaturePng = Annotated[str, StringConstraints(max_length=4 * (MAX_SIGNATURE_BYTES // 3 + 1))]


class TabletSignatureIn(Schema):
    kind: Text
    language: Text = Field(description="de or en: the language the text was shown and signed in")
    text_sha256: Text = Field(
        description="SHA-256 (hex) of the title, a blank line and the text as shown; refused when a newer "
        "version was published meanwhile"
    )
    signer_name: Text
    device: Text = Field("", description="the tablet's name; the request's User-Agent is added")
    signature_png: SignaturePng = Field(description="the drawn signature as a PNG, base64")


class IntakeCreateIn(Schema):
    send_email: bool = Field(False, description="also e-mail the link to the patient")


class IntakeLinkOut(Schema):
    id: int
    url: str = Field(description="the one-time link; shown only in this response")
    expires_at: dt.datetime
    sent_to: str = Field(description="the address the link was e-mailed to, or empty")


class IntakeOut(Schema):
    id: int
    created_at: dt.datetime
    expires_at: dt.datetime
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    confirmed: bool
    answers: list[dict[str, Any]] = Field(description="the patient's answers, not yet the screening")


class IntakeConfirmIn(Schema):
    answers: list[ScreeningAnswerIn] | None = Field(
        None, description="the answers as reviewed; default: the patient's answers unchanged"
    )


class EmailedOut(Schema):
    sent_to: str
    message: int = Field(description="the outbox message that sends it (GET /messages shows its status)")


def _patient(request: HttpRequest, patient_id: int, action: Action) -> Patient:
    return selectors.patient_detail(clinic=user_clinic(request, action), patient_id=patient_id)


@router.post("/{patient_id}/tablet-signatures", response={201: ConsentOut})
def sign_on_tablet(request: HttpRequest, patient_id: Id, payload: TabletSignatureIn) -> Any:
    """Record a consent signed by hand: the picture is checked (a real PNG, at most 512 kB, not
    blank), the PDF of what was signed stored with it, encrypted."""
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id, Action.RECORD_CONSENT)
    try:
        png = base64.b64decode(payload.signature_png, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"signature_png": _("The signature is not a PNG picture.")}) from None
    agent = request.headers.get("User-Agent", "")
    record = consent_services.sign_on_tablet(
        patient=patient,
        kind=payload.kind,
        language=payload.language,
        text_sha256=payload.text_sha256,
        signer_name=payload.signer_name,
        signature_png=png,
        device=f"{payload.device} · {agent}" if payload.device else agent,
        by=user,
    )
    return Status(201, consent_selectors.consent_of(patient=patient, consent_id=record.pk))


@router.post("/{patient_id}/consents/{consent_id}/scan", response={201: ConsentOut})
def attach_scan(request: HttpRequest, patient_id: Id, consent_id: Id, scan: File[UploadedFile]) -> Any:
    """Keep the scan of the signed paper with a consent recorded without one (multipart, field
    ``scan``): a PDF, JPEG or PNG of at most 10 MB, recognised by content; a picture is kept as a
    one-page PDF. Stored encrypted; GET .../signed.pdf returns it. 422 for another format, a file
    too large, or a consent that already has a scan or was signed on the tablet (a scan is never
    replaced)."""
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id, Action.RECORD_CONSENT)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    consent_services.attach_scan(record=record, scan=scan.chunks(), by=user)
    return Status(201, consent_selectors.consent_of(patient=patient, consent_id=record.pk))


_PDF_RESPONSE = {
    "description": "the PDF of exactly what was signed (tablet), or of the scanned paper",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get(
    "/{patient_id}/consents/{consent_id}/signed.pdf",
    response={200: None},
    openapi_extra={"responses": {200: _PDF_RESPONSE}},
)
def signed_document(request: HttpRequest, patient_id: Id, consent_id: Id) -> HttpResponse:
    """The signed PDF of a consent: signed on the tablet, or the scan of the signed paper (404 for a
    consent signed on paper without a scan)."""
    user = current_user(request, Action.VIEW_IDENTITY)
    patient = _patient(request, patient_id, Action.VIEW_IDENTITY)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    response = HttpResponse(
        consent_services.signed_document(record=record, by=user), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="{document_name(record)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@router.post("/{patient_id}/consents/{consent_id}/email", response=EmailedOut)
def email_signed_consent(request: HttpRequest, patient_id: Id, consent_id: Id) -> Any:
    """Queue an e-mail with the signed PDF to the patient's address, in the patient's language; the
    worker sends it from the outbox (retried, recorded, sent despite an e-mail opt-out: the
    patient asked for it)."""
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id, Action.RECORD_CONSENT)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    message = consent_services.email_signed_consent(record=record, by=user)
    return {"sent_to": message.recipient, "message": message.pk}


@router.post("/{patient_id}/intakes", response={201: IntakeLinkOut})
def create_intake(request: HttpRequest, patient_id: Id, payload: IntakeCreateIn | None = None) -> Any:
    """A one-time link for the patient to answer the screening before the visit (72 hours)."""
    user = current_user(request, Action.EDIT_PATIENT)
    patient = _patient(request, patient_id, Action.EDIT_PATIENT)
    intake, token = intakes.create_intake(patient=patient, by=user)
    url = request.build_absolute_uri(reverse("intake", args=[token]))
    sent_to = ""
    if payload is not None and payload.send_email:
        sent_to = intakes.email_intake_link(intake=intake, url=url, by=user).recipient
    return Status(201, {"id": intake.pk, "url": url, "expires_at": intake.expires_at, "sent_to": sent_to})


@router.get("/{patient_id}/intakes", response=list[IntakeOut])
def list_intakes(request: HttpRequest, patient_id: Id) -> Any:
    """The patient's intakes, newest first, with the answers given (not the token)."""
    patient = _patient(request, patient_id, Action.EDIT_PATIENT)
    return list(Intake.objects.filter(patient=patient).order_by("-created_at", "-pk")[:100])


def _intake(request: HttpRequest, patient_id: int, intake_id: int) -> Intake:
    patient = _patient(request, patient_id, Action.CHART_SESSION)
    return intakes.intake_of(patient=patient, intake_id=intake_id)


@router.post("/{patient_id}/intakes/{intake_id}/confirm", response=list[ScreeningAnswerOut])
def confirm_intake(
    request: HttpRequest, patient_id: Id, intake_id: Id, payload: IntakeConfirmIn | None = None
) -> Any:
    """Make the reviewed answers the screening of record (clinicians); returns the screening."""
    user = current_user(request, Action.CHART_SESSION)
    intake = _intake(request, patient_id, intake_id)
    if payload is not None and payload.answers is not None:
        answers = [Answer(**answer.dict()) for answer in payload.answers]
    else:
        answers = intakes.answers_of(intake)
    intakes.confirm_intake(intake=intake, answers=answers, by=user)
    current = selectors.current_screening(patient=intake.patient)
    return [current[item] for item in sorted(current)]


@router.post("/{patient_id}/intakes/{intake_id}/discard", response=IntakeOut)
def discard_intake(request: HttpRequest, patient_id: Id, intake_id: Id) -> Any:
    """Set the patient's answers aside without recording them."""
    user = current_user(request, Action.CHART_SESSION)
    return intakes.discard_intake(intake=_intake(request, patient_id, intake_id), by=user)
