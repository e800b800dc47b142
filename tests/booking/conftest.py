"""The appointment book's scene: a clinic open around the clock on every day (so that the clash
rules are tested apart from the hours rules), two clinicians, two rooms, a laser and a pen."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from exoderm.booking import services
from exoderm.booking.models import Device, Room
from exoderm.clinics.models import Clinic, User
from exoderm.patients.models import Patient
from tests import factories

BERLIN = ZoneInfo("Europe/Berlin")
# Plans reach at most clock.PLAN_AHEAD ahead: next year is always ahead and bookable.
NEXT_YEAR = timezone.localdate().year + 1


def berlin(day: dt.date, hhmm: str, *, fold: int = 0) -> dt.datetime:
    """The instant of wall time ``hhmm`` on ``day`` in Berlin (``fold=1``: the second 02:30 of the
    autumn night)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN, fold=fold)


def weekday_of(year: int, month: int, weekday: int, *, nth: int = 2) -> dt.date:
    """The ``nth`` ``weekday`` (0 = Monday) of the month: a working day away from the holidays."""
    day = dt.date(year, month, 1)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day + dt.timedelta(weeks=nth - 1)


def last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    while day.weekday() != 6:
        day -= dt.timedelta(days=1)
    return day


@dataclasses.dataclass
class Scene:
    clinic: Clinic
    clinician: User
    colleague: User
    assistant: User
    patient: Patient
    other_patient: Patient
    room: Room
    other_room: Room
    laser: Device
    pen: Device

    def book(
        self, starts_at, ends_at, *, clinician=None, room=None, device=None, patient=None, kind="treatment"
    ):
        return services.book_appointment(
            patient=patient or self.patient,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            clinician=clinician or self.clinician,
            room=room,
            device=device,
            by=self.assistant,
        )


def open_around_the_clock(clinic: Clinic) -> None:
    for weekday in range(7):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday, starts=dt.time.min, ends=dt.time.max)


@pytest.fixture
def scene(clinic) -> Scene:
    open_around_the_clock(clinic)
    return Scene(
        clinic=clinic,
        clinician=factories.UserFactory(
            clinic=clinic, role="clinician", first_name="Dana", last_name="Adler"
        ),
        colleague=factories.UserFactory(clinic=clinic, role="clinician", first_name="Jo", last_name="Berg"),
        assistant=factories.UserFactory(clinic=clinic, role="assistant"),
        patient=factories.ConsentedPatientFactory(clinic=clinic),
        other_patient=factories.ConsentedPatientFactory(clinic=clinic),
        room=factories.RoomFactory(clinic=clinic, name="Room 1"),
        other_room=factories.RoomFactory(clinic=clinic, name="Room 2"),
        laser=factories.DeviceFactory(clinic=clinic, name="Fraxel laser", kind="laser"),
        pen=factories.DeviceFactory(clinic=clinic, name="Dermapen", kind="microneedling"),
    )
