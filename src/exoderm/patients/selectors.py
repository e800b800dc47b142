"""Reads for patients. Identity is only joined where the caller may see it."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, User
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.core.permissions import Action, can
from exoderm.patients.models import Patient, RestrictedRecordAccess, ScreeningAnswer
from exoderm.patients.search import MAX_TERMS, fold, parse_query, term_count


class RestrictedRecord(PermissionDenied):
    """A clinic admin asked for a restricted record without a current reason to read it."""


def open_records[M: Model](queryset: QuerySet[M], patient_path: str = "patient") -> QuerySet[M]:
    """``queryset`` without the rows of restricted records (an erasure request was recorded):
    those are hidden from every list, search and calendar. ``patient_path`` leads to the patient
    ("" for a queryset of patients)."""
    lookup = f"{patient_path}__restricted_at__isnull" if patient_path else "restricted_at__isnull"
    return queryset.filter(**{lookup: True})


def clinic_today(clinic: Clinic) -> dt.date:
    """Today's date on the clinic's wall clock."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(clinic.time_zone))


def patients(*, clinic: Clinic, query: str = "") -> QuerySet[Patient]:
    """The clinic's open records with their identity, ordered by code, matching ``query``.

    Every term of ``query`` has to match (:func:`exoderm.patients.search.parse_query`): a date
    (17.05.1980 or 1980-05-17) the date of birth, a phone number the stored number's last digits
    (or a code of digits),
    a word with an @ the e-mail address (ignoring case), and any other word the code or, folded
    (Müller = Mueller = Muller), a part of the names. So "erika muster" finds Erika Mustermann.
    One query, on columns stored for the purpose (no function runs per row).
    """
    queryset = open_records(in_clinic(Patient, clinic), "").select_related("identity").order_by("code", "pk")
    terms = parse_query(query)
    if term_count(terms) > MAX_TERMS:
        raise ValidationError({"q": _("Search with at most %(count)d words.") % {"count": MAX_TERMS}})
    if terms.invalid_dates:
        return queryset.none()
    for born in terms.birth_dates:
        queryset = queryset.filter(identity__date_of_birth=born)
    for phone in terms.phones:
        queryset = queryset.filter(
            Q(identity__phone_digits__endswith=phone.tail) | Q(code__icontains=phone.typed)
        )
    for email in terms.emails:
        queryset = queryset.filter(identity__email__icontains=email)
    for word in terms.words:
        in_names = Q()
        for token in fold(word).split():
            in_names &= Q(identity__search_key__contains=token)
        # a word that folds to nothing (a lone dash) can only be part of a code
        queryset = queryset.filter(Q(code__icontains=word) | (in_names if in_names else Q(pk__in=[])))
    return queryset


def patient_choices(*, clinic: Clinic) -> QuerySet[Patient]:
    """The clinic's open records for a patient picker, by family name and given name (folded, so
    Müller sorts with Muller, not after Zimmermann), then by code."""
    return (
        open_records(in_clinic(Patient, clinic), "")
        .select_related("identity")
        .order_by("identity__search_key", "code", "pk")
    )


def patient_detail(*, clinic: Clinic, patient_id: Any) -> Patient:
    """One patient of ``clinic`` with the identity (``NotFound`` for another clinic's id and for a
    restricted record: :func:`readable_patient` reaches those)."""
    return get_in_clinic(
        Patient.objects.filter(restricted_at__isnull=True).select_related("identity", "clinic"),
        clinic,
        patient_id,
    )


def live_access(
    *, patient: Patient, user: User, now: dt.datetime | None = None
) -> RestrictedRecordAccess | None:
    """The ``user``'s unexpired unlock of the restricted ``patient``, if any."""
    return (
        RestrictedRecordAccess.objects.filter(
            patient=patient, user=user, expires_at__gt=now or timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )


def restricted_record(*, clinic: Clinic, patient_id: Any) -> Patient:
    """A restricted record of ``clinic`` by id, for the services that handle it (unlock, erasure);
    reading it goes through :func:`restricted_patient`."""
    records = Patient.objects.filter(restricted_at__isnull=False).select_related("identity", "clinic")
    return get_in_clinic(records, clinic, patient_id)


def restricted_patient(*, clinic: Clinic, patient_id: Any, user: User) -> Patient:
    """A restricted record of ``clinic`` for a clinic admin (``RestrictedRecord`` without a
    current unlock); anyone else gets ``NotFound``, as for an id that does not exist."""
    patient = restricted_record(clinic=clinic, patient_id=patient_id)
    if not can(user, Action.ERASE_PATIENT) or user.clinic_id != clinic.pk:
        raise NotFound(
            _("%(thing)s %(id)s not found.") % {"thing": Patient._meta.verbose_name, "id": patient_id}
        )
    if live_access(patient=patient, user=user) is None:
        raise RestrictedRecord(
            _("This record is restricted after an erasure request: give a reason to read it.")
        )
    return patient


def readable_patient(*, clinic: Clinic, patient_id: Any, user: User) -> Patient:
    """The patient as ``user`` may read it: an open record, or a restricted one for a clinic admin
    who gave a reason within ``RESTRICTED_ACCESS_MINUTES``."""
    try:
        return patient_detail(clinic=clinic, patient_id=patient_id)
    except NotFound:
        return restricted_patient(clinic=clinic, patient_id=patient_id, user=user)


def same_person(
    *, clinic: Clinic, given_name: str, family_name: str, date_of_birth: dt.date
) -> list[Patient]:
    """The clinic's patients with these names (ignoring case) and this date of birth, by code:
    most likely the same person, recorded before."""
    born_that_day = (
        open_records(in_clinic(Patient, clinic), "")
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
