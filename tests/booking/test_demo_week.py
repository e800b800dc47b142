"""The demo's week of appointments: hours, rooms and devices set up, a full book without a clash."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.booking.demo import seed_week
from exoderm.booking.models import Appointment, Device, Room
from tests import factories
from tests.booking.conftest import NEXT_YEAR, weekday_of


@pytest.mark.django_db
def test_seed_week_books_a_week_without_clashes(clinic, clinic_admin, assistant):
    clinicians = [factories.UserFactory(clinic=clinic, role="clinician") for _ in range(3)]
    for _ in range(6):
        factories.ConsentedPatientFactory(clinic=clinic)
    monday = weekday_of(NEXT_YEAR, 3, 0)
    booked = seed_week(
        clinic=clinic, by=assistant, admin=clinic_admin, first_day=monday, clinicians=clinicians
    )
    assert booked == Appointment.objects.count() >= 3 * 6 * 2  # rooms and devices are shared
    assert {room.name for room in Room.objects.filter(clinic=clinic)} >= {"Behandlungsraum 1", "Beratung"}
    assert set(Device.objects.filter(clinic=clinic).values_list("kind", flat=True)) == {
        "laser",
        "microneedling",
    }
    clinic.refresh_from_db()
    assert clinic.holiday_state == "BE"
    appointments = list(Appointment.objects.all())
    assert {a.clinician_id for a in appointments} == {c.pk for c in clinicians}
    assert not [a for a in appointments if a.starts_at.date().weekday() == 6]  # no Sunday
    for resource in ("clinician_id", "room_id", "device_id"):
        spans: dict = {}
        for a in appointments:
            key = getattr(a, resource)
            if key is None:
                continue
            for start, end in spans.get(key, []):
                assert a.ends_at <= start or end <= a.starts_at, (resource, a)
            spans.setdefault(key, []).append((a.starts_at, a.ends_at))
    # seeding again adds a second week's worth without clashing either
    assert (
        seed_week(clinic=clinic, by=assistant, admin=clinic_admin, first_day=monday + dt.timedelta(days=7))
        > 0
    )
