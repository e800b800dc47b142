"""Writes for treatment sessions: every entry point records a session through :func:`record_session`."""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.booking.services import complete_for_session
from exoderm.clinics.models import Clinic, User
from exoderm.core.access import get_in_clinic
from exoderm.core.areas import validate_areas
from exoderm.core.clock import too_early, too_early_message
from exoderm.core.errors import RuleViolations, Violation
from exoderm.core.permissions import Action, require
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.courses.services import mark_done
from exoderm.patients.models import Patient
from exoderm.products.models import Lot, LotStatus, Vial, VialState
from exoderm.products.services import consume_vial, return_vial
from exoderm.records.services import changed_fields, checked_reason, record_revision
from exoderm.treatments.models import (
    ExosomeApplication,
    LaserType,
    Procedure,
    ProcedureKind,
    ProtocolWarning,
    TreatmentSession,
)
from exoderm.treatments.protocol import (
    BLOCK,
    WARN,
    ApplicationDraft,
    ProcedureDraft,
    Rule,
    SessionDraft,
    check_session,
)

# Procedures and applications lie within this span around the session's time.
MAX_OFFSET = dt.timedelta(hours=6)
MAX_PROCEDURE_DURATION = dt.timedelta(hours=4)


@dataclass(frozen=True)
class ProcedureInput:
    """A procedure as a client sends it; ``params`` holds the kind's parameters (see PARAMS)."""

    kind: str
    areas: Sequence[str]
    started_at: dt.datetime
    ended_at: dt.datetime
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplicationInput:
    """An exosome application; ``lot`` and ``vial`` are ids within the clinic.

    Without ``vial`` the session uses the lot's vial thawed most recently and not used yet, or,
    when none is thawed, its first stored vial (which the protocol then judges: a frozen or
    lyophilized product must have been thawed or reconstituted).
    """

    lot: int
    volume_ml: Decimal | int | float
    areas: Sequence[str]
    applied_at: dt.datetime
    vial: int | None = None


def _decimal(low: Decimal, high: Decimal, *, low_inclusive: bool = True) -> Callable[[Any], Any]:
    def parse(value: Any) -> Decimal:
        number = _as_decimal(value)
        if number is None or not number.is_finite():
            raise ValueError(_("Give a number."))
        too_low = number < low or (not low_inclusive and number == low)
        if too_low or number > high:
            message = (
                _("Give a value from %(low)s to %(high)s.")
                if low_inclusive
                else _("Give a value above %(low)s and up to %(high)s.")
            )
            raise ValueError(message % {"low": low, "high": high})
        if number != number.quantize(Decimal("0.01")):
            raise ValueError(_("Give at most two decimal places."))
        return number

    return parse


def _integer(low: int, high: int) -> Callable[[Any], Any]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(_("Give a whole number."))
        if not low <= value <= high:
            raise ValueError(_("Give a value from %(low)s to %(high)s.") % {"low": low, "high": high})
        return value

    return parse


def _text(max_length: int) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_length:
            raise ValueError(_("Give a text of at most %(n)d characters.") % {"n": max_length})
        return value.strip()

    return parse


def _laser_type(value: Any) -> str:
    if value not in LaserType.values:
        raise ValueError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(LaserType.values)})
    return str(value)


# Per kind: parameter -> (parser, required). Unknown parameters are refused.
PARAMS: dict[str, dict[str, tuple[Callable[[Any], Any], bool]]] = {
    ProcedureKind.MICRONEEDLING: {
        "device": (_text(120), False),
        "needle_depth_mm": (_decimal(Decimal("0.1"), Decimal("3.0")), True),
        "passes": (_integer(1, 10), True),
    },
    ProcedureKind.FRACTIONAL_LASER: {
        "device": (_text(120), False),
        "laser_type": (_laser_type, True),
        "wavelength_nm": (_integer(500, 11_000), True),
        "pulse_energy_mj": (_decimal(Decimal("0"), Decimal("500"), low_inclusive=False), True),
        "density_pct": (_decimal(Decimal("0"), Decimal("100"), low_inclusive=False), True),
        "passes": (_integer(1, 10), True),
    },
}


