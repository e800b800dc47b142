"""Reads for consent: the one place that decides whether a patient has consented."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max

from exoderm.consent.models import ConsentRecord, ConsentTemplate
from exoderm.patients.models import Patient


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
    return (
        ConsentRecord.objects.filter(
            patient=patient, template__kind=kind, template__version=current_version, signed_at__lte=at
        )
        .exclude(withdrawn_at__lte=at)
        .order_by("-signed_at")
        .first()
    )
