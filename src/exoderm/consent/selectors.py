"""Reads for consent: the one place that decides whether a patient has consented."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, Max, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from exoderm.consent.models import ConsentRecord, ConsentScan, ConsentSignature, ConsentTemplate
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.patients.models import Patient

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic


def current_template(*, clinic_id: int, kind: str) -> ConsentTemplate | None:
    """The newest version of the clinic's consent template of ``kind``."""
    return ConsentTemplate.objects.filter(clinic_id=clinic_id, kind=kind).order_by("-version").first()


def active_consent(*, patient: Patient, kind: str, at: dt.datetime) -> ConsentRecord | None:
    """A consent of the current version of ``kind``, signed by ``at`` and not withdrawn by then."""
    current_version = ConsentTemplate.objects.filter(clinic_id=patient.clinic_id, kind=kind).aggregate(
        v=Max("version")
    )["v"]
    if current_version is None:
        return None
    records = ConsentRecord.objects.filter(patient=patient)
    return _in_force(records, kind=kind, version=current_version, at=at).order_by("-signed_at").first()


def _in_force(
    records: QuerySet[ConsentRecord], *, kind: str, version: int, at: dt.datetime
) -> QuerySet[ConsentRecord]:
    """The ``records`` of version ``version`` of ``kind`` signed by ``at`` and not withdrawn by then."""
    return records.filter(template__kind=kind, template__version=version, signed_at__lte=at).exclude(
        withdrawn_at__lte=at
    )


def consents_of(*, patient: Patient) -> QuerySet[ConsentRecord]:
    """Every consent the patient signed, newest first, with template and recorders.

    Each record carries ``current_version``: the newest version of its kind in the clinic,
    ``has_signature``: whether it was signed on the tablet (and has a signed PDF), and
    ``has_scan``: whether the scan of the signed paper is on file.
    """
    newest = ConsentTemplate.objects.filter(
        clinic_id=OuterRef("template__clinic_id"), kind=OuterRef("template__kind")
    ).order_by("-version")
    return (
        ConsentRecord.objects.filter(patient=patient)
        .select_related("template", "recorded_by", "withdrawn_by")
        .annotate(
            current_version=Subquery(newest.values("version")[:1]),
            has_signature=Exists(ConsentSignature.objects.filter(record=OuterRef("pk"))),
            has_scan=Exists(ConsentScan.objects.filter(record=OuterRef("pk"))),
        )
        .order_by("-signed_at", "-pk")
    )


def consent_of(*, patient: Patient, consent_id: Any) -> ConsentRecord:
    """One consent of ``patient`` (``NotFound`` for another patient's or clinic's id)."""
    return get_in_clinic(consents_of(patient=patient), patient.clinic, consent_id)


def templates(*, clinic: Clinic, kind: str | None = None) -> QuerySet[ConsentTemplate]:
    """The clinic's consent templates, every version, by kind and newest version first."""
    queryset = in_clinic(ConsentTemplate, clinic).order_by("kind", "-version")
    return queryset.filter(kind=kind) if kind else queryset


def template(*, clinic: Clinic, template_id: Any) -> ConsentTemplate:
    return get_in_clinic(ConsentTemplate, clinic, template_id)


def current_versions(*, clinic_id: int) -> dict[str, int]:
    """The current version number per consent kind of the clinic."""
    rows = ConsentTemplate.objects.filter(clinic_id=clinic_id).values("kind").annotate(v=Max("version"))
    return {row["kind"]: row["v"] for row in rows}


def consenting_patient_ids(*, clinic_id: int, kind: str, at: dt.datetime) -> QuerySet[ConsentRecord, Any]:
    """The ids (``patient_id`` values, for a subquery) of the clinic's patients who hold a consent
    of the current version of ``kind`` at ``at``: signed by then and not withdrawn by then."""
    version = current_versions(clinic_id=clinic_id).get(kind)
    if version is None:
        return ConsentRecord.objects.none().values("patient_id")
    records = ConsentRecord.objects.filter(template__clinic_id=clinic_id)
    return _in_force(records, kind=kind, version=version, at=at).values("patient_id")


def holders_of_current(*, clinic_id: int, kind: str, at: dt.datetime) -> int:
    """How many patients hold a consent of the current version of ``kind`` at ``at``: the
    patients a new version asks to sign again."""
    return consenting_patient_ids(clinic_id=clinic_id, kind=kind, at=at).distinct().count()


def signature_of(*, record: ConsentRecord) -> ConsentSignature:
    """The tablet signature of ``record`` with its record, template and witness (``NotFound`` for a
    consent recorded as signed on paper)."""
    signature = (
        ConsentSignature.objects.filter(record=record)
        .select_related("record__template", "record__patient__clinic", "witness")
        .first()
    )
    if signature is None:
        raise NotFound(_("This consent was not signed on the tablet: there is no signed document."))
    return signature


def document_of(*, record: ConsentRecord) -> ConsentSignature | ConsentScan:
    """The signed document on file for ``record``: its tablet signature (with the signed PDF) or
    the scan of the signed paper (``NotFound`` for a paper consent recorded without a scan)."""
    scan = ConsentScan.objects.filter(record=record).select_related("record__template").first()
    if scan is not None:
        return scan
    signature = ConsentSignature.objects.filter(record=record).select_related("record__template").first()
    if signature is None:
        raise NotFound(_("There is no signed document on file for this consent."))
    return signature


def signature_matches_text(signature: ConsentSignature) -> bool:
    """Whether the text of the signature's version still hashes to what was signed (it always
    should: templates are never edited, a change is a new version)."""
    return signature.text_sha256 == signature.record.template.text_sha256(signature.language)