class _Errors:
    """Collects field errors so that a client learns everything wrong with its input at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.by_field.setdefault(where, []).append(message)

    def add_validation(self, prefix: str, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                for message in messages:
                    self.add(f"{prefix}.{name}" if name != "__all__" else prefix, message)
        else:
            for message in error.messages:
                self.add(prefix, message)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _check_moment(errors: _Errors, where: str, value: dt.datetime, performed_at: dt.datetime | None) -> bool:
    if not isinstance(value, dt.datetime):
        errors.add(where, _("Give a date and time."))
        return False
    if timezone.is_naive(value):
        errors.add(where, _("Give the time with its UTC offset, for example 2026-12-01T10:00:00+01:00."))
        return False
    if too_early(value):  # also keeps the protocol's look-backs (screening, isotretinoin) in range
        errors.add(where, too_early_message())
        return False
    if performed_at is not None and abs(value - performed_at) > MAX_OFFSET:
        errors.add(
            where,
            _("This lies more than %(hours)d hours from the session's time.")
            % {"hours": MAX_OFFSET.total_seconds() // 3600},
        )
        return False
    return True


def _check_areas(errors: _Errors, where: str, areas: object) -> bool:
    try:
        validate_areas(list(areas) if isinstance(areas, list | tuple) else areas)
    except ValidationError as error:
        errors.add_validation(where, error)
        return False
    return True


def _procedure(
    errors: _Errors, index: int, data: ProcedureInput, performed_at: dt.datetime | None
) -> Procedure | None:
    where = f"procedures.{index}"
    if data.kind not in PARAMS:
        errors.add(
            f"{where}.kind", _("Choose one of: %(choices)s.") % {"choices": ", ".join(ProcedureKind.values)}
        )
        return None
    ok = _check_areas(errors, f"{where}.areas", data.areas)
    ok &= _check_moment(errors, f"{where}.started_at", data.started_at, performed_at)
    ok &= _check_moment(errors, f"{where}.ended_at", data.ended_at, performed_at)
    if ok and data.ended_at <= data.started_at:
        errors.add(f"{where}.ended_at", _("A procedure ends after it started."))
        ok = False
    elif ok and data.ended_at - data.started_at > MAX_PROCEDURE_DURATION:
        errors.add(
            f"{where}.ended_at",
            _("A procedure lasts at most %(hours)d hours.")
            % {"hours": MAX_PROCEDURE_DURATION.total_seconds() // 3600},
        )
        ok = False
    allowed = PARAMS[data.kind]
    values: dict[str, Any] = {}
    params = data.params if isinstance(data.params, Mapping) else {}
    for name in params:
        if name not in allowed:
            errors.add(
                f"{where}.params.{name}",
                _("%(kind)s takes no parameter %(name)s; it takes: %(allowed)s.")
                % {"kind": data.kind, "name": name, "allowed": ", ".join(allowed)},
            )
            ok = False
    for name, (parse, required) in allowed.items():
        if name not in params or params[name] is None:
            if required:
                errors.add(f"{where}.params.{name}", _("This parameter is required."))
                ok = False
            continue
        try:
            values[name] = parse(params[name])
        except ValueError as error:
            errors.add(f"{where}.params.{name}", str(error))
            ok = False
    if not ok:
        return None
    return Procedure(
        kind=data.kind,
        areas=list(data.areas),
        started_at=data.started_at,
        ended_at=data.ended_at,
        **values,
    )


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _vial_for(lot: Lot, vial_id: int | None, *, clinic_vials: Any) -> Vial | None:
    """The named vial of ``lot`` (404 unless it is one), else the one the session would use.

    Without a name: the lot's vial thawed most recently and not used yet, else its first stored one.
    """
    if vial_id is not None:
        vial: Vial = get_in_clinic(clinic_vials.filter(lot=lot), lot.product.clinic, vial_id)
        return vial
    thawed = clinic_vials.filter(lot=lot, state=VialState.THAWED).order_by("-thawed_at", "-serial").first()
    return thawed or clinic_vials.filter(lot=lot, state=VialState.STORED).order_by("serial").first()


def _application(
    errors: _Errors, index: int, data: ApplicationInput, performed_at: dt.datetime | None, clinic: Clinic
) -> ExosomeApplication | None:
    where = f"applications.{index}"
    lot: Lot = get_in_clinic(Lot.objects.select_related("product"), clinic, data.lot)
    vial = _vial_for(
        lot, data.vial, clinic_vials=Vial.objects.select_for_update(of=("self",)).select_related("lot")
    )
    ok = _check_areas(errors, f"{where}.areas", data.areas)
    ok &= _check_moment(errors, f"{where}.applied_at", data.applied_at, performed_at)
    volume = _as_decimal(data.volume_ml)
    if volume is None or not volume.is_finite() or volume <= 0:
        errors.add(f"{where}.volume_ml", _("Give a volume above 0 ml."))
        ok = False
    elif volume > lot.product.vial_volume_ml:
        errors.add(
            f"{where}.volume_ml",
            _("A vial of %(product)s holds %(volume)s ml.")
            % {"product": lot.product.name, "volume": lot.product.vial_volume_ml},
        )
        ok = False
    elif volume != volume.quantize(Decimal("0.01")):
        errors.add(f"{where}.volume_ml", _("Give at most two decimal places."))
        ok = False
    if vial is not None and vial.state not in {VialState.STORED, VialState.THAWED}:
        errors.add(
            f"{where}.vial",
            _("Vial %(vial)s was already used or discarded.") % {"vial": vial},
        )
        ok = False
    if not ok or volume is None:
        return None
    return ExosomeApplication(
        lot=lot, vial=vial, volume_ml=volume, areas=list(data.areas), applied_at=data.applied_at
    )


@dataclass(frozen=True)
class _Chart:
    """A session's procedures and applications, checked against the protocol, not saved yet."""

    procedures: list[Procedure]
    applications: list[ExosomeApplication]
    warnings: list[Violation]


