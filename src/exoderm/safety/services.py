"""Writes for adverse events: recording one and correcting it with the reason kept.

Both run every check of an event (:func:`_errors_of`) and either save it whole or raise
``ValidationError`` with every problem by field, messages in the active language.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from exoderm.core.access import get_in_clinic
from exoderm.core.clock import too_early, too_early_message
from exoderm.core.permissions import Action, require
from exoderm.core.text import text_problem
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.records.services import checked_reason, save_correction
from exoderm.safety.models import AdverseEvent, Side, Term
from exoderm.treatments.models import TreatmentSession

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic, User

#: What a correction may change; the patient and who recorded the event stay.
CORRECTABLE_FIELDS = (
    "term",
    "description",
    "side",
    "onset",
    "resolved_on",
    "severity",
    "serious",
    "report_date",
    "related_to_procedure",
    "related_to_product",
    "session",
)


def event_version(event: AdverseEvent) -> dict[str, Any]:
    """The correctable fields of ``event`` (the session by id): what a revision keeps."""
    return {name: getattr(event, "session_id" if name == "session" else name) for name in CORRECTABLE_FIELDS}


def _clinic_of(user: User) -> Clinic:
    clinic = user.clinic
    assert clinic is not None  # require() admits only users of a clinic
    return clinic


def _session_in_clinic(session: TreatmentSession | None, clinic: Clinic) -> TreatmentSession | None:
    """The session re-read within ``clinic`` (``NotFound`` for another clinic's)."""
    if session is None:
        return None
    return get_in_clinic(TreatmentSession.objects.select_related("patient"), clinic, session.pk)


def _refuse_restricted(patient: Patient) -> None:
    if patient.restricted_at is not None:
        raise ValidationError(
            {
                "patient": [
                    _(
                        "The patient asked for their data to be erased: the record is restricted "
                        "and nothing is added to it any more."
                    )
                ]
            }
        )


def _date_errors(event: AdverseEvent, today: dt.date, time_zone: str) -> dict[str, list[str]]:
    """The date rules: nothing in the future or before the records begin, resolution and report
    not before onset, onset not before the session the event follows."""
    errors: dict[str, list[str]] = {}
    onset = event.onset
    if not isinstance(onset, dt.date):
        return errors  # clean_fields named it
    if onset > today:
        errors["onset"] = [_("The onset lies in the future.")]
    elif too_early(onset):
        errors["onset"] = [too_early_message()]
    elif event.session is not None and event.session.patient_id == event.patient_id:
        session_day = event.session.performed_at.astimezone(zoneinfo.ZoneInfo(time_zone)).date()
        if onset < session_day:
            errors["onset"] = [_("The onset lies before the session the event follows.")]
    if isinstance(event.resolved_on, dt.date):
        if event.resolved_on > today:
            errors["resolved_on"] = [_("The resolution date lies in the future.")]
        elif event.resolved_on < onset:
            errors["resolved_on"] = [_("The event cannot resolve before its onset.")]
    if isinstance(event.report_date, dt.date):
        if event.report_date > today:
            errors["report_date"] = [_("The report date lies in the future.")]
        elif event.report_date < onset:
            errors["report_date"] = [_("The report date lies before the onset.")]
    elif event.serious is True:
        errors["report_date"] = [_("A serious event needs the date it was reported on.")]
    return errors


def _errors_of(event: AdverseEvent, *, patient: Patient) -> dict[str, list[str]]:
    """Every problem of ``event`` by field (empty when it can be saved)."""
    errors: dict[str, list[str]] = {}
    if isinstance(event.description, str):
        event.description = event.description.strip()
        problem = text_problem(event.description)
        if problem is not None:
            errors["description"] = [problem]
    try:
        # Converts what came as text (dates, numbers) and checks choices and lengths; the
        # constraints are checked below with messages that say what to do.
        event.clean_fields(exclude=["patient", "session", "recorded_by", *errors])
    except ValidationError as error:
        errors.update(error.message_dict)
    if not isinstance(event.serious, bool) and "serious" not in errors:
        errors["serious"] = [_("Say whether the event is serious (true or false).")]
    if event.term == Term.OTHER and not event.description and "description" not in errors:
        errors["description"] = [_("Describe the event: its term is “other”.")]
    if event.session is not None and event.session.patient_id != patient.pk:
        errors["session"] = [_("The session is another patient's.")]
    clinic = patient.clinic
    for name, messages in _date_errors(event, clinic_today(clinic), clinic.time_zone).items():
        errors.setdefault(name, []).extend(messages)
    return errors


@transaction.atomic
def record_adverse_event(
    *,
    user: User,
    patient: Patient,
    term: str,
    onset: dt.date,
    severity: int,
    serious: bool,
    related_to_procedure: str,
    related_to_product: str,
    side: str = Side.WHOLE,
    session: TreatmentSession | None = None,
    resolved_on: dt.date | None = None,
    report_date: dt.date | None = None,
    description: str = "",
) -> AdverseEvent:
    """Record an adverse event of ``patient``, optionally after one of their sessions.

    ``severity`` is the CTCAE grade (1 to 5); relatedness to the procedure and to the product one of
    :class:`~exoderm.safety.models.Relatedness`; a serious event needs its ``report_date``; the
    term ``other`` needs a ``description``. Dates lie on the clinic's calendar, none in the future;
    resolution and report not before the onset, the onset not before the session's day. A patient
    or session of another clinic is ``NotFound``; a restricted record takes no new events.
    """
    require(user, Action.RECORD_ADVERSE_EVENT)
    clinic = _clinic_of(user)
    patient = get_in_clinic(Patient.objects.select_related("clinic"), clinic, patient.pk)
    _refuse_restricted(patient)
    event = AdverseEvent(
        patient=patient,
        session=_session_in_clinic(session, clinic),
        term=term,
        description=description,
        side=side,
        onset=onset,
        resolved_on=resolved_on,
        severity=severity,
        serious=serious,
        report_date=report_date,
        related_to_procedure=related_to_procedure,
        related_to_product=related_to_product,
        recorded_by=user,
    )
    errors = _errors_of(event, patient=patient)
    if errors:
        raise ValidationError(errors)
    event.save()
    return event


@transaction.atomic
def update_adverse_event(*, user: User, event: AdverseEvent, reason: str, **changes: Any) -> AdverseEvent:
    """Correct fields of a recorded event (any of :data:`CORRECTABLE_FIELDS`), keeping the version
    before as a revision with the ``reason`` (required).

    The corrected event goes through the checks of :func:`record_adverse_event`; it is saved whole
    or not at all. Typically a resolution date is added, or the grade or relatedness reassessed.
    Changes that leave every field as it was are refused and write nothing.
    """
    require(user, Action.CORRECT_ADVERSE_EVENT)
    clinic = _clinic_of(user)
    unknown = set(changes) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
    reason = checked_reason(reason)
    locked: AdverseEvent = get_in_clinic(
        AdverseEvent.objects.select_for_update(of=("self",)).select_related("patient__clinic", "session"),
        clinic,
        event.pk,
    )
    _refuse_restricted(locked.patient)
    before = event_version(locked)
    if "session" in changes:
        changes["session"] = _session_in_clinic(changes["session"], clinic)
    for name, value in changes.items():
        setattr(locked, name, value)
    errors = _errors_of(locked, patient=locked.patient)
    if errors:
        raise ValidationError(errors)
    save_correction(
        obj=locked,
        fields=CORRECTABLE_FIELDS,
        clinic=clinic,
        patient=locked.patient,
        before=before,
        after=event_version(locked),
        reason=reason,
        by=user,
    )
    return locked
