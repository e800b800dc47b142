"""When an appointment can be booked: opening hours, working hours, closures and public holidays
of the clinic's German state refuse a time with a message that says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from exoderm.booking import services
from exoderm.booking.models import Appointment
from tests import factories
from tests.booking.conftest import NEXT_YEAR, berlin, weekday_of

TUESDAY = weekday_of(NEXT_YEAR, 3, 1)
MONDAY = TUESDAY - dt.timedelta(days=1)
EPIPHANY = dt.date(NEXT_YEAR, 1, 6)  # a public holiday in Bavaria, not in Berlin


@pytest.fixture
def people(clinic):
    clinician = factories.UserFactory(clinic=clinic, role="clinician", first_name="Dana", last_name="Adler")
    return clinician, factories.ConsentedPatientFactory(clinic=clinic)


def book(people, starts_at, minutes=30):
    clinician, patient = people
    return services.book_appointment(
        patient=patient,
        kind="consultation",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=minutes),
        clinician=clinician,
        by=clinician,
    )


def refusal(people, starts_at, minutes=30) -> str:
    before = Appointment.objects.count()
    with pytest.raises(ValidationError) as refused:
        book(people, starts_at, minutes)
    assert Appointment.objects.count() == before
    return " ".join(refused.value.message_dict["starts_at"])


@pytest.mark.django_db
def test_a_clinic_without_hours_is_open_monday_to_saturday(people):
    assert book(people, berlin(TUESDAY, "07:00")).pk
    sunday = TUESDAY + dt.timedelta(days=5)
    assert refusal(people, berlin(sunday, "10:00")) == "The clinic is not open on Sunday."


@pytest.mark.django_db
def test_public_holidays_of_the_clinics_state(clinic, people):
    day = EPIPHANY if EPIPHANY.weekday() != 6 else EPIPHANY + dt.timedelta(days=365)
    clinic.holiday_state = "BY"
    clinic.save()
    message = refusal(people, berlin(day, "10:00"))
    assert "public holiday" in message and "Epiphany" in message
    with translation.override("de"):
        assert "Heilige Drei Könige" in refusal(people, berlin(day, "10:00"))
    clinic.holiday_state = "BE"  # Berlin works on Epiphany
    clinic.save()
    assert book(people, berlin(day, "10:00")).pk


@pytest.mark.django_db
def test_nationwide_holidays_close_every_clinic(people):
    assert "public holiday (Labor Day)" in refusal(people, berlin(dt.date(NEXT_YEAR, 5, 1), "10:00"))


@pytest.mark.django_db
def test_closures(clinic, clinic_admin, people):
    services.add_closure(
        clinic=clinic,
        first_day=TUESDAY,
        last_day=TUESDAY + dt.timedelta(days=2),
        reason="Team training",
        by=clinic_admin,
    )
    assert "closed on" in refusal(people, berlin(TUESDAY + dt.timedelta(days=1), "10:00"))
    assert "Team training" in refusal(people, berlin(TUESDAY, "10:00"))
    assert book(people, berlin(TUESDAY + dt.timedelta(days=3), "10:00")).pk
    with pytest.raises(ValidationError):
        services.add_closure(clinic=clinic, first_day=TUESDAY, last_day=MONDAY, reason="", by=clinic_admin)


@pytest.mark.django_db
def test_opening_hours_with_a_lunch_break(clinic, clinic_admin, people):
    services.set_opening_hours(
        clinic=clinic,
        hours={1: [(dt.time(9), dt.time(13)), (dt.time(14), dt.time(18))]},
        by=clinic_admin,
    )
    assert book(people, berlin(TUESDAY, "09:00"), 60).pk
    assert book(people, berlin(TUESDAY, "17:30"), 30).pk  # ends at closing time
    expected = "The clinic is open on Tuesday from 09:00–13:00, 14:00–18:00 only."
    assert refusal(people, berlin(TUESDAY, "12:45"), 30) == expected  # into the lunch break
    assert refusal(people, berlin(TUESDAY, "08:30"), 60) == expected
    assert refusal(people, berlin(MONDAY, "10:00")) == "The clinic is not open on Monday."


@pytest.mark.django_db
def test_working_hours_of_the_clinician(clinic, clinic_admin, people):
    clinician, _patient = people
    services.set_working_hours(clinician=clinician, hours={0: [(dt.time(9), dt.time(17))]}, by=clinic_admin)
    assert book(people, berlin(MONDAY, "16:30")).pk
    assert refusal(people, berlin(MONDAY, "17:00")) == "Dana Adler works on Monday from 09:00–17:00 only."
    assert refusal(people, berlin(TUESDAY, "10:00")) == "Dana Adler does not work on Tuesday."


@pytest.mark.django_db
def test_a_past_time_records_what_took_place(people):
    """Hours and holidays govern the days ahead; a visit charted afterwards keeps its real time."""
    now = timezone.now()
    last_sunday = timezone.localdate() - dt.timedelta(days=(timezone.localdate().weekday() + 1) % 7 or 7)
    assert book(people, berlin(last_sunday, "10:00")).starts_at < now


@pytest.mark.django_db
def test_invalid_times_and_resources(clinic, other_clinic, people):
    clinician, patient = people
    start = berlin(TUESDAY, "10:00")

    def refused(**changes):
        arguments = {
            "patient": patient,
            "kind": "consultation",
            "starts_at": start,
            "ends_at": start + dt.timedelta(minutes=30),
            "clinician": clinician,
            "by": clinician,
        } | changes
        with pytest.raises(ValidationError) as error:
            services.book_appointment(**arguments)
        return error.value.message_dict

    assert "ends_at" in refused(ends_at=start)
    assert "ends_at" in refused(ends_at=start + dt.timedelta(hours=13))
    assert "starts_at" in refused(starts_at=dt.datetime(2026, 3, 10, 10, 0))  # no offset
    assert "starts_at" in refused(starts_at=start.replace(year=9999), ends_at=None)
    assert "kind" in refused(kind="massage")
    assert "room" in refused(room=factories.RoomFactory(clinic=other_clinic))
    assert "device" in refused(device=factories.DeviceFactory(clinic=other_clinic))
    assert "clinician" in refused(clinician=factories.UserFactory(clinic=clinic, role="assistant"))
    assert Appointment.objects.count() == 0


@pytest.mark.django_db
def test_default_length_by_kind(people):
    clinician, patient = people
    start = berlin(TUESDAY, "10:00")
    for kind, minutes in [
        ("consultation", 30),
        ("treatment", 60),
        ("follow_up", 20),
        ("photo", 15),
        ("other", 30),
    ]:
        appointment = services.book_appointment(
            patient=patient, kind=kind, starts_at=start, clinician=clinician, by=clinician
        )
        assert appointment.ends_at - appointment.starts_at == dt.timedelta(minutes=minutes)
        start = appointment.ends_at


@pytest.mark.django_db
def test_cancel_and_no_show(people, researcher):
    clinician, _patient = people
    ahead = book(people, berlin(TUESDAY, "10:00"))
    with pytest.raises(ValidationError) as error:
        services.mark_no_show(appointment=ahead, by=clinician)
    assert "has not begun yet" in error.value.messages[0]
    assert services.cancel_appointment(appointment=ahead, by=clinician).status == "cancelled"
    with pytest.raises(ValidationError):
        services.cancel_appointment(appointment=ahead, by=clinician)
    past = book(people, timezone.now() - dt.timedelta(hours=2))
    assert services.mark_no_show(appointment=past, by=clinician).status == "no_show"
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        book((researcher, _patient), berlin(TUESDAY, "12:00"))