def _checked_chart(
    *,
    session: TreatmentSession,
    clinic: Clinic,
    procedures: Sequence[ProcedureInput],
    applications: Sequence[ApplicationInput],
    acknowledged_warnings: Collection[str],
    lots_in_use: Collection[int] = (),
) -> _Chart:
    """Parse and check a chart for ``session`` (its patient, time and notes set, not saved).

    Bad input raises ``ValidationError``, an id outside the clinic ``NotFound``, a blocking rule
    or an unacknowledged warning ``RuleViolations``. ``lots_in_use`` names lots the session used
    before a correction: their status now (depleted, expired or recalled since) is not held
    against the session, which was checked with them when it was recorded.
    """
    performed_at = session.performed_at
    errors = _Errors()
    session_time = performed_at if _check_moment(errors, "performed_at", performed_at, None) else None
    if not procedures and not applications:
        errors.add("procedures", _("Record at least one procedure."))
    unknown = sorted(set(acknowledged_warnings) - set(Rule))
    if unknown:
        errors.add(
            "acknowledged_warnings",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(Rule)},
        )
    drafts_p = [_procedure(errors, i, p, session_time) for i, p in enumerate(procedures)]
    drafts_a = [_application(errors, i, a, session_time, clinic) for i, a in enumerate(applications)]
    used: dict[int, Decimal] = {}
    for index, application in enumerate(drafts_a):
        if application is not None and application.vial_id is not None:
            used[application.vial_id] = used.get(application.vial_id, Decimal(0)) + application.volume_ml
            if used[application.vial_id] > application.lot.product.vial_volume_ml:
                errors.add(
                    f"applications.{index}.volume_ml",
                    _("Together the applications take more than vial %(vial)s holds (%(volume)s ml).")
                    % {"vial": application.vial, "volume": application.lot.product.vial_volume_ml},
                )
    for prefix, objects in (("procedures", drafts_p), ("applications", drafts_a)):
        for index, obj in enumerate(objects):
            if obj is not None:
                try:
                    obj.full_clean(exclude=["session", "vial"])
                except ValidationError as error:
                    errors.add_validation(f"{prefix}.{index}", error)
    try:
        session.full_clean(exclude=["performed_at"])
    except ValidationError as error:
        errors.add_validation("session", error)
    errors.raise_any()
    saved_procedures = [p for p in drafts_p if p is not None]
    saved_applications = [a for a in drafts_a if a is not None]

    draft = SessionDraft(
        patient=session.patient,
        performed_at=performed_at,
        procedures=[
            ProcedureDraft(
                kind=p.kind,
                areas=p.areas,
                started_at=p.started_at,
                ended_at=p.ended_at,
                laser_type=p.laser_type,
            )
            for p in saved_procedures
        ],
        applications=[
            ApplicationDraft(
                lot=_as_checked(a.lot, lots_in_use),
                vial=a.vial if a.vial_id is not None else None,
                volume_ml=a.volume_ml,
                areas=a.areas,
                applied_at=a.applied_at,
            )
            for a in saved_applications
        ],
    )
    violations = check_session(draft, clinic=clinic)
    refused = [
        v
        for v in violations
        if v.severity == BLOCK or (v.severity == WARN and v.rule not in acknowledged_warnings)
    ]
    if refused:
        raise RuleViolations(refused)
    return _Chart(saved_procedures, saved_applications, [v for v in violations if v.severity == WARN])


