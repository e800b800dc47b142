"""Writes for patients: the pseudonymous record with its identity, and the dated screening."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exoderm.clinics.models import Clinic, User
from exoderm.core.clock import EARLIEST, EARLIEST_BIRTH, too_early, too_early_message
from exoderm.core.contraindications import AREA_SPECIFIC, ScreeningItem
from exoderm.core.permissions import Action, require
from exoderm.patients.models import Patient, PatientIdentity, ScreeningAnswer
from exoderm.patients.selectors import clinic_today, same_person
from exoderm.records.services import checked_reason, record_revision, save_correction

# No 0/O, 1/I/L: codes are read aloud and copied by hand.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_PREFIX = "EX-"
CODE_LENGTH = 5

PATIENT_FIELDS = frozenset({"code", "fitzpatrick", "glogau"})
IDENTITY_FIELDS = frozenset(
    {"given_name", "family_name", "date_of_birth", "email", "phone", "address", "language"}
)


@dataclass(frozen=True)
class Answer:
    """One screening answer as entered: the item, whether it applies, and its details."""

    item: str
    present: bool
    areas: list[str] = field(default_factory=list)
    last_dose_on: dt.date | None = None
    note: str = ""


def new_patient_code(clinic: Clinic) -> str:
    """A random pseudonymous code like ``EX-7K3Q9`` that no patient of ``clinic`` has yet."""
    for _attempt in range(50):
        code = CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
        if not Patient.objects.filter(clinic=clinic, code=code).exists():
            return code
    raise RuntimeError("no free patient code after 50 attempts")  # 31**5 codes: practically unreachable


def _check_identity(
    identity: PatientIdentity, clinic: Clinic, *, unchecked: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    try:
        identity.full_clean(exclude=["patient", *sorted(unchecked & IDENTITY_FIELDS)])
    except ValidationError as error:
        errors.update(error.message_dict)
    born = identity.date_of_birth
    if not isinstance(born, dt.date):
        return errors  # full_clean named it
    if born > clinic_today(clinic):
        errors.setdefault("date_of_birth", []).append(_("The date of birth lies in the future."))
    elif too_early(born, earliest=EARLIEST_BIRTH):  # a date picker offers the year 0001
        errors.setdefault("date_of_birth", []).append(
            _("The date of birth lies before %(earliest)s: check the year.")
            % {"earliest": date_format(EARLIEST_BIRTH, "SHORT_DATE_FORMAT")}
        )
    return errors


def _check_not_recorded_yet(identity: PatientIdentity, clinic: Clinic) -> dict[str, list[str]]:
    """Refuse a second record of a person the clinic has (same names and date of birth)."""
    if not isinstance(identity.date_of_birth, dt.date):
        return {}
    same = same_person(
        clinic=clinic,
        given_name=identity.given_name,
        family_name=identity.family_name,
        date_of_birth=identity.date_of_birth,
    )
    if not same:
        return {}
    message = ngettext(
        "Patient %(codes)s has the same name and date of birth. Only if this is another person, "
        "confirm that a second record is wanted.",
        "Patients %(codes)s have the same name and date of birth. Only if this is another person, "
        "confirm that a further record is wanted.",
        len(same),
    ) % {"codes": ", ".join(patient.code for patient in same)}
    return {"allow_duplicate": [message]}


def _errors(
    patient: Patient,
    identity: PatientIdentity,
    *,
    allow_duplicate: bool,
    unchecked: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """Every problem of the record and its identity at once, by field (``unchecked``: not these)."""
    errors: dict[str, list[str]] = {}
    try:
        patient.full_clean(exclude=sorted(unchecked & PATIENT_FIELDS))
    except ValidationError as error:
        errors.update(error.message_dict)
    errors.update(_check_identity(identity, patient.clinic, unchecked=unchecked))
    if not allow_duplicate:
        errors.update(_check_not_recorded_yet(identity, patient.clinic))
    return errors


def _save_checked(
    patient: Patient,
    identity: PatientIdentity,
    *,
    allow_duplicate: bool,
    unchecked: frozenset[str] = frozenset(),
) -> None:
    errors = _errors(patient, identity, allow_duplicate=allow_duplicate, unchecked=unchecked)
    if errors:
        raise ValidationError(errors)
    patient.save()
    identity.patient = patient
    identity.save()


def _new_patient(
    *,
    clinic: Clinic,
    fitzpatrick: Any,
    glogau: Any,
    given_name: str,
    family_name: str,
    date_of_birth: Any,
    email: str = "",
    phone: str = "",
    address: str = "",
    language: str = "de",
    code: str | None = None,
) -> tuple[Patient, PatientIdentity]:
    """Unsaved; the skin types and date of birth may be empty (``None``, ``""``) for
    ``new_patient_problems``, which ``full_clean`` then names."""
    patient = Patient(
        clinic=clinic,
        code=(code or "").strip() or new_patient_code(clinic),
        fitzpatrick=fitzpatrick,
        glogau=glogau,
    )
    identity = PatientIdentity(
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        date_of_birth=date_of_birth,
        email=email,
        phone=phone,
        address=address,
        language=language,
    )
    return patient, identity


def new_patient_problems(
    *, clinic: Clinic, allow_duplicate: bool = False, **fields: Any
) -> dict[str, list[str]]:
    """What ``create_patient`` would refuse, by field; saves nothing.

    For a page whose form refused some fields already: it passes them empty (``None``) and shows
    the rest of the problems with the form's, all on one submit.
    """
    patient, identity = _new_patient(clinic=clinic, **fields)
    return _errors(patient, identity, allow_duplicate=allow_duplicate)


@transaction.atomic
def create_patient(
    *,
    clinic: Clinic,
    by: User,
    fitzpatrick: int,
    glogau: int,
    given_name: str,
    family_name: str,
    date_of_birth: dt.date,
    email: str = "",
    phone: str = "",
    address: str = "",
    language: str = "de",
    code: str | None = None,
    allow_duplicate: bool = False,
) -> Patient:
    """Create the clinical record and, apart from it, the identity; a code is generated if absent.

    A patient of the clinic with the same names (ignoring case) and date of birth is most likely
    the same person: refused (field ``allow_duplicate``) unless ``allow_duplicate`` confirms that
    this is another one.
    """
    require(by, Action.EDIT_PATIENT)
    if by.clinic_id != clinic.pk:
        raise ValidationError({"clinic": _("You can only add patients to your own clinic.")})
    patient, identity = _new_patient(
        clinic=clinic,
        fitzpatrick=fitzpatrick,
        glogau=glogau,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        email=email,
        phone=phone,
        address=address,
        language=language,
        code=code,
    )
    _save_checked(patient, identity, allow_duplicate=allow_duplicate)
    return patient


def patient_version(patient: Patient, identity: PatientIdentity) -> dict[str, Any]:
    """The record's and the identity's fields a user types: what a revision keeps."""
    return {
        **{name: getattr(patient, name) for name in sorted(PATIENT_FIELDS)},
        **{name: getattr(identity, name) for name in sorted(IDENTITY_FIELDS)},
    }


def _unknown_fields(changes: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        name: [_("This field cannot be changed.")]
        for name in sorted(set(changes) - PATIENT_FIELDS - IDENTITY_FIELDS)
    }


def _apply_changes(patient: Patient, identity: PatientIdentity, changes: Mapping[str, Any]) -> frozenset[str]:
    """Set ``changes`` on the record and the identity (unsaved); returns the fields to leave
    unchecked. A code or phone number a correction leaves as it was is not checked again: older
    records may have one from before their patterns were enforced, and correcting a name must not
    fail on it."""
    before = patient_version(patient, identity)
    for name, value in changes.items():
        setattr(patient if name in PATIENT_FIELDS else identity, name, value)
    typed = patient_version(patient, identity)
    return frozenset(name for name in ("code", "phone") if typed[name] == before[name])


def patient_correction_problems(
    *, patient: Patient, changes: Mapping[str, Any], reason: str
) -> dict[str, list[str]]:
    """What :func:`correct_patient` would refuse of these fields and reason, by field; saves nothing.

    For a page whose form refused some fields already: it passes them empty and shows the rest of
    the problems with the form's, all on one submit. (Whether anything changed at all is asked
    once the fields are right.)"""
    errors = _unknown_fields(changes)
    try:
        checked_reason(reason)
    except ValidationError as error:
        errors.update(error.message_dict)
    record = Patient.objects.get(pk=patient.pk)
    identity = PatientIdentity.objects.get(patient=record)
    known = {name: value for name, value in changes.items() if name not in errors}
    unchecked = _apply_changes(record, identity, known)
    errors.update(_errors(record, identity, allow_duplicate=True, unchecked=unchecked))
    return errors


@transaction.atomic
def correct_patient(*, patient: Patient, changes: Mapping[str, Any], reason: str, by: User) -> Patient:
    """Correct fields of the record (code, skin types) and of the identity in one go.

    The old version is kept as a revision with the ``reason`` (required); nothing is changed
    without one. Changes that leave every field as it was are refused and write nothing.
    """
    require(by, Action.EDIT_PATIENT)
    if unknown := _unknown_fields(changes):
        raise ValidationError(unknown)
    reason = checked_reason(reason)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    identity = PatientIdentity.objects.select_for_update().get(patient=patient)
    before = patient_version(patient, identity)
    kept = _apply_changes(patient, identity, changes)
    _save_checked(patient, identity, allow_duplicate=True, unchecked=kept)
    # Refused when every field is as it was: the saves above roll back with the refusal.
    record_revision(
        obj=patient,
        clinic=patient.clinic,
        patient=patient,
        before=before,
        after=patient_version(patient, identity),
        reason=reason,
        by=by,
    )
    return patient


@transaction.atomic
def record_screening(
    *, patient: Patient, answers: Sequence[Answer], answered_on: dt.date, by: User
) -> list[ScreeningAnswer]:
    """Record the contraindication screening answers given on ``answered_on`` (never a future day).

    Earlier answers are kept: the newest answer per item is the one that counts.
    """
    require(by, Action.EDIT_PATIENT)
    errors: dict[str, list[str]] = {}
    if answered_on > clinic_today(patient.clinic):
        errors["answered_on"] = [_("The screening date lies in the future.")]
    elif too_early(answered_on):
        errors["answered_on"] = [too_early_message()]
    if not answers:
        errors["answers"] = [_("Give at least one answer.")]
    items = [answer.item for answer in answers]
    if len(set(items)) != len(items):
        errors.setdefault("answers", []).append(_("An item is answered twice."))
    records = []
    for index, answer in enumerate(answers):
        prefix = f"answers.{index}"
        if answer.item not in ScreeningItem.values:
            errors[f"{prefix}.item"] = [
                _("Unknown screening item %(item)s. Known items: %(known)s.")
                % {"item": answer.item, "known": ", ".join(ScreeningItem.values)}
            ]
            continue
        if answer.present and answer.item in AREA_SPECIFIC and not answer.areas:
            errors[f"{prefix}.areas"] = [_("Name the areas this applies to.")]
        if answer.last_dose_on is not None and answer.last_dose_on > answered_on:
            errors[f"{prefix}.last_dose_on"] = [_("The last dose lies after the screening date.")]
        elif answer.last_dose_on is not None and too_early(answer.last_dose_on, earliest=EARLIEST_BIRTH):
            errors[f"{prefix}.last_dose_on"] = [too_early_message(EARLIEST_BIRTH)]
        record = ScreeningAnswer(
            patient=patient,
            item=answer.item,
            present=answer.present,
            areas=list(answer.areas),
            last_dose_on=answer.last_dose_on,
            note=answer.note,
            answered_on=answered_on,
            recorded_by=by,
        )
        try:
            record.full_clean()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(f"{prefix}.{name}", []).extend(messages)
        records.append(record)
    if errors:
        raise ValidationError(errors)
    for record in records:
        record.save()
    return records


SCREENING_CORRECTABLE_FIELDS = ("present", "areas", "last_dose_on", "note", "answered_on")


def _screening_version(answer: ScreeningAnswer) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in SCREENING_CORRECTABLE_FIELDS}


@transaction.atomic
def correct_screening_answer(
    *,
    answer: ScreeningAnswer,
    by: User,
    reason: str,
    present: bool,
    areas: Sequence[str] = (),
    last_dose_on: dt.date | None = None,
    note: str = "",
    answered_on: dt.date,
) -> ScreeningAnswer:
    """Correct one recorded screening answer (the item stays), keeping the old one as a revision.

    The checks of :func:`record_screening` apply to the corrected answer.
    """
    require(by, Action.EDIT_PATIENT)
    reason = checked_reason(reason)
    locked = ScreeningAnswer.objects.select_for_update().select_related("patient__clinic").get(pk=answer.pk)
    before = _screening_version(locked)
    errors: dict[str, list[str]] = {}
    if answered_on > clinic_today(locked.patient.clinic):
        errors["answered_on"] = [_("The screening date lies in the future.")]
    elif too_early(answered_on):
        errors["answered_on"] = [
            _("The screening date lies before %(earliest)s: check the year.")
            % {"earliest": date_format(EARLIEST, "SHORT_DATE_FORMAT")}
        ]
    if present and locked.item in AREA_SPECIFIC and not areas:
        errors["areas"] = [_("Name the areas this applies to.")]
    if last_dose_on is not None and last_dose_on > answered_on:
        errors["last_dose_on"] = [_("The last dose lies after the screening date.")]
    locked.present, locked.areas, locked.last_dose_on = present, list(areas), last_dose_on
    locked.note, locked.answered_on = note, answered_on
    try:
        locked.full_clean()
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    save_correction(
        obj=locked,
        fields=SCREENING_CORRECTABLE_FIELDS,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        before=before,
        after=_screening_version(locked),
        reason=reason,
        by=by,
    )
    return locked
