"""Reads for patients. Identity is only joined where the caller may see it."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from exoderm.clinics.models import Clinic
from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.patients.models import Patient, ScreeningAnswer


def clinic_today(clinic: Clinic) -> dt.date:
    """Today's date on the clinic's wall clock."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(clinic.time_zone))


def patients(*, clinic: Clinic, query: str = "") -> QuerySet[Patient]:
    """The clinic's patients with their identity, ordered by code.

    ``query`` matches the code or the names case-insensitively; every word has to match
    somewhere, so "erika muster" finds Erika Mustermann.
    """
    queryset = in_clinic(Patient, clinic).select_related("identity").order_by("code", "pk")
    for word in query.split():
        queryset = queryset.filter(
            Q(code__icontains=word)
            | Q(identity__given_name__icontains=word)
            | Q(identity__family_name__icontains=word)
        )
    return queryset


def patient_detail(*, clinic: Clinic, patient_id: Any) -> Patient:
    """One patient of ``clinic`` with the identity (``NotFound`` for another clinic's id)."""
    return get_in_clinic(Patient.objects.select_related("identity", "clinic"), clinic, patient_id)


def same_person(
    *, clinic: Clinic, given_name: str, family_name: str, date_of_birth: dt.date
) -> list[Patient]:
    """The clinic's patients with these names (ignoring case) and this date of birth, by code:
    most likely the same person, recorded before."""
    born_that_day = (
        in_clinic(Patient, clinic)
        .select_related("identity")
        .filter(identity__date_of_birth=date_of_birth)
        .order_by("code", "pk")
    )
    # compared here, not in SQL: SQLite ignores the case of ASCII letters only (Müller, MÜLLER)
    names = (given_name.strip().casefold(), family_name.strip().casefold())
    return [
        patient
        for patient in born_that_day
        if (patient.identity.given_name.casefold(), patient.identity.family_name.casefold()) == names
    ]


def current_screening(*, patient: Patient, on: dt.date | None = None) -> dict[str, ScreeningAnswer]:
    """The newest answer per screening item, as known on ``on`` (default: every answer)."""
    answers = ScreeningAnswer.objects.filter(patient=patient).select_related("recorded_by")
    if on is not None:
        answers = answers.filter(answered_on__lte=on)
    current: dict[str, ScreeningAnswer] = {}
    for answer in answers.order_by("-answered_on", "-recorded_at", "-pk"):
        current.setdefault(answer.item, answer)
    return current


def screening_answer(*, patient: Patient, answer_id: Any) -> ScreeningAnswer:
    """One recorded screening answer of ``patient`` (``NotFound`` for another patient's)."""
    return get_in_clinic(
        ScreeningAnswer.objects.filter(patient=patient).select_related("recorded_by"),
        patient.clinic,
        answer_id,
    )
