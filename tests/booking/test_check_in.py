"""Checking a patient in: only a booked appointment on its day (the clinic's calendar) is marked
arrived, with the time and who did it; an arrived appointment keeps its clinician and room, cannot
be cancelled, marked a no-show or moved until the check-in is taken back, and that undo works only
while nothing was recorded for it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from exoderm.booking import services
from exoderm.booking.models import AppointmentStatus
from tests.booking._today import (
    clinic_at_noon,  # noqa: F401  (this module's clinic: noon there now)
    clinic_today,
    minutes_ago,
    on_day,
)

ARRIVED_FIRST = "take back the check-in first"


def _booked_now(scene, **kwargs):
    start = minutes_ago(scene.clinic, 5)
    return scene.book(start, start + dt.timedelta(hours=1), **kwargs)


@pytest.mark.django_db
def test_a_booked_appointment_of_today_is_checked_in_with_time_and_who(scene):
    appointment = _booked_now(scene, room=scene.room)
    arrived = services.check_in(appointment=appointment, by=scene.assistant)
    arrived.refresh_from_db()
    assert arrived.status == AppointmentStatus.ARRIVED
    assert arrived.arrived_by == scene.assistant and arrived.arrived_at is not None
    with pytest.raises(ValidationError, match=ARRIVED_FIRST):
        services.check_in(appointment=arrived, by=scene.assistant)


@pytest.mark.django_db
@pytest.mark.parametrize("days", [1, -1])
def test_an_appointment_of_another_day_is_not_checked_in(scene, days):
    day = clinic_today(scene.clinic) + dt.timedelta(days=days)
    appointment = scene.book(on_day(scene.clinic, day), on_day(scene.clinic, day, 11))
    with pytest.raises(ValidationError, match="on the day of the appointment"):
        services.check_in(appointment=appointment, by=scene.assistant)
    appointment.refresh_from_db()
    assert (appointment.status, appointment.arrived_at) == (AppointmentStatus.BOOKED, None)


@pytest.mark.django_db
def test_a_check_in_is_taken_back_and_only_an_arrived_one(scene):
    appointment = _booked_now(scene)
    with pytest.raises(ValidationError, match="has not been checked in"):
        services.undo_check_in(appointment=appointment, by=scene.assistant)
    services.check_in(appointment=appointment, by=scene.assistant)
    undone = services.undo_check_in(appointment=appointment, by=scene.assistant)
    undone.refresh_from_db()
    assert (undone.status, undone.arrived_at, undone.arrived_by) == (AppointmentStatus.BOOKED, None, None)


@pytest.mark.django_db
def test_an_arrived_appointment_is_not_cancelled_missed_or_moved_before_the_undo(scene):
    appointment = _booked_now(scene)
    services.check_in(appointment=appointment, by=scene.assistant)
    for change in (services.cancel_appointment, services.mark_no_show):
        with pytest.raises(ValidationError, match=ARRIVED_FIRST):
            change(appointment=appointment, by=scene.assistant)
    with pytest.raises(ValidationError, match=ARRIVED_FIRST):
        services.move_appointment(
            appointment=appointment,
            starts_at=appointment.starts_at + dt.timedelta(hours=1),
            by=scene.assistant,
        )
    services.undo_check_in(appointment=appointment, by=scene.assistant)
    assert services.mark_no_show(appointment=appointment, by=scene.assistant).status == "no_show"


@pytest.mark.django_db
def test_an_arrived_appointment_still_occupies_its_clinician_and_room(scene):
    appointment = _booked_now(scene, room=scene.room)
    services.check_in(appointment=appointment, by=scene.assistant)
    with pytest.raises(services.Clash) as refused:
        scene.book(
            appointment.starts_at + dt.timedelta(minutes=30),
            appointment.ends_at + dt.timedelta(minutes=30),
            patient=scene.other_patient,
            room=scene.room,
        )
    assert {item.resource for item in refused.value.clashes} == {"clinician", "room"}
