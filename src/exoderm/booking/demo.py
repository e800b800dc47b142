"""The demo clinic's appointment book: its hours, rooms, a laser and a microneedling pen, and a
week of appointments for its clinicians (``seed_week``, called once by ``exoderm.demo``)."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Sequence

from django.core.exceptions import ValidationError

from exoderm.booking import services
from exoderm.booking.models import AppointmentKind, Device, DeviceKind, Room
from exoderm.clinics.models import Clinic, Role, User
from exoderm.patients.models import Patient

WEEKDAYS = range(0, 5)
OPENING = {
    **{weekday: [(dt.time(8, 0), dt.time(19, 0))] for weekday in WEEKDAYS},
    5: [(dt.time(9, 0), dt.time(14, 0))],  # Saturday mornings
}
ROOMS = ["Behandlungsraum 1", "Behandlungsraum 2", "Beratung"]
DEVICES = [("Fraktionierter Laser", DeviceKind.LASER), ("Microneedling-Pen", DeviceKind.MICRONEEDLING)]
# What a clinician's day holds, in order: (kind, room index, device index or None).
DAY_PLAN = [
    (AppointmentKind.CONSULTATION, 2, None),
    (AppointmentKind.TREATMENT, 0, 0),
    (AppointmentKind.FOLLOW_UP, 2, None),
    (AppointmentKind.TREATMENT, 1, 1),
    (AppointmentKind.PHOTO, 2, None),
    (AppointmentKind.TREATMENT, 0, 1),
]


def clinic_resources(*, clinic: Clinic, by: User) -> tuple[list[Room], list[Device]]:
    """The demo's rooms and devices (added once)."""
    rooms = [
        Room.objects.filter(clinic=clinic, name=name).first()
        or services.add_room(clinic=clinic, name=name, by=by)
        for name in ROOMS
    ]
    devices = [
        Device.objects.filter(clinic=clinic, name=name).first()
        or services.add_device(clinic=clinic, name=name, kind=kind, by=by)
        for name, kind in DEVICES
    ]
    return rooms, devices


def seed_week(
    *,
    clinic: Clinic,
    by: User,
    admin: User,
    first_day: dt.date,
    clinicians: Sequence[User] | None = None,
    patients: Sequence[Patient] | None = None,
) -> int:
    """Open the clinic Monday to Saturday (Berlin's holidays), give each clinician working hours
    and book a week of appointments from ``first_day``: a consultation, treatments with the laser
    and the pen, a follow-up and a photo visit a day each, where the book has room (a slot taken
    by a course's visit is skipped). Returns how many were booked."""
    if not clinic.holiday_state:
        clinic.holiday_state = "BE"
        clinic.save(update_fields=["holiday_state"])
    if not clinic.opening_hours.exists():
        services.set_opening_hours(clinic=clinic, hours=OPENING, by=admin)
    rooms, devices = clinic_resources(clinic=clinic, by=admin)
    clinicians = list(clinicians or User.objects.filter(clinic=clinic, role=Role.CLINICIAN, is_active=True))
    patients = list(
        patients or Patient.objects.filter(clinic=clinic, restricted_at__isnull=True).order_by("pk")
    )
    if not patients:
        return 0
    for clinician in clinicians:
        if not clinician.working_hours.exists():
            services.set_working_hours(clinician=clinician, hours=OPENING, by=admin)
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    patient_cycle = itertools.cycle(patients)
    booked = 0
    for offset in range(7):
        day = first_day + dt.timedelta(days=offset)
        spans = OPENING.get(day.weekday())
        if not spans:
            continue
        for number, clinician in enumerate(clinicians):
            # staggered starts, so that rooms and devices are shared through the day
            moment = dt.datetime.combine(day, spans[0][0], tzinfo=tz) + dt.timedelta(
                minutes=30 * (number % 4)
            )
            closing = dt.datetime.combine(day, spans[-1][1], tzinfo=tz)
            for kind, room_index, device_index in DAY_PLAN:
                if moment >= closing:
                    break
                try:
                    appointment = services.book_appointment(
                        patient=next(patient_cycle),
                        kind=kind,
                        starts_at=moment,
                        clinician=clinician,
                        room=rooms[(room_index + number) % len(rooms)],
                        device=None
                        if device_index is None
                        else devices[(device_index + number) % len(devices)],
                        by=by,
                    )
                except ValidationError:  # the clinician, room or device is taken then, or the day is closed
                    moment += dt.timedelta(minutes=30)
                    continue
                booked += 1
                moment = appointment.ends_at + dt.timedelta(minutes=15)
    return booked
