"""Writes of the appointment book: book, move, cancel, mark a no-show, check a patient in (and
take it back), complete an appointment when its treatment or visit is recorded.

Completion is driven from the apps that record what took place: ``treatments.services`` and
``courses.services`` call :func:`complete_for_session` and :func:`close_visit_appointments`, as
courses already did for cancelled and missed visits; the booking app reads neither's services.

No clinician, room or device is in two booked appointments at the same time. The check runs in
the booking's transaction after locking the rows of the resources involved (always in the order
clinician, room, device, so two bookings cannot wait on each other): on PostgreSQL a second
booking of the same resource waits for the first to commit and then sees it; SQLite lets one
writer at a time anyway. Intervals are half-open, so one appointment may end when the next starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from exoderm.booking.calendar import ClinicCalendar, Span
from exoderm.booking.models import (
    BLOCKING,
    DEFAULT_MINUTES,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Closure,
    Device,
    OpeningHours,
    Room,
    WorkingHours,
)
from exoderm.clinics.models import Clinic, Role, User
from exoderm.core.clock import EARLIEST, PLAN_AHEAD, too_early, too_far_ahead
from exoderm.core.permissions import Action, require
from exoderm.patients.models import Patient

LONGEST = dt.timedelta(hours=12)
"""No appointment is longer: a longer one is a typo in the end time."""

KEEP = object()
"""Passed for a resource of :func:`move_appointment`: the appointment keeps the one it has."""


@dataclasses.dataclass(frozen=True)
class ClashItem:
    """One booked appointment that occupies a resource the new one needs."""

    resource: str  # "clinician", "room" or "device"
    name: str
    appointment_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "name": self.name,
            "appointment": self.appointment_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "message": self.message,
        }


class Clash(ValidationError):
    """A booking refused because a clinician, room or device is booked already at that time.

    A ``ValidationError`` (with one message per clash), so that forms show it like any refusal;
    the API answers it with 409 and the list of clashes.
    """

    def __init__(self, clashes: list[ClashItem]) -> None:
        super().__init__([item.message for item in clashes])
        self.clashes = clashes


def default_end(kind: str, starts_at: dt.datetime) -> dt.datetime:
    """The end of an appointment of ``kind`` that starts at ``starts_at`` and has its default length."""
    return starts_at + dt.timedelta(minutes=DEFAULT_MINUTES[kind])


def _time_text(value: dt.datetime, tz: Any) -> str:
    return formats.date_format(value.astimezone(tz), "SHORT_DATETIME_FORMAT")


def find_clashes(
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    clinician: User,
    room: Room | None = None,
    device: Device | None = None,
    ignore: int | None = None,
) -> list[ClashItem]:
    """The booked appointments that overlap ``starts_at``–``ends_at`` and need one of the same
    clinician, room or device (``ignore``: the id of an appointment being moved)."""
    needs = Q(clinician=clinician)
    if room is not None:
        needs |= Q(room=room)
    if device is not None:
        needs |= Q(device=device)
    overlapping = (
        Appointment.objects.filter(needs, status__in=BLOCKING, starts_at__lt=ends_at, ends_at__gt=starts_at)
        .filter(patient__restricted_at__isnull=True)
        .select_related("clinician", "room", "device", "clinic")
        .order_by("starts_at", "pk")
    )
    if ignore is not None:
        overlapping = overlapping.exclude(pk=ignore)
    found = []
    for other in overlapping:
        tz = zoneinfo.ZoneInfo(other.clinic.time_zone)
        span = {"start": _time_text(other.starts_at, tz), "end": _time_text(other.ends_at, tz)}
        if other.clinician_id == clinician.pk:
            name = clinician.display_name
            found.append(
                ClashItem(
                    "clinician",
                    name,
                    other.pk,
                    other.starts_at,
                    other.ends_at,
                    _("%(name)s is booked from %(start)s to %(end)s.") % {"name": name, **span},
                )
            )
        if room is not None and other.room_id == room.pk:
            found.append(
                ClashItem(
                    "room",
                    room.name,
                    other.pk,
                    other.starts_at,
                    other.ends_at,
                    _("Room %(name)s is booked from %(start)s to %(end)s.") % {"name": room.name, **span},
                )
            )
        if device is not None and other.device_id == device.pk:
            found.append(
                ClashItem(
                    "device",
                    device.name,
                    other.pk,
                    other.starts_at,
                    other.ends_at,
                    _("The device %(name)s is booked from %(start)s to %(end)s.")
                    % {"name": device.name, **span},
                )
            )
    return found


def lock_resources(*, clinician: User, room: Room | None, device: Device | None) -> None:
    """Lock the rows of the resources of a booking until the transaction ends (PostgreSQL; SQLite
    writes one transaction at a time). ``no_key``: inserts that merely reference the user (its
    sessions, its audit events) are not held up."""
    list(User.objects.select_for_update(no_key=True).filter(pk=clinician.pk).values_list("pk"))
    if room is not None:
        list(Room.objects.select_for_update(no_key=True).filter(pk=room.pk).values_list("pk"))
    if device is not None:
        list(Device.objects.select_for_update(no_key=True).filter(pk=device.pk).values_list("pk"))


def _resource_errors(
    clinic: Clinic, *, clinician: User, room: Room | None, device: Device | None
) -> dict[str, str]:
    errors = {}
    if not (clinician.clinic_id == clinic.pk and clinician.role == Role.CLINICIAN and clinician.is_active):
        errors["clinician"] = _("Choose an active clinician of the clinic.")
    if room is not None and (room.clinic_id != clinic.pk or not room.active):
        errors["room"] = _("Choose a room of the clinic that is in use.")
    if device is not None and (device.clinic_id != clinic.pk or not device.active):
        errors["device"] = _("Choose a device of the clinic that is in use.")
    return errors


def _time_errors(starts_at: dt.datetime, ends_at: dt.datetime, *, planned: bool) -> dict[str, str]:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if timezone.is_naive(value):
            return {
                name: _(
                    "Give the time with its UTC offset or time zone (for example 2026-03-10T10:00:00+01:00)."
                )
            }
    if too_early(starts_at):
        return {
            "starts_at": _("The date lies before %(earliest)s: check the year.")
            % {"earliest": formats.date_format(EARLIEST, "SHORT_DATE_FORMAT")}
        }
    # A course plans its visits up to PLAN_AHEAD from its start, so their appointments reach further.
    if too_far_ahead(starts_at) and not planned:
        return {
            "starts_at": _("Appointments are booked at most until %(latest)s: check the year.")
            % {"latest": formats.date_format(timezone.now().date() + PLAN_AHEAD, "SHORT_DATE_FORMAT")}
        }
    if ends_at <= starts_at:
        return {"ends_at": _("The end must lie after the start.")}
    if ends_at - starts_at > LONGEST:
        return {"ends_at": _("An appointment lasts at most 12 hours: check the end.")}
    return {}


def _check(
    appointment: Appointment, *, calendar: ClinicCalendar | None = None, ignore: int | None = None
) -> None:
    """Refuse ``appointment`` unless its times are valid, its resources the clinic's, the clinic
    open and the clinician working, and nothing it needs booked already; locks the resources."""
    clinic = appointment.clinic
    planned = appointment.visit_id is not None
    errors = _time_errors(appointment.starts_at, appointment.ends_at, planned=planned)
    errors.update(
        _resource_errors(
            clinic, clinician=appointment.clinician, room=appointment.room, device=appointment.device
        )
    )
    if errors:
        raise ValidationError(errors)
    # Hours and closures govern what lies ahead; a time already past records what took place.
    if appointment.starts_at > timezone.now():
        calendar = calendar or ClinicCalendar.of(clinic)
        refused = calendar.refusals(
            clinician=appointment.clinician, starts_at=appointment.starts_at, ends_at=appointment.ends_at
        )
        if refused:
            raise ValidationError({"starts_at": refused})
    appointment.full_clean()
    lock_resources(clinician=appointment.clinician, room=appointment.room, device=appointment.device)
    clashes = find_clashes(
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        clinician=appointment.clinician,
        room=appointment.room,
        device=appointment.device,
        ignore=ignore,
    )
    if clashes:
        raise Clash(clashes)


@transaction.atomic
def book_appointment(
    *,
    patient: Patient,
    kind: str,
    starts_at: dt.datetime,
    clinician: User,
    by: User,
    ends_at: dt.datetime | None = None,
    room: Room | None = None,
    device: Device | None = None,
    visit: Any = None,
    calendar: ClinicCalendar | None = None,
) -> Appointment:
    """Book ``patient`` with ``clinician`` (and ``room``, ``device``) from ``starts_at`` to
    ``ends_at`` (default: the kind's default length).

    Raises ``ValidationError`` for invalid input, a closed clinic or a clinician off work, and
    :class:`Clash` when a resource is booked already; nothing is saved then. ``visit`` (a course's
    planned visit of the same patient) is the visit this appointment books.
    """
    require(by, Action.EDIT_PATIENT)
    clinic = patient.clinic
    if kind not in AppointmentKind.values:
        raise ValidationError({"kind": _("Choose one of the appointment kinds.")})
    if patient.restricted_at is not None:
        raise ValidationError({"patient": _("This record is restricted: nobody is booked for it.")})
    if visit is not None and visit.course.patient_id != patient.pk:
        raise ValidationError({"visit": _("This visit belongs to another patient.")})
    if ends_at is None and not timezone.is_naive(starts_at):
        ends_at = default_end(kind, starts_at)
    appointment = Appointment(
        clinic=clinic,
        patient=patient,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at or starts_at,
        clinician=clinician,
        room=room,
        device=device,
        visit=visit,
        created_by=by,
    )
    _check(appointment, calendar=calendar)
    appointment.save()
    return appointment


def _arrived_message() -> str:
    return _("The patient has arrived already: take back the check-in first.")


def _lock(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("clinic", "clinician", "room", "device", "visit", "patient")
        .get(pk=appointment.pk)
    )


def _lock_booked(appointment: Appointment) -> Appointment:
    locked = _lock(appointment)
    if locked.status == AppointmentStatus.ARRIVED:
        raise ValidationError({"status": _arrived_message()})
    if locked.status != AppointmentStatus.BOOKED:
        raise ValidationError(
            {
                "status": _("This appointment is %(status)s; only a booked one can be changed.")
                % {"status": locked.get_status_display().lower()}
            }
        )
    return locked


@transaction.atomic
def move_appointment(
    *,
    appointment: Appointment,
    by: User,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
    clinician: Any = KEEP,
    room: Any = KEEP,
    device: Any = KEEP,
) -> Appointment:
    """Move a booked appointment to another time (it keeps its length unless ``ends_at`` is
    given) or other resources (``None`` for ``room`` or ``device`` frees it). The same checks as a
    new booking, the appointment itself aside. A course's visit it books moves along."""
    require(by, Action.EDIT_PATIENT)
    appointment = _lock_booked(appointment)
    length = appointment.ends_at - appointment.starts_at
    if starts_at is not None:
        appointment.starts_at = starts_at
        if ends_at is None and not timezone.is_naive(starts_at):
            appointment.ends_at = starts_at + length
    if ends_at is not None:
        appointment.ends_at = ends_at
    if clinician is not KEEP:
        appointment.clinician = clinician
    if room is not KEEP:
        appointment.room = room
    if device is not KEEP:
        appointment.device = device
    _check(appointment, ignore=appointment.pk)
    appointment.save()
    visit = appointment.visit
    if visit is not None and visit.planned_at != appointment.starts_at:
        visit.planned_at = appointment.starts_at
        visit.save(update_fields=["planned_at"])
    return appointment


@transaction.atomic
def cancel_appointment(*, appointment: Appointment, by: User) -> Appointment:
    """Cancel a booked appointment: its time, clinician, room and device are free again."""
    require(by, Action.EDIT_PATIENT)
    appointment = _lock_booked(appointment)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.save(update_fields=["status"])
    return appointment


@transaction.atomic
def mark_no_show(*, appointment: Appointment, by: User) -> Appointment:
    """Record that the patient did not come; only once the appointment has begun."""
    require(by, Action.EDIT_PATIENT)
    appointment = _lock_booked(appointment)
    if appointment.starts_at > timezone.now():
        raise ValidationError(
            {"status": _("The appointment has not begun yet, so the patient cannot have missed it.")}
        )
    appointment.status = AppointmentStatus.NO_SHOW
    appointment.save(update_fields=["status"])
    return appointment


def clinic_day(appointment: Appointment) -> dt.date:
    """The clinic's calendar day the appointment begins on."""
    return appointment.starts_at.astimezone(zoneinfo.ZoneInfo(appointment.clinic.time_zone)).date()


def _day_bounds(day: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


@transaction.atomic
def check_in(*, appointment: Appointment, by: User) -> Appointment:
    """Record that the patient has arrived (now, checked in by ``by``); only on the appointment's
    day on the clinic's calendar. The appointment keeps its clinician, room and device."""
    require(by, Action.EDIT_PATIENT)
    locked = _lock_booked(appointment)
    tz = zoneinfo.ZoneInfo(locked.clinic.time_zone)
    now = timezone.now()
    if clinic_day(locked) != now.astimezone(tz).date():
        raise ValidationError(
            {
                "status": _("A patient is checked in on the day of the appointment (%(day)s), not today.")
                % {"day": formats.date_format(clinic_day(locked), "SHORT_DATE_FORMAT")}
            }
        )
    locked.status = AppointmentStatus.ARRIVED
    locked.arrived_at = now
    locked.arrived_by = by
    locked.save(update_fields=["status", "arrived_at", "arrived_by"])
    return locked


@transaction.atomic
def undo_check_in(*, appointment: Appointment, by: User) -> Appointment:
    """Take back a check-in clicked by mistake: the appointment is booked again. Once a treatment
    or visit was recorded for it (completed), the check-in stays."""
    require(by, Action.EDIT_PATIENT)
    locked = _lock(appointment)
    if locked.status == AppointmentStatus.COMPLETED:
        raise ValidationError(
            {"status": _("A treatment or visit was recorded for this appointment, so its check-in stays.")}
        )
    if locked.status != AppointmentStatus.ARRIVED:
        raise ValidationError({"status": _("The patient of this appointment has not been checked in.")})
    locked.status = AppointmentStatus.BOOKED
    locked.arrived_at = None
    locked.arrived_by = None
    locked.save(update_fields=["status", "arrived_at", "arrived_by"])
    return locked


def _complete(appointment: Appointment, *, session: Any = None) -> None:
    appointment.status = AppointmentStatus.COMPLETED
    fields = ["status"]
    if session is not None:
        appointment.session = session
        fields.append("session")
    appointment.save(update_fields=fields)


def complete_for_session(*, session: Any, clinic_time_zone: str) -> list[Appointment]:
    """Complete the appointment a treatment session was recorded for: the patient's arrived
    appointments on the session's day (clinic calendar), or, when nobody checked the patient in,
    the booked one of that day nearest to the session's time. ``treatments.services`` calls this in
    the session's transaction; the completed appointments link to the session."""
    tz = zoneinfo.ZoneInfo(clinic_time_zone)
    start, end = _day_bounds(session.performed_at.astimezone(tz).date(), tz)
    open_ones = list(
        Appointment.objects.select_for_update()
        .filter(
            patient=session.patient,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED],
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .order_by("starts_at", "pk")
    )
    done = [a for a in open_ones if a.status == AppointmentStatus.ARRIVED]
    if not done and open_ones:
        done = [min(open_ones, key=lambda a: abs(a.starts_at - session.performed_at))]
    for appointment in done:
        _complete(appointment, session=session)
    return done


@transaction.atomic
def add_room(*, clinic: Clinic, name: str, by: User) -> Room:
    require(by, Action.MANAGE_CLINIC)
    room = Room(clinic=clinic, name=name.strip())
    room.full_clean()
    room.save()
    return room


@transaction.atomic
def add_device(*, clinic: Clinic, name: str, kind: str, by: User) -> Device:
    require(by, Action.MANAGE_CLINIC)
    device = Device(clinic=clinic, name=name.strip(), kind=kind)
    device.full_clean()
    device.save()
    return device


@transaction.atomic
def set_opening_hours(*, clinic: Clinic, hours: Mapping[int, Sequence[Span]], by: User) -> None:
    """Replace the clinic's opening hours: per weekday (0 = Monday) its open spans; a weekday left
    out is closed."""
    require(by, Action.MANAGE_CLINIC)
    OpeningHours.objects.filter(clinic=clinic).delete()
    for weekday, spans in sorted(hours.items()):
        for starts, ends in spans:
            row = OpeningHours(clinic=clinic, weekday=weekday, starts=starts, ends=ends)
            row.full_clean()
            row.save()


@transaction.atomic
def set_working_hours(*, clinician: User, hours: Mapping[int, Sequence[Span]], by: User) -> None:
    """Replace a clinician's working hours: per weekday (0 = Monday) the spans worked."""
    require(by, Action.MANAGE_CLINIC)
    if by.clinic_id != clinician.clinic_id:
        raise ValidationError({"clinician": _("Choose an active clinician of the clinic.")})
    WorkingHours.objects.filter(clinician=clinician).delete()
    for weekday, spans in sorted(hours.items()):
        for starts, ends in spans:
            row = WorkingHours(clinician=clinician, weekday=weekday, starts=starts, ends=ends)
            row.full_clean()
            row.save()


@transaction.atomic
def add_closure(*, clinic: Clinic, first_day: dt.date, last_day: dt.date, reason: str, by: User) -> Closure:
    """Close the clinic from ``first_day`` to ``last_day`` (both included)."""
    require(by, Action.MANAGE_CLINIC)
    closure = Closure(clinic=clinic, first_day=first_day, last_day=last_day, reason=reason.strip())
    closure.full_clean()
    closure.save()
    return closure


def close_visit_appointments(*, visit: Any, status: str) -> None:
    """Give the open appointments of a course's ``visit`` the ``status`` its visit got
    (``courses.services`` calls this when a visit is cancelled, missed or done).

    Completed: the arrived ones, and the booked ones that have begun (one still ahead is left
    for the clinic to cancel or keep). Cancelled or no-show: the booked ones; an arrived patient
    cannot have missed the visit, so that is refused until the check-in is taken back."""
    open_ones = list(
        Appointment.objects.select_for_update().filter(
            visit=visit, status__in=[AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED]
        )
    )
    if status == AppointmentStatus.COMPLETED:
        now = timezone.now()
        for appointment in open_ones:
            if appointment.status == AppointmentStatus.ARRIVED or appointment.starts_at <= now:
                _complete(appointment)
        return
    if any(appointment.status == AppointmentStatus.ARRIVED for appointment in open_ones):
        raise ValidationError({"status": _arrived_message()})
    for appointment in open_ones:
        appointment.status = status
        appointment.save(update_fields=["status"])


@transaction.atomic
def set_holiday_state(*, clinic: Clinic, state: str, by: User) -> Clinic:
    """The German state whose public holidays close the clinic ("" for the nationwide ones only)."""
    require(by, Action.MANAGE_CLINIC)
    if by.clinic_id != clinic.pk:
        raise ValidationError({"holiday_state": _("This is another clinic.")})
    clinic.holiday_state = state
    clinic.full_clean()
    clinic.save(update_fields=["holiday_state"])
    return clinic