def _as_checked(lot: Lot, lots_in_use: Collection[int]) -> Lot:
    """``lot`` as the protocol judges it: one the session used before its correction counts as the
    released lot it was when the session was recorded (the protocol still checks its expiry date
    against the application's time)."""
    if lot.pk not in lots_in_use:
        return lot
    as_recorded = copy.copy(lot)
    as_recorded.status = LotStatus.RELEASED
    return as_recorded


def _save_chart(session: TreatmentSession, chart: _Chart, *, by: User) -> None:
    """Save the checked chart of the saved ``session``: its rows, its vials used, its warnings
    acknowledged by ``by``."""
    for procedure in chart.procedures:
        procedure.session = session
        procedure.save()
    for application in chart.applications:
        application.session = session
        application.save()
    for vial in {a.vial_id: a.vial for a in chart.applications}.values():
        consume_vial(vial=vial, at=session.performed_at, by=by)
    now = timezone.now()
    ProtocolWarning.objects.bulk_create(
        ProtocolWarning(
            session=session,
            rule=v.rule,
            recorded_message=v.message,
            params=v.params,
            acknowledged_by=by,
            acknowledged_at=now,
        )
        for v in chart.warnings
    )


@transaction.atomic
def record_session(
    *,
    patient: Patient,
    clinician: User,
    performed_at: dt.datetime,
    procedures: Sequence[ProcedureInput],
    applications: Sequence[ApplicationInput],
    acknowledged_warnings: Collection[str] = (),
    notes: str = "",
) -> TreatmentSession:
    """Record a session if it keeps the protocol; refuse it whole otherwise.

    Bad input raises ``ValidationError`` (field paths like ``applications.0.volume_ml``), an id
    outside the clinician's clinic ``NotFound``, a session that breaks a blocking rule or has a
    warning the clinician did not acknowledge (by rule id) ``RuleViolations`` listing them all.
    Saved warnings record the clinician as the one who acknowledged them. The session uses up
    its vials, completes the patient's appointment of that day (see
    ``booking.services.complete_for_session``) and the planned session visit due that day, if
    there is one.
    """
    require(clinician, Action.CHART_SESSION)
    clinic = clinician.clinic
    assert clinic is not None  # require() admits only clinic users
    patient = get_in_clinic(Patient, clinic, patient.pk)
    session = TreatmentSession(patient=patient, clinician=clinician, performed_at=performed_at, notes=notes)
    chart = _checked_chart(
        session=session,
        clinic=clinic,
        procedures=procedures,
        applications=applications,
        acknowledged_warnings=acknowledged_warnings,
    )
    session.save()
    _save_chart(session, chart, by=clinician)
    # the appointment first, so it is linked to the session before the visit's completion reaches it
    complete_for_session(session=session, clinic_time_zone=clinic.time_zone)
    _complete_visit(session, clinic_time_zone=clinic.time_zone)
    return session


def session_version(session: TreatmentSession) -> dict[str, Any]:
    """The whole chart of ``session`` as JSON-ready data: what a revision keeps of the old version."""
    return {
        "performed_at": session.performed_at,
        "clinician": session.clinician_id,
        "notes": session.notes,
        "procedures": [
            {
                "kind": p.kind,
                "areas": list(p.areas),
                "started_at": p.started_at,
                "ended_at": p.ended_at,
                "params": {
                    name: getattr(p, name) for name in PARAMS[p.kind] if getattr(p, name) not in (None, "")
                },
            }
            for p in session.procedures.order_by("started_at", "id")
        ],
        "applications": [
            {
                "lot": a.lot_id,
                "lot_number": a.lot.number,
                "vial": a.vial_id,
                "vial_serial": a.vial.serial,
                "volume_ml": a.volume_ml,
                "areas": list(a.areas),
                "applied_at": a.applied_at,
            }
            for a in session.applications.select_related("lot", "vial").order_by("applied_at", "id")
        ],
        "acknowledged_warnings": [
            {
                "rule": w.rule,
                "message": w.recorded_message,
                "params": w.params,
                "acknowledged_by": w.acknowledged_by_id,
                "acknowledged_at": w.acknowledged_at,
            }
            for w in session.warnings.order_by("id")
        ],
    }


