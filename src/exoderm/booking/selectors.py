"""Reads of the appointment book: one appointment, filtered lists, the day and week grids."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from exoderm.booking.models import BLOCKING, Appointment, Device, Room
from exoderm.clinics.models import Clinic, Role, User
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.patients.models import Patient
from exoderm.patients.selectors import open_records


def _appointments(clinic: Clinic) -> QuerySet[Appointment]:
    return open_records(in_clinic(Appointment, clinic)).select_related(
        "clinic", "patient__identity", "clinician", "room", "device"
    )


def appointment(*, clinic: Clinic, appointment_id: Any) -> Appointment:
    return get_in_clinic(_appointments(clinic), clinic, appointment_id)


def day_start(clinic: Clinic, day: dt.date) -> dt.datetime:
    """The instant the clinic's calendar day ``day`` begins (midnight on its wall clock)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(clinic.time_zone))


def appointments(
    *,
    clinic: Clinic,
    day: dt.date | None = None,
    days: int = 1,
    clinician: User | None = None,
    room: Room | None = None,
    patient: Any = None,
    booked_only: bool = False,
) -> QuerySet[Appointment]:
    """The clinic's appointments in time order: those that begin on ``days`` calendar days of the
    clinic from ``day`` (all days if ``None``), of a clinician, room or patient if given."""
    queryset = _appointments(clinic)
    if day is not None:
        start = day_start(clinic, day)
        end = day_start(clinic, day + dt.timedelta(days=days))
        queryset = queryset.filter(starts_at__gte=start, starts_at__lt=end)
    if clinician is not None:
        queryset = queryset.filter(clinician=clinician)
    if room is not None:
        queryset = queryset.filter(room=room)
    if patient is not None:
        queryset = queryset.filter(patient=patient)
    if booked_only:
        queryset = queryset.filter(status__in=BLOCKING)
    return queryset.order_by("starts_at", "pk")


#: appointments shown on the patient's page on each side of now; the appointment book has the rest
PATIENT_PAGE_LIMIT = 20


def patient_appointments(
    *, patient: Patient, now: dt.datetime, limit: int = PATIENT_PAGE_LIMIT
) -> tuple[list[Appointment], list[Appointment]]:
    """The patient's next ``limit`` appointments (soonest first) and last ``limit`` (latest first),
    whatever their status, in one query (clinician, room and device joined in).

    Each side of ``now`` is numbered from both of its ends by a window function, and a row is read
    if it is among the first ``limit`` from either end: at most ``4 * limit`` rows, however many the
    patient has; which ``limit`` of each side are shown is then picked here.
    """
    upcoming_side = Case(
        When(starts_at__gte=now, then=Value(1)), default=Value(0), output_field=IntegerField()
    )
    rows: list[Appointment] = list(
        appointments(clinic=patient.clinic, patient=patient)
        .annotate(
            from_start=Window(RowNumber(), partition_by=[upcoming_side], order_by=[F("starts_at"), F("pk")]),
            from_end=Window(
                RowNumber(), partition_by=[upcoming_side], order_by=[F("starts_at").desc(), F("pk").desc()]
            ),
        )
        .filter(Q(from_start__lte=limit) | Q(from_end__lte=limit))
    )
    upcoming = [row for row in rows if row.starts_at >= now][:limit]
    past = [row for row in reversed(rows) if row.starts_at < now][:limit]
    return upcoming, past


GRID_FIELDS = (
    "clinic_id",
    "kind",
    "starts_at",
    "ends_at",
    "status",
    "arrived_at",
    "clinician_id",
    "room_id",
    "device_id",
    "patient__code",
    "patient__identity__given_name",
    "patient__identity__family_name",
)


def grid_appointments(
    *,
    clinic: Clinic,
    day: dt.date,
    days: int,
    clinician: User | None = None,
    room: Room | None = None,
    people: list[User],
    places: list[Room],
    tools: list[Device],
) -> list[Appointment]:
    """The booked, arrived and completed appointments of a day or week grid with just what the
    grid shows (the patient's code and name, the status and arrival); the clinic and the
    clinicians, rooms and devices are set from ``clinic`` and the lists given (the page has them
    already), so that a day of 40 clinicians stays a few queries and few objects."""
    found = list(
        appointments(clinic=clinic, day=day, days=days, clinician=clinician, room=room, booked_only=True)
        .select_related(None)
        .select_related("patient__identity")
        .only(*GRID_FIELDS)
    )
    by_id: dict[str, dict[int, Any]] = {
        "clinician": {user.pk: user for user in people},
        "room": {place.pk: place for place in places},
        "device": {tool.pk: tool for tool in tools},
    }
    for appointment in found:
        appointment.clinic = clinic
        for name, known in by_id.items():
            value = known.get(getattr(appointment, f"{name}_id"))
            if value is not None:
                setattr(appointment, name, value)
    return found


def appointments_starting_between(*, start: dt.datetime, end: dt.datetime) -> QuerySet[Appointment]:
    """Booked appointments of every clinic that begin in ``[start, end)``, with patient (and its
    identity), clinician and clinic: what a reminder sender walks. Restricted records are left out."""
    return (
        open_records(Appointment.objects.all())
        .filter(status__in=BLOCKING, starts_at__gte=start, starts_at__lt=end)
        .select_related("clinic", "patient__identity", "clinician", "room", "device")
        .order_by("starts_at", "pk")
    )


def calendar_appointments(*, clinician: User, since: dt.datetime) -> QuerySet[Appointment]:
    """The clinician's booked appointments from ``since`` on, for the clinician's .ics feed."""
    return (
        open_records(Appointment.objects.filter(clinician=clinician, clinic=clinician.clinic))
        .filter(status__in=BLOCKING, starts_at__gte=since)
        .select_related("clinic", "patient", "clinician", "room", "device")
        .order_by("starts_at", "pk")
    )


def clinicians(*, clinic: Clinic) -> QuerySet[User]:
    return User.objects.filter(clinic=clinic, role=Role.CLINICIAN, is_active=True).order_by(
        "last_name", "first_name", "pk"
    )


def clinician(*, clinic: Clinic, user_id: Any) -> User:
    """An active clinician of ``clinic`` by id; anyone else is ``NotFound``."""
    try:
        return clinicians(clinic=clinic).get(pk=user_id)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Clinician %(id)s not found.") % {"id": user_id}) from None


def rooms(*, clinic: Clinic) -> QuerySet[Room]:
    return in_clinic(Room, clinic).filter(active=True).order_by("name", "pk")


def room(*, clinic: Clinic, room_id: Any) -> Room:
    return get_in_clinic(rooms(clinic=clinic), clinic, room_id)


def devices(*, clinic: Clinic) -> QuerySet[Device]:
    return in_clinic(Device, clinic).filter(active=True).order_by("name", "pk")


def device(*, clinic: Clinic, device_id: Any) -> Device:
    return get_in_clinic(devices(clinic=clinic), clinic, device_id)
