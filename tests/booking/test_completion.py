"""An appointment is completed when what it was booked for is recorded: a treatment session of
the patient on its day (linked to the session), or the course visit it books marked done. The
patient's arrived appointment of that day is the one completed; without a check-in, the booked one
nearest to the session. Completed, its check-in can no longer be taken back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from exoderm.booking import services
from exoderm.booking.models import AppointmentStatus
from exoderm.courses import services as course_services
from tests import factories
from tests.booking._today import (
    clinic_at_noon,  # noqa: F401  (this module's clinic: noon there now)
    minutes_ago,
)


def _book(session_scene, starts_at, *, by, patient=None, clinician=None):
    return services.book_appointment(
        patient=patient or session_scene.patient,
        kind="treatment",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=15),
        clinician=clinician or session_scene.clinician,
        by=by,
    )


@pytest.mark.django_db
def test_a_session_completes_the_booked_appointment_nearest_to_it_on_its_day(scene):
    charting = factories.SessionScene(scene.clinic)
    nearest = _book(charting, charting.at - dt.timedelta(minutes=10), by=scene.assistant)
    later_that_day = _book(charting, charting.at + dt.timedelta(minutes=90), by=scene.assistant)
    next_day = _book(charting, charting.at + dt.timedelta(days=1), by=scene.assistant)
    someone_else = _book(
        charting, charting.at, by=scene.assistant, patient=scene.patient, clinician=scene.clinician
    )

    session = charting.record()

    for appointment in (nearest, later_that_day, next_day, someone_else):
        appointment.refresh_from_db()
    assert (nearest.status, nearest.session) == (AppointmentStatus.COMPLETED, session)
    assert later_that_day.status == next_day.status == someone_else.status == AppointmentStatus.BOOKED
    with pytest.raises(ValidationError, match="was recorded for this appointment"):
        services.undo_check_in(appointment=nearest, by=scene.assistant)


@pytest.mark.django_db
def test_a_session_completes_the_arrived_appointment_and_its_check_in_stays(scene):
    charting = factories.SessionScene(scene.clinic)
    # the session of this scene took place today, after the patient was checked in
    charting.at = minutes_ago(scene.clinic, 30)
    charting.vial = factories.ThawedVialFactory(
        lot=charting.lot, thawed_at=charting.at + dt.timedelta(minutes=10)
    )
    booked_first = _book(charting, charting.at - dt.timedelta(minutes=20), by=scene.assistant)
    arrived = _book(charting, charting.at + dt.timedelta(minutes=5), by=scene.assistant)
    services.check_in(appointment=arrived, by=scene.assistant)

    session = charting.record()

    arrived.refresh_from_db()
    booked_first.refresh_from_db()
    assert (arrived.status, arrived.session) == (AppointmentStatus.COMPLETED, session)
    assert arrived.arrived_by == scene.assistant
    assert booked_first.status == AppointmentStatus.BOOKED
    with pytest.raises(ValidationError, match="so its check-in stays"):
        services.undo_check_in(appointment=arrived, by=scene.assistant)


def _first_visit_today(scene):
    template = factories.CourseTemplateFactory(clinic=scene.clinic)
    course = course_services.enroll(
        patient=scene.patient,
        template=template,
        clinician=scene.clinician,
        starts_at=minutes_ago(scene.clinic, 5),
        by=scene.clinician,
    )
    visit = course.visits.order_by("planned_at").first()
    appointment = visit.appointments.get()
    assert appointment.starts_at <= timezone.now()
    return visit, appointment


@pytest.mark.django_db
def test_a_visit_marked_done_completes_its_appointment(scene):
    visit, appointment = _first_visit_today(scene)
    services.check_in(appointment=appointment, by=scene.assistant)
    course_services.mark_done(visit=visit, by=scene.assistant)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED


@pytest.mark.django_db
def test_a_visit_whose_patient_arrived_is_not_marked_missed(scene):
    visit, appointment = _first_visit_today(scene)
    services.check_in(appointment=appointment, by=scene.assistant)
    with pytest.raises(ValidationError, match="take back the check-in first"):
        course_services.mark_missed(visit=visit, by=scene.assistant)
    visit.refresh_from_db()
    appointment.refresh_from_db()
    assert (visit.status, appointment.status) == ("planned", AppointmentStatus.ARRIVED)
