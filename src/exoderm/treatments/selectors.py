"""Reads for treatment sessions, always within one clinic."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.patients.selectors import open_records
from exoderm.treatments.models import ProtocolWarning, TreatmentSession

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic

# The start page lists the protocol warnings acknowledged within this many days.
WARNING_DAYS = 14


def _with_details(queryset: QuerySet[TreatmentSession]) -> QuerySet[TreatmentSession]:
    return queryset.select_related("patient", "clinician").prefetch_related(
        "procedures", "applications__lot", "applications__vial", "warnings__acknowledged_by"
    )


def sessions_of_clinic(
    *,
    clinic: Clinic,
    patient_id: int | None = None,
    performed_from: dt.datetime | None = None,
    performed_until: dt.datetime | None = None,
) -> QuerySet[TreatmentSession]:
    """The clinic's sessions, newest first, with their procedures, applications and warnings
    (not those of restricted records)."""
    queryset = open_records(in_clinic(TreatmentSession, clinic))
    if patient_id is not None:
        queryset = queryset.filter(patient_id=patient_id)
    if performed_from is not None:
        queryset = queryset.filter(performed_at__gte=performed_from)
    if performed_until is not None:
        queryset = queryset.filter(performed_at__lt=performed_until)
    return _with_details(queryset).order_by("-performed_at", "-id")


def session_detail(*, clinic: Clinic, pk: int) -> TreatmentSession:
    """One session of the clinic with everything recorded for it (``NotFound`` otherwise)."""
    sessions = _with_details(open_records(TreatmentSession.objects.all())).select_related("patient__identity")
    return get_in_clinic(sessions, clinic, pk)


def sessions_with_counts(*, clinic: Clinic) -> QuerySet[TreatmentSession]:
    """The clinic's sessions with patient and clinician and ``application_count`` annotated."""
    return (
        open_records(in_clinic(TreatmentSession, clinic))
        .select_related("patient", "clinician")
        .annotate(application_count=Count("applications", distinct=True))
    )


def recent_warnings(*, clinic: Clinic, now: dt.datetime) -> QuerySet[ProtocolWarning]:
    """Protocol warnings acknowledged in the last two weeks, newest first."""
    return (
        open_records(in_clinic(ProtocolWarning, clinic), "session__patient")
        .filter(acknowledged_at__gte=now - dt.timedelta(days=WARNING_DAYS))
        .select_related("session__patient", "acknowledged_by")
        .order_by("-acknowledged_at", "-pk")
    )