@transaction.atomic
def correct_session(
    *,
    session: TreatmentSession,
    by: User,
    reason: str,
    performed_at: dt.datetime,
    procedures: Sequence[ProcedureInput],
    applications: Sequence[ApplicationInput],
    acknowledged_warnings: Collection[str] = (),
    notes: str = "",
) -> TreatmentSession:
    """Replace the chart of a recorded session by a corrected one, with a required ``reason``.

    The corrected chart goes through the same checks as a new session (:func:`record_session`),
    with the session's own vials available again; a correction that breaks a rule is refused
    whole and the recorded version stays. Otherwise the old procedures, applications and
    acknowledged warnings are replaced (the revision keeps them all), vials the session no
    longer uses go back to thawed and the new ones are used. The session keeps its clinician
    (who treated); the revision names ``by``, who corrected it.
    """
    require(by, Action.CHART_SESSION)
    clinic = by.clinic
    assert clinic is not None  # require() admits only clinic users
    reason = checked_reason(reason)
    locked: TreatmentSession = get_in_clinic(
        TreatmentSession.objects.select_for_update(of=("self",)).select_related("patient"), clinic, session.pk
    )
    before = session_version(locked)
    old_applications = list(locked.applications.select_related("vial"))
    lots_in_use = {a.lot_id for a in old_applications}
    for vial in {a.vial_id: a.vial for a in old_applications}.values():
        return_vial(
            vial=vial,
            at=timezone.now(),
            by=by,
            reason=_("Correction of session %(id)s: %(reason)s") % {"id": locked.pk, "reason": reason},
        )
    # The revision below keeps the old rows; the current chart holds only the corrected version.
    locked.applications.all().delete()
    locked.procedures.all().delete()
    locked.warnings.all().delete()
    locked.performed_at, locked.notes = performed_at, notes
    # An application that names no vial stays on the vial the session used of its lot, rather
    # than moving to whichever vial of the lot was thawed last (perhaps for another patient).
    vial_of_lot = {a.lot_id: a.vial_id for a in old_applications}
    chart = _checked_chart(
        session=locked,
        clinic=clinic,
        procedures=procedures,
        applications=[
            a if a.vial is not None else replace(a, vial=vial_of_lot.get(a.lot)) for a in applications
        ],
        acknowledged_warnings=acknowledged_warnings,
        lots_in_use=lots_in_use,
    )
    locked.save(update_fields=["performed_at", "notes"])
    _save_chart(locked, chart, by=by)
    after = session_version(locked)
    # A chart saved as it was is no correction, though its warnings were acknowledged again (by the
    # corrector, now): refused, and the replaced rows and returned vials roll back with it.
    if not changed_fields(_chart_of(before), _chart_of(after)):
        raise ValidationError(
            _(
                "Nothing was changed: the chart is the one already recorded, so there is nothing to "
                "correct. Acknowledging its warnings again does not change it."
            )
        )
    record_revision(
        obj=locked,
        clinic=clinic,
        patient=locked.patient,
        before=before,
        after=after,
        reason=reason,
        by=by,
    )
    return locked


def _chart_of(version: Mapping[str, Any]) -> dict[str, Any]:
    """A session's version without the acknowledgements of its warnings: what a correction corrects."""
    return {name: value for name, value in version.items() if name != "acknowledged_warnings"}


def _complete_visit(session: TreatmentSession, *, clinic_time_zone: str) -> None:
    """Mark the patient's planned session visit due on the session's day done, if there is one."""
    day = session.performed_at.astimezone(zoneinfo.ZoneInfo(clinic_time_zone)).date()
    visit = (
        Visit.objects.filter(
            course__patient=session.patient,
            kind=VisitKind.SESSION,
            status=VisitStatus.PLANNED,
            due_from__lte=day,
            due_until__gte=day,
        )
        .order_by("planned_at")
        .first()
    )
    if visit is not None:
        mark_done(visit=visit, by=session.clinician)
        # mark_done has no session argument (yet): link the visit to the session that fulfilled it.
        Visit.objects.filter(pk=visit.pk).update(session=session)
