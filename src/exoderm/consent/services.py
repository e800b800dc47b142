"""Writes for consent: new template versions, signatures (on paper or on the tablet) and withdrawals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exoderm.audit import chain
from exoderm.audit.models import AuditAction
from exoderm.clinics.models import Clinic, User
from exoderm.consent.documents import (
    Scan,
    check_signature_png,
    read_scan,
    render_pdf,
    scanned_pdf,
    seal,
    signed_pdf,
)
from exoderm.consent.models import ConsentKind, ConsentRecord, ConsentScan, ConsentSignature, ConsentTemplate
from exoderm.consent.selectors import active_consent, current_template, document_of, signature_of
from exoderm.core.clock import in_future, too_early, too_early_message
from exoderm.core.permissions import Action, require
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.messaging.services import queue_requested_email
from exoderm.patients.models import Patient
from exoderm.records.services import checked_reason, save_correction


def require_aware(value: dt.datetime, *, field: str) -> None:
    """Refuse a naive datetime: without an offset the instant it means is a guess."""
    if timezone.is_naive(value):
        raise ValidationError(
            {
                field: _(
                    "Give the time with its UTC offset or time zone (for example 2026-03-10T10:00:00+01:00)."
                )
            }
        )


def check_past_instant(value: dt.datetime, *, field: str) -> None:
    """Refuse naive datetimes, instants in the future (nothing is signed ahead of time) and before
    ``exoderm.core.clock.EARLIEST`` (a typo in the year).

    A few minutes ahead count as now (``exoderm.core.clock.FUTURE_TOLERANCE``): the clock of the
    device the time was typed on may run ahead.
    """
    require_aware(value, field=field)
    if too_early(value):
        raise ValidationError({field: too_early_message()})
    if in_future(value):
        raise ValidationError({field: _("This time lies in the future.")})


@transaction.atomic
def create_template(
    *, clinic: Clinic, kind: str, title_de: str, title_en: str, text_de: str, text_en: str, by: User
) -> ConsentTemplate:
    """Publish the next version of the clinic's consent template of ``kind``.

    Signatures of earlier versions stop counting for :func:`active_consent` from now on.
    """
    require(by, Action.MANAGE_CLINIC)
    if kind not in ConsentKind.values:
        raise ValidationError({"kind": _("Unknown consent kind %(kind)s.") % {"kind": kind}})
    # Lock the clinic row so that two concurrent publications cannot compute the same version.
    Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
    latest = ConsentTemplate.objects.filter(clinic=clinic, kind=kind).aggregate(v=Max("version"))["v"]
    template = ConsentTemplate(
        clinic=clinic,
        kind=kind,
        version=(latest or 0) + 1,
        title_de=title_de,
        title_en=title_en,
        text_de=text_de,
        text_en=text_en,
    )
    template.full_clean()
    template.save()
    return template


@transaction.atomic
def sign_consent(
    *,
    patient: Patient,
    kind: str,
    signed_by_name: str,
    signed_at: dt.datetime,
    by: User,
    scan: Iterable[bytes] | None = None,
) -> ConsentRecord:
    """Record that the patient signed the current version of the clinic's ``kind`` template.

    ``scan`` (the chunks of an uploaded file), if given, is the signed paper: checked and kept with
    the record as by :func:`attach_scan`, before anything is written.
    """
    require(by, Action.RECORD_CONSENT)
    if kind not in ConsentKind.values:
        raise ValidationError({"kind": _("Unknown consent kind %(kind)s.") % {"kind": kind}})
    check_past_instant(signed_at, field="signed_at")
    checked_scan = read_scan(scan) if scan is not None else None
    template = current_template(clinic_id=patient.clinic_id, kind=kind)
    if template is None:
        raise ValidationError({"kind": _("The clinic has no consent template of this kind yet.")})
    if template.created_at > signed_at:
        raise ValidationError(
            {"signed_at": _("The current version of this consent was published after this time.")}
        )
    existing = active_consent(patient=patient, kind=kind, at=timezone.now())
    if existing is not None:
        raise ValidationError(
            {"kind": _("The patient already has an active consent of the current version.")}
        )
    record = ConsentRecord(
        patient=patient,
        template=template,
        signed_at=signed_at,
        signed_by_name=signed_by_name.strip(),
        recorded_by=by,
    )
    record.full_clean()
    record.save()
    if checked_scan is not None:
        _store_scan(record=record, scan=checked_scan, by=by)
    return record


def _store_scan(*, record: ConsentRecord, scan: Scan, by: User) -> ConsentScan:
    place = {"clinic_id": record.patient.clinic_id, "record_id": record.pk}
    stored = ConsentScan(
        record=record,
        pdf=seal(scan.pdf, column="scan", **place),
        uploaded_format=scan.uploaded_format,
        uploaded_sha256=scan.uploaded_sha256,
        uploaded_at=timezone.now(),
        uploaded_by=by,
    )
    stored.full_clean()
    stored.save()
    return stored


@transaction.atomic
def attach_scan(*, record: ConsentRecord, scan: Iterable[bytes], by: User) -> ConsentScan:
    """Keep the scan of the signed paper with a consent recorded without one (PDF, JPEG or PNG,
    checked by :func:`exoderm.consent.documents.read_scan`, encrypted at rest).

    A scan on file is not replaced: a second upload is refused, and so is a scan for a consent
    signed on the tablet, whose signed PDF is its document.
    """
    require(by, Action.RECORD_CONSENT)
    checked = read_scan(scan)
    locked = ConsentRecord.objects.select_for_update(of=("self",)).select_related("patient").get(pk=record.pk)
    if ConsentSignature.objects.filter(record=locked).exists():
        raise ValidationError(
            {"scan": _("This consent was signed on the tablet: its signed PDF is already on file.")}
        )
    if ConsentScan.objects.filter(record=locked).exists():
        raise ValidationError(
            {"scan": _("A scan of this consent is already on file; it cannot be replaced.")}
        )
    return _store_scan(record=locked, scan=checked, by=by)


@transaction.atomic
def withdraw_consent(*, record: ConsentRecord, by: User, at: dt.datetime | None = None) -> ConsentRecord:
    """Withdraw a signed consent from ``at`` on (default now). A withdrawal is final."""
    require(by, Action.RECORD_CONSENT)
    at = at or timezone.now()
    check_past_instant(at, field="withdrawn_at")
    record = ConsentRecord.objects.select_for_update().select_related("template").get(pk=record.pk)
    if record.withdrawn_at is not None:
        raise ValidationError({"withdrawn_at": _("This consent has already been withdrawn.")})
    if at < record.signed_at:
        raise ValidationError({"withdrawn_at": _("A consent cannot be withdrawn before it was signed.")})
    record.withdrawn_at, record.withdrawn_by = at, by
    record.save(update_fields=["withdrawn_at", "withdrawn_by"])
    return record


CONSENT_CORRECTABLE_FIELDS = ("signed_at", "signed_by_name")


def _consent_version(record: ConsentRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in CONSENT_CORRECTABLE_FIELDS}


@transaction.atomic
def correct_consent(
    *, record: ConsentRecord, by: User, reason: str, signed_at: dt.datetime, signed_by_name: str
) -> ConsentRecord:
    """Correct when and by whom a consent was signed, keeping the old version as a revision.

    The checks of :func:`sign_consent` apply: not in the future, not before its template's
    version was published, and not after the consent's own withdrawal.
    """
    require(by, Action.RECORD_CONSENT)
    reason = checked_reason(reason)
    check_past_instant(signed_at, field="signed_at")
    locked = (
        ConsentRecord.objects.select_for_update(of=("self",))
        .select_related("template", "patient__clinic")
        .get(pk=record.pk)
    )
    before = _consent_version(locked)
    if ConsentSignature.objects.filter(record=locked).exists():
        raise ValidationError(
            {
                "signed_at": _(
                    "A consent signed on the tablet cannot be corrected: "
                    "its signature fixes who signed and when."
                )
            }
        )
    if locked.template.created_at > signed_at:
        raise ValidationError({"signed_at": _("The version of this consent was published after this time.")})
    if locked.withdrawn_at is not None and signed_at > locked.withdrawn_at:
        raise ValidationError({"signed_at": _("The consent was withdrawn before this time.")})
    locked.signed_at = signed_at
    locked.signed_by_name = signed_by_name.strip() if isinstance(signed_by_name, str) else signed_by_name
    locked.full_clean()
    save_correction(
        obj=locked,
        fields=CONSENT_CORRECTABLE_FIELDS,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        before=before,
        after=_consent_version(locked),
        reason=reason,
        by=by,
    )
    return locked


# --- signing on the tablet ----------------------------------------------------------------------


@transaction.atomic
def sign_on_tablet(
    *,
    patient: Patient,
    kind: str,
    language: str,
    text_sha256: str,
    signer_name: str,
    signature_png: bytes,
    device: str,
    by: User,
) -> ConsentRecord:
    """Record the patient's handwritten signature on the current version of ``kind``.

    ``text_sha256`` is the hash of the text the tablet showed (:meth:`ConsentTemplate.text_sha256`):
    if a new version was published while the patient read, the signature is refused rather than
    put under a text the patient never saw. The signature picture is checked
    (:func:`exoderm.consent.documents.check_signature_png`), the PDF of what was signed rendered,
    and both stored encrypted with the consent record, the time, the device and ``by`` as the
    witness, all in one transaction.
    """
    require(by, Action.RECORD_CONSENT)
    if kind not in ConsentKind.values:
        raise ValidationError({"kind": _("Unknown consent kind %(kind)s.") % {"kind": kind}})
    if language not in ("de", "en"):
        raise ValidationError({"language": _("Sign in German or English.")})
    template = current_template(clinic_id=patient.clinic_id, kind=kind)
    if template is None:
        raise ValidationError({"kind": _("The clinic has no consent template of this kind yet.")})
    if text_sha256 != template.text_sha256(language):
        raise ValidationError(
            {
                "text_sha256": _(
                    "A new version of this consent was published while it was being read: "
                    "please read the current version and sign again."
                )
            }
        )
    signer_name = signer_name.strip()
    if not signer_name:
        raise ValidationError({"signer_name": _("Give the name of the person who signs.")})
    check_signature_png(signature_png)
    signed_at = timezone.now()
    record = sign_consent(patient=patient, kind=kind, signed_by_name=signer_name, signed_at=signed_at, by=by)
    pdf = render_pdf(
        record=record,
        language=language,
        png=signature_png,
        text_sha256=text_sha256,
        signed_at=signed_at,
        signer_name=signer_name,
        device=device,
        witness_name=by.display_name,
    )
    place = {"clinic_id": patient.clinic_id, "record_id": record.pk}
    signature = ConsentSignature(
        record=record,
        language=language,
        text_sha256=text_sha256,
        signed_at=signed_at,
        signer_name=signer_name,
        device=device.strip()[:300] or "-",
        witness=by,
        signature_png=seal(signature_png, column="signature_png", **place),
        pdf=seal(pdf, column="pdf", **place),
    )
    signature.full_clean()
    signature.save()
    return record


def _record_export(record: ConsentRecord, how: str, *, document: str = "signed consent PDF") -> None:
    """One audit event for the signed PDF leaving the system (downloaded or e-mailed)."""
    chain.append(
        action=AuditAction.EXPORT,
        object_type=ConsentRecord._meta.label_lower,
        object_id=record.pk,
        clinic_id=record.patient.clinic_id,
        patient_id=record.patient_id,
        changes={"document": document, "via": how},
    )


def signed_document(*, record: ConsentRecord, by: User) -> bytes:
    """The PDF of the signed consent, decrypted, for ``by`` to download (an export event is
    recorded): the tablet's signed PDF or the scan of the signed paper. ``NotFound`` for a consent
    signed on paper without a scan."""
    require(by, Action.VIEW_IDENTITY)
    document = document_of(record=record)
    if isinstance(document, ConsentScan):
        data = scanned_pdf(document)
        _record_export(record, "download", document="scan of the signed paper consent (PDF)")
    else:
        data = signed_pdf(document)
        _record_export(record, "download")
    return data


@transaction.atomic
def email_signed_consent(*, record: ConsentRecord, by: User) -> OutboxMessage:
    """Queue an e-mail with the PDF of the signed consent to the patient's address, in the
    patient's language; returns the outbox message (sent by the worker, retried, recorded).

    The message says no more than that the signed consent is attached; the PDF is rendered from the
    signature when the message is sent. The patient asked for the copy, so an e-mail opt-out does
    not hold it back (:data:`exoderm.messaging.models.TRANSACTIONAL_KINDS`).
    """
    require(by, Action.RECORD_CONSENT)
    signature = signature_of(record=record)
    identity = record.patient.identity
    clinic = record.patient.clinic
    with translation.override(identity.language):
        subject = _("Your signed consent: %(title)s") % {"title": record.template.title(identity.language)}
        # one paragraph per message id: no line breaks inside a translation
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % {"name": identity.given_name},
                _("attached is the consent you signed at %(clinic)s, as you signed it.")
                % {"clinic": clinic.name},
                _("Kind regards"),
                clinic.name,
            ]
        )
    message = queue_requested_email(
        patient=record.patient,
        kind=MessageKind.SIGNED_CONSENT,
        about=f"consent:{record.pk}",
        subject=subject,
        body=body,
        consent_signature=signature,
        by=by,
    )
    _record_export(record, f"email (outbox message {message.pk})")
    return message
