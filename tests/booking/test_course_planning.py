"""Enrolment books a course's visits into the appointment book: on open days (no Sunday, public
holiday or closure), each on a day of its own, inside its due window, at a time the clinician
works and is free; and the .ics feeds carry the appointments."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from django.core.exceptions import ValidationError

from exoderm.booking import calendar as booking_calendar
from exoderm.booking import services as booking
from exoderm.booking.models import Appointment, AppointmentStatus
from exoderm.courses import services
from exoderm.courses.models import VisitKind
from tests import factories
from tests.booking.conftest import BERLIN, NEXT_YEAR, berlin


def first_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    while day.weekday() != 6:
        day += dt.timedelta(days=1)
    return day


@pytest.fixture
def patient(clinic):
    return factories.ConsentedPatientFactory(clinic=clinic)


@pytest.fixture
def template(clinic):
    # 3 sessions every 4 weeks with follow-ups after 2 and 6 weeks: 9 visits, and week 6 after one
    # session falls on week 2 after the next.
    return factories.CourseTemplateFactory(
        clinic=clinic, session_count=3, interval_weeks=4, followup_weeks=[2, 6]
    )


def enroll(patient, template, clinician, starts_at):
    return services.enroll(
        patient=patient, template=template, clinician=clinician, starts_at=starts_at, by=clinician
    )


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(BERLIN)


@pytest.mark.django_db
def test_a_course_started_on_a_sunday_is_planned_on_working_days(clinic, patient, template, clinician):
    clinic.holiday_state = "BY"
    clinic.save()
    course = enroll(patient, template, clinician, berlin(first_sunday(NEXT_YEAR, 3), "10:00"))
    visits = list(course.visits.order_by("planned_at"))
    assert len(visits) == 9
    days = [local(visit.planned_at).date() for visit in visits]
    assert all(day.weekday() != 6 for day in days), days
    assert not [day for day in days if booking_calendar.public_holiday(clinic, day)], days
    assert len(set(days)) == 9, "two visits on one day"
    for visit in visits:
        assert visit.due_from <= local(visit.planned_at).date() <= visit.due_until
        assert local(visit.planned_at).time() == dt.time(10, 0)
    # every visit is booked, as a treatment or a follow-up of its default length
    appointments = {a.visit_id: a for a in Appointment.objects.filter(visit__course=course)}
    assert set(appointments) == {visit.pk for visit in visits}
    for visit in visits:
        appointment = appointments[visit.pk]
        assert appointment.starts_at == visit.planned_at
        assert appointment.kind == ("treatment" if visit.kind == VisitKind.SESSION else "follow_up")
        assert appointment.clinician == clinician and appointment.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
# every status that keeps a slot (the demo's seed failed on a clash once completed ones did)
@pytest.mark.parametrize(
    "status", [AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED]
)
def test_visits_avoid_the_clinicians_other_appointments_and_keep_to_working_hours(
    clinic, clinic_admin, patient, template, clinician, status
):
    # Works Tuesdays and Thursdays 08:00-18:00; 10:00-11:00 of the first Tuesday is taken.
    booking.set_working_hours(
        clinician=clinician,
        hours={1: [(dt.time(8), dt.time(18))], 3: [(dt.time(8), dt.time(18))]},
        by=clinic_admin,
    )
    tuesday = first_sunday(NEXT_YEAR, 3) + dt.timedelta(days=2)
    other = factories.ConsentedPatientFactory(clinic=clinic)
    taken = booking.book_appointment(
        patient=other, kind="treatment", starts_at=berlin(tuesday, "10:00"), clinician=clinician, by=clinician
    )
    Appointment.objects.filter(pk=taken.pk).update(status=status)
    course = enroll(patient, template, clinician, berlin(tuesday, "10:00"))
    visits = list(course.visits.order_by("planned_at"))
    first = visits[0]
    assert local(first.planned_at) == berlin(tuesday, "09:00")  # the nearest free hour that day
    assert {local(v.planned_at).weekday() for v in visits} <= {1, 3}
    assert len({local(v.planned_at).date() for v in visits}) == 9


@pytest.mark.django_db
def test_a_visit_without_a_free_slot_in_its_window_refuses_the_enrolment(
    clinic, clinic_admin, patient, template, clinician
):
    tuesday = first_sunday(NEXT_YEAR, 3) + dt.timedelta(days=2)
    # closed for the whole window of the second session (4 weeks later, +-3 days)
    second = tuesday + dt.timedelta(weeks=4)
    booking.add_closure(
        clinic=clinic,
        first_day=second - dt.timedelta(days=3),
        last_day=second + dt.timedelta(days=3),
        reason="Renovation",
        by=clinic_admin,
    )
    with pytest.raises(ValidationError) as refused:
        enroll(patient, template, clinician, berlin(tuesday, "10:00"))
    assert "No free slot for session 2" in refused.value.message_dict["starts_at"][0]
    assert not patient.courses.exists() and not Appointment.objects.exists()


@pytest.mark.django_db
def test_moving_cancelling_and_missing_a_visit_carry_its_appointment(patient, template, clinician):
    tuesday = first_sunday(NEXT_YEAR, 3) + dt.timedelta(days=2)
    course = enroll(patient, template, clinician, berlin(tuesday, "10:00"))
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    services.reschedule_visit(visit=session, planned_at=berlin(tuesday, "14:00"), by=clinician)
    appointment = Appointment.objects.get(visit=session)
    assert local(appointment.starts_at) == berlin(tuesday, "14:00")
    follow_up = course.visits.get(session_number=1, weeks_after_session=2)
    assert local(Appointment.objects.get(visit=follow_up).starts_at) == local(follow_up.planned_at)
    assert local(follow_up.planned_at).time() == dt.time(14, 0)  # moved along with its session
    later = course.visits.get(kind=VisitKind.SESSION, session_number=3)
    services.cancel_visit(visit=later, by=clinician)
    assert Appointment.objects.get(visit=later).status == AppointmentStatus.CANCELLED


@pytest.mark.django_db
def test_the_ics_feed_carries_appointments(clinic, patient, template, clinician):
    tuesday = first_sunday(NEXT_YEAR, 3) + dt.timedelta(days=2)
    room = factories.RoomFactory(clinic=clinic, name="Laser room")
    laser = factories.DeviceFactory(clinic=clinic, name="Fraxel")
    consultation = booking.book_appointment(
        patient=patient,
        kind="consultation",
        starts_at=berlin(tuesday, "08:30"),
        clinician=clinician,
        room=room,
        device=laser,
        by=clinician,
    )
    course = enroll(patient, template, clinician, berlin(tuesday, "10:00"))
    events = {
        str(e["uid"]): e
        for e in icalendar.Calendar.from_ical(services.calendar_for(clinician)).walk("VEVENT")
    }
    event = events[f"appointment-{consultation.pk}@exoderm"]
    assert event.decoded("dtstart") == berlin(tuesday, "08:30")
    assert event.decoded("dtend") == berlin(tuesday, "09:00")
    assert (
        patient.code in str(event["summary"]) and patient.identity.family_name not in event.to_ical().decode()
    )
    assert "Laser room" in str(event["description"]) and "Fraxel" in str(event["description"])
    # a booked visit is one event (the visit's), ending when its appointment ends
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    visit_event = events[f"visit-{session.pk}@exoderm"]
    assert visit_event.decoded("dtend") - visit_event.decoded("dtstart") == dt.timedelta(minutes=60)
    assert len(events) == 1 + 9
    # a cancelled appointment leaves the feed
    booking.cancel_appointment(appointment=consultation, by=clinician)
    body = services.calendar_for(clinician).decode()
    assert f"appointment-{consultation.pk}@exoderm" not in body


@pytest.mark.django_db
def test_an_erasure_request_frees_the_book_and_erasing_for_good_takes_the_appointments(
    clinic, clinic_admin, patient, template, clinician
):
    from django.utils import timezone

    from exoderm.booking import selectors as booking_selectors
    from exoderm.patients import erasure

    tuesday = first_sunday(NEXT_YEAR, 3) + dt.timedelta(days=2)
    enroll(patient, template, clinician, berlin(tuesday, "10:00"))
    assert booking_selectors.appointments(clinic=clinic).count() == 9
    erasure.request_erasure(
        patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=True
    )
    assert booking_selectors.appointments(clinic=clinic).count() == 0  # hidden like every list
    other = factories.ConsentedPatientFactory(clinic=clinic)
    assert booking.book_appointment(  # the restricted record's slot is free
        patient=other, kind="treatment", starts_at=berlin(tuesday, "10:00"), clinician=clinician, by=clinician
    ).pk
    after_retention = erasure.retention_end(patient) + dt.timedelta(days=1)
    assert erasure.erase_expired_records(today=after_retention).erased == [patient.code]
    assert not Appointment.objects.filter(patient_id=patient.pk).exists()
