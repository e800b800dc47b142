"""Courses: visit planning on the clinic's wall clock (across DST), due/overdue lists, calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tests import factories

from exoderm.clinics.models import Clinic
from exoderm.consent.models import ConsentRecord
from exoderm.core import clock
from exoderm.core.errors import RuleViolations
from exoderm.courses import ics, selectors, services
from exoderm.courses.models import Course, CourseTemplate, Visit, VisitKind, VisitStatus
from exoderm.patients.models import Patient

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Plans reach at most clock.PLAN_AHEAD ahead: March of next year is always ahead and plannable.
NEXT_YEAR = timezone.localdate().year + 1


def local(visit: Visit, tz: ZoneInfo) -> dt.datetime:
    return visit.planned_at.astimezone(tz)


@pytest.fixture
def patient(clinic):
    return factories.ConsentedPatientFactory(clinic=clinic)


@pytest.fixture
def template(clinic):
    return factories.CourseTemplateFactory(
        clinic=clinic, session_count=3, interval_weeks=4, followup_weeks=[2, 6]
    )


def enroll(patient, template, clinician, starts_at):
    return services.enroll(
        patient=patient, template=template, clinician=clinician, starts_at=starts_at, by=clinician
    )


def test_visits_keep_local_time_across_spring_change_in_berlin(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    visits = list(course.visits.order_by("planned_at"))
    # 3 sessions, each with follow-ups after 2 and 6 weeks.
    assert len(visits) == 9
    assert [v.kind for v in visits].count(VisitKind.SESSION) == 3
    for visit in visits:
        assert local(visit, BERLIN).time() == dt.time(10, 0), visit
    first_followup = next(v for v in visits if v.kind == VisitKind.FOLLOW_UP and v.session_number == 1)
    # 2026-03-24 is before the change (UTC+1), 2026-04-21 after it (UTC+2).
    assert first_followup.weeks_after_session == 2
    assert first_followup.planned_at == dt.datetime(2026, 3, 24, 9, 0, tzinfo=dt.UTC)
    six_weeks = next(v for v in visits if v.weeks_after_session == 6 and v.session_number == 1)
    assert six_weeks.planned_at == dt.datetime(2026, 4, 21, 8, 0, tzinfo=dt.UTC)
    sessions = [v for v in visits if v.kind == VisitKind.SESSION]
    assert [s.planned_at for s in sessions] == [
        dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 4, 7, 8, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 5, 5, 8, 0, tzinfo=dt.UTC),
    ]


def test_visits_keep_local_time_across_autumn_change_in_berlin(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 9, 29, 10, 0, tzinfo=BERLIN))
    visits = list(course.visits.order_by("planned_at"))
    assert {local(v, BERLIN).time() for v in visits} == {dt.time(10, 0)}
    offsets = {local(v, BERLIN).utcoffset() for v in visits}
    # The course spans the October 25 change: both offsets occur, the wall clock stays at 10:00.
    assert offsets == {dt.timedelta(hours=2), dt.timedelta(hours=1)}
    second_session = next(v for v in visits if v.kind == VisitKind.SESSION and v.session_number == 2)
    assert second_session.planned_at == dt.datetime(2026, 10, 27, 9, 0, tzinfo=dt.UTC)


def test_visits_keep_local_time_in_new_york(clinician):
    clinic = clinician.clinic
    clinic.time_zone = "America/New_York"
    clinic.save()
    patient = factories.ConsentedPatientFactory(clinic=clinic)
    template = factories.CourseTemplateFactory(
        clinic=clinic, session_count=2, interval_weeks=2, followup_weeks=[2]
    )
    # US change: 2026-03-08. Start given as a UTC instant: 14:00 UTC is 09:00 EST (a Monday).
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC))
    visits = list(course.visits.order_by("planned_at", "kind"))
    assert {local(v, NEW_YORK).time() for v in visits} == {dt.time(9, 0)}
    assert visits[-1].planned_at == dt.datetime(2026, 3, 30, 13, 0, tzinfo=dt.UTC)


def test_due_window_is_local_date_plus_minus_window_days(patient, template, clinician):
    # 00:30 in Berlin is still the previous day in UTC: the window follows the local date.
    course = enroll(patient, template, clinician, dt.datetime(2026, 6, 2, 0, 30, tzinfo=BERLIN))
    first = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    assert (first.due_from, first.due_until) == (dt.date(2026, 5, 30), dt.date(2026, 6, 5))


def test_a_wall_time_in_the_spring_gap_moves_forward(patient, clinician, clinic):
    # The clocks change on a Sunday night: only a clinic open on Sundays plans a visit then.
    factories.OpeningHoursFactory(clinic=clinic, weekday=6, starts=dt.time(0, 0), ends=dt.time(23, 59))
    template = factories.CourseTemplateFactory(
        clinic=clinic, session_count=2, interval_weeks=1, followup_weeks=[]
    )
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 22, 2, 30, tzinfo=BERLIN))
    second = course.visits.get(session_number=2)
    assert local(second, BERLIN) == dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)


def test_enroll_refuses_naive_start(patient, template, clinician):
    with pytest.raises(ValidationError) as error:
        enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0))
    assert "starts_at" in error.value.message_dict


def test_enrolment_needs_the_patients_treatment_consent(clinic, template, clinician):
    without = factories.PatientFactory(clinic=clinic)
    with pytest.raises(RuleViolations) as refused:
        enroll(without, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    [violation] = refused.value.violations
    assert (violation.rule, violation.field) == ("consent-missing", "patient")
    assert "treatment consent" in violation.message
    assert not Course.objects.exists() and not Visit.objects.exists()
    # A photography consent is no treatment consent; a treatment consent counts.
    photo = factories.ConsentTemplateFactory(clinic=clinic, kind="photography")
    factories.ConsentRecordFactory(patient=without, template=photo)
    with pytest.raises(RuleViolations):
        enroll(without, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    consent = factories.give_treatment_consent(without)
    assert enroll(without, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)).visits.count()
    # Withdrawn, or of a version the clinic has replaced since, it no longer counts.
    ConsentRecord.objects.filter(pk=consent.pk).update(withdrawn_at=timezone.now(), withdrawn_by=clinician)
    with pytest.raises(RuleViolations):
        enroll(without, template, clinician, dt.datetime(2026, 6, 10, 10, 0, tzinfo=BERLIN))
    consented = factories.ConsentedPatientFactory(clinic=clinic)
    factories.ConsentTemplateFactory(clinic=clinic, version=2)
    with pytest.raises(RuleViolations):
        enroll(consented, template, clinician, dt.datetime(2026, 6, 10, 10, 0, tzinfo=BERLIN))
    assert Course.objects.count() == 1


def test_enroll_refuses_foreign_template_and_non_clinician(patient, clinician, assistant, other_clinic):
    foreign = factories.CourseTemplateFactory(clinic=other_clinic)
    with pytest.raises(ValidationError) as error:
        services.enroll(
            patient=patient,
            template=foreign,
            clinician=assistant,
            starts_at=dt.datetime(2026, 3, 10, 10, tzinfo=BERLIN),
            by=clinician,
        )
    assert set(error.value.message_dict) == {"template_id", "clinician_id"}


def test_researcher_cannot_enroll(patient, template, clinician, researcher):
    with pytest.raises(PermissionDenied):
        services.enroll(
            patient=patient,
            template=template,
            clinician=clinician,
            starts_at=dt.datetime(2026, 3, 10, 10, tzinfo=BERLIN),
            by=researcher,
        )


def test_due_and_overdue_lists(patient, template, clinician, clinic, other_clinic):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    other_clinician = factories.UserFactory(clinic=other_clinic, role="clinician")
    enroll(
        factories.ConsentedPatientFactory(clinic=other_clinic),
        factories.CourseTemplateFactory(clinic=other_clinic),
        other_clinician,
        dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN),
    )
    on = dt.date(2026, 3, 25)  # follow-up of session 1 was due 2026-03-21 .. 2026-03-27
    due = list(selectors.due_visits(clinic=clinic, on=on))
    assert [(v.kind, v.session_number, v.weeks_after_session) for v in due] == [(VisitKind.FOLLOW_UP, 1, 2)]
    overdue = list(selectors.overdue_visits(clinic=clinic, on=on))
    assert [(v.kind, v.session_number) for v in overdue] == [(VisitKind.SESSION, 1)]
    # Once marked missed a visit is no longer overdue; the other clinic's visits never appear.
    services.mark_missed(visit=overdue[0], by=clinician)
    assert list(selectors.overdue_visits(clinic=clinic, on=on)) == []
    assert list(selectors.due_visits(clinic=clinic, on=on, clinician=other_clinician)) == []
    assert selectors.due_visits(clinic=clinic, on=on, clinician=clinician).count() == 1
    assert course.visits.filter(status=VisitStatus.MISSED).count() == 1


def test_reschedule_moves_the_window_and_only_planned_visits_change(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    visit = course.visits.get(kind=VisitKind.SESSION, session_number=2)
    moved = services.reschedule_visit(
        visit=visit, planned_at=dt.datetime(2026, 4, 14, 15, 0, tzinfo=BERLIN), by=clinician
    )
    assert (moved.due_from, moved.due_until) == (dt.date(2026, 4, 11), dt.date(2026, 4, 17))
    services.cancel_visit(visit=moved, by=clinician)
    with pytest.raises(ValidationError):
        services.reschedule_visit(
            visit=moved, planned_at=dt.datetime(2026, 4, 15, 15, 0, tzinfo=BERLIN), by=clinician
        )
    with pytest.raises(ValidationError):
        services.mark_missed(visit=moved, by=clinician)


def planned(course):
    """(kind, session number, weeks after it) -> local planned time and due window of each visit."""
    return {
        (v.kind, v.session_number, v.weeks_after_session): (local(v, BERLIN), v.due_from, v.due_until)
        for v in course.visits.all()
    }


def test_rescheduling_a_session_moves_its_follow_ups_on_the_wall_clock(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    before = planned(course)
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    # Two days later at 15:00: the 2-week follow-up stays before the DST change, the 6-week one after it.
    services.reschedule_visit(
        visit=session, planned_at=dt.datetime(2026, 3, 12, 15, 0, tzinfo=BERLIN), by=clinician
    )
    after = planned(course)
    assert after[(VisitKind.FOLLOW_UP, 1, 2)] == (
        dt.datetime(2026, 3, 26, 15, 0, tzinfo=BERLIN),
        dt.date(2026, 3, 23),
        dt.date(2026, 3, 29),
    )
    assert after[(VisitKind.FOLLOW_UP, 1, 6)][0] == dt.datetime(2026, 4, 23, 15, 0, tzinfo=BERLIN)
    assert after[(VisitKind.FOLLOW_UP, 1, 6)][0].utcoffset() == dt.timedelta(hours=2)
    # The other sessions and their follow-ups stay.
    assert {k: v for k, v in after.items() if k[1] != 1} == {k: v for k, v in before.items() if k[1] != 1}


def test_done_cancelled_and_separately_moved_follow_ups_stay(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    session = course.visits.get(kind=VisitKind.SESSION, session_number=2)  # 2026-04-07
    two, six = (course.visits.get(session_number=2, weeks_after_session=w) for w in (2, 6))
    services.mark_done(visit=two, by=clinician)
    services.reschedule_visit(
        visit=six, planned_at=dt.datetime(2026, 5, 20, 9, 0, tzinfo=BERLIN), by=clinician
    )
    services.reschedule_visit(
        visit=session, planned_at=dt.datetime(2026, 4, 9, 10, 0, tzinfo=BERLIN), by=clinician
    )
    two.refresh_from_db()
    six.refresh_from_db()
    # Planned a day after 2026-04-21, which the first session's six-week follow-up takes.
    assert (two.status, local(two, BERLIN)) == (
        VisitStatus.DONE,
        dt.datetime(2026, 4, 22, 10, 0, tzinfo=BERLIN),
    )
    assert local(six, BERLIN) == dt.datetime(2026, 5, 20, 9, 0, tzinfo=BERLIN)
    # Moving a follow-up moves only that follow-up; a cancelled one stays when its session moves.
    third = course.visits.get(kind=VisitKind.SESSION, session_number=3)  # 2026-05-05
    third_two = course.visits.get(session_number=3, weeks_after_session=2)
    third_six = course.visits.get(session_number=3, weeks_after_session=6)
    services.cancel_visit(visit=third_two, by=clinician)
    services.reschedule_visit(
        visit=third, planned_at=dt.datetime(2026, 5, 6, 10, 0, tzinfo=BERLIN), by=clinician
    )
    third_two.refresh_from_db()
    third_six.refresh_from_db()
    # (planned a day after 2026-05-19, the second session's six-week follow-up's day)
    assert local(third_two, BERLIN) == dt.datetime(2026, 5, 20, 10, 0, tzinfo=BERLIN)
    assert local(third_six, BERLIN) == dt.datetime(2026, 6, 17, 10, 0, tzinfo=BERLIN)


def test_moved_follow_ups_are_due_and_in_the_calendar_on_their_new_dates(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(NEXT_YEAR, 3, 10, 10, 0, tzinfo=BERLIN))
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    services.reschedule_visit(
        visit=session, planned_at=dt.datetime(NEXT_YEAR, 3, 20, 11, 30, tzinfo=BERLIN), by=clinician
    )
    follow_up = course.visits.get(session_number=1, weeks_after_session=2)
    assert local(follow_up, BERLIN) == dt.datetime(NEXT_YEAR, 4, 3, 11, 30, tzinfo=BERLIN)
    assert list(selectors.due_visits(clinic=patient.clinic, on=dt.date(NEXT_YEAR, 4, 3))) == [follow_up]
    assert follow_up not in selectors.due_visits(clinic=patient.clinic, on=dt.date(NEXT_YEAR, 3, 24))
    starts = {str(e["uid"]): e.decoded("dtstart") for e in _events(services.calendar_for(clinician))}
    assert starts[f"visit-{follow_up.pk}@exoderm"] == dt.datetime(NEXT_YEAR, 4, 3, 11, 30, tzinfo=BERLIN)
    assert starts[f"visit-{session.pk}@exoderm"] == dt.datetime(NEXT_YEAR, 3, 20, 11, 30, tzinfo=BERLIN)


def test_a_visit_not_due_yet_cannot_be_done_or_missed(patient, template, clinician):
    course = enroll(patient, template, clinician, timezone.now() + dt.timedelta(days=10))
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)  # due from 7 days ahead
    for change in (services.mark_done, services.mark_missed):
        with pytest.raises(ValidationError) as error:
            change(visit=session, by=clinician)
        assert "reschedule" in error.value.message_dict["status"][0]
    session.refresh_from_db()
    assert session.status == VisitStatus.PLANNED
    # Once its due window has opened it can; a visit can be cancelled ahead of time.
    moved = services.reschedule_visit(visit=session, planned_at=timezone.now(), by=clinician)
    assert services.mark_done(visit=moved, by=clinician).status == VisitStatus.DONE
    later = course.visits.get(kind=VisitKind.SESSION, session_number=2)
    assert services.cancel_visit(visit=later, by=clinician).status == VisitStatus.CANCELLED


def test_template_validation(clinic, clinic_admin, clinician):
    with pytest.raises(ValidationError) as error:
        services.create_course_template(
            clinic=clinic,
            name="Bad",
            session_count=0,
            interval_weeks=4,
            followup_weeks=[2, 2],
            window_days=3,
            by=clinic_admin,
        )
    assert {"session_count", "followup_weeks"} <= set(error.value.message_dict)
    with pytest.raises(PermissionDenied):
        services.create_course_template(
            clinic=clinic,
            name="Ok",
            session_count=3,
            interval_weeks=4,
            followup_weeks=[2, 6],
            window_days=3,
            by=clinician,
        )


def _events(body: bytes) -> list:
    calendar = icalendar.Calendar.from_ical(body)
    return list(calendar.walk("VEVENT"))


def test_calendar_has_tzid_vtimezone_stable_uids_and_no_names(patient, template, clinician):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    body = ics.build_calendar(selectors.calendar_visits(clinician=clinician, since=since), name="x")
    text = body.decode()
    assert "TZID=Europe/Berlin" in text
    assert "BEGIN:VTIMEZONE" in text
    assert icalendar.Calendar.from_ical(body).decoded("refresh-interval") == dt.timedelta(hours=1)
    identity = patient.identity
    for secret in (identity.family_name, identity.given_name, identity.email, identity.phone):
        assert secret not in text
    events = _events(body)
    assert len(events) == 9
    for event in events:
        start = event.decoded("dtstart")
        assert str(start.tzinfo) == "Europe/Berlin" or getattr(start.tzinfo, "key", "") == "Europe/Berlin"
        assert start.time() == dt.time(10, 0)
        assert patient.code in str(event["summary"])
    uids = {str(e["uid"]) for e in events}
    # Parsed back, each start is the visit's instant (offsets +01 before, +02 after March 29).
    planned = {f"visit-{v.pk}@exoderm": v.planned_at for v in course.visits.all()}
    assert {str(e["uid"]): e.decoded("dtstart") for e in events} == planned
    assert uids == {f"visit-{v.pk}@exoderm" for v in course.visits.all()}
    again = ics.build_calendar(selectors.calendar_visits(clinician=clinician, since=since), name="x")
    assert {str(e["uid"]) for e in _events(again)} == uids


def test_feed_token_gives_only_own_planned_visits(patient, template, clinician, clinic):
    enroll(patient, template, clinician, dt.datetime(NEXT_YEAR, 3, 10, 10, 0, tzinfo=BERLIN))
    colleague = factories.UserFactory(clinic=clinic, role="clinician")
    enroll(
        factories.ConsentedPatientFactory(clinic=clinic),
        template,
        colleague,
        dt.datetime(NEXT_YEAR, 3, 11, 10, 0, tzinfo=BERLIN),
    )
    token = services.issue_calendar_feed(user=clinician)
    body = services.feed_for_token(token)
    assert body is not None
    assert len(_events(body)) == 9
    assert services.feed_for_token("not-a-token") is None
    # A new token replaces the old one.
    newer = services.issue_calendar_feed(user=clinician)
    assert services.feed_for_token(token) is None
    assert services.feed_for_token(newer) is not None
    services.revoke_calendar_feed(user=clinician)
    assert services.feed_for_token(newer) is None


DST_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",  # changes at midnight
    "Australia/Sydney",  # southern hemisphere
    "Australia/Lord_Howe",  # half-hour change
    "Asia/Tokyo",  # no change
]


def exists(wall: dt.datetime, tz: ZoneInfo) -> bool:
    return wall.replace(tzinfo=tz).astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == wall


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(DST_ZONES),
    start=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2030, 12, 31)),
    sessions=st.integers(1, 6),
    interval=st.integers(1, 8),
    followups=st.lists(st.integers(1, 12), max_size=3, unique=True),
)
def test_every_visit_keeps_the_wall_clock(zone, start, sessions, interval, followups):
    """Property: a visit is on its planned local date at the start's wall time (or just after a gap)."""
    tz = ZoneInfo(zone)
    start = start.replace(second=0, microsecond=0)
    assume(exists(start, tz))
    clinic = Clinic(time_zone=zone)
    template = CourseTemplate(
        clinic=clinic,
        session_count=sessions,
        interval_weeks=interval,
        followup_weeks=followups,
        window_days=2,
    )
    course = Course(patient=Patient(clinic=clinic), template=template, starts_at=start.replace(tzinfo=tz))
    visits = services.plan_visits(course)
    assert len(visits) == sessions * (1 + len(followups))
    for visit in visits:
        weeks = (visit.session_number - 1) * interval + (visit.weeks_after_session or 0)
        expected = start + dt.timedelta(weeks=weeks)
        actual = visit.planned_at.astimezone(tz).replace(tzinfo=None)
        if exists(expected, tz):
            assert actual == expected
        else:  # a wall time skipped by a spring change moves forward by the change
            assert dt.timedelta(0) < actual - expected <= dt.timedelta(hours=1)
        assert visit.due_from == actual.date() - dt.timedelta(days=2)
        assert visit.due_until == actual.date() + dt.timedelta(days=2)


IMPLAUSIBLE = [
    pytest.param(dt.datetime(1, 1, 1, 0, 0, tzinfo=BERLIN), "lies before", id="year-0001"),
    pytest.param(dt.datetime(1900, 1, 1, 10, 0, tzinfo=BERLIN), "lies before", id="year-1900"),
    pytest.param(dt.datetime(9999, 12, 31, 23, 59, tzinfo=BERLIN), "at most until", id="year-9999"),
]


@pytest.mark.parametrize(("starts_at", "says"), IMPLAUSIBLE)
def test_enrolment_refuses_a_start_in_an_implausible_year(patient, template, clinician, starts_at, says):
    with pytest.raises(ValidationError) as error:
        enroll(patient, template, clinician, starts_at)
    [message] = error.value.message_dict["starts_at"]
    assert says in message and "check the year" in message
    assert not Course.objects.exists() and not Visit.objects.exists()


@pytest.mark.parametrize(("planned_at", "says"), IMPLAUSIBLE)
def test_rescheduling_refuses_an_implausible_year(patient, template, clinician, planned_at, says):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    before = planned(course)
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    with pytest.raises(ValidationError) as error:
        services.reschedule_visit(visit=session, planned_at=planned_at, by=clinician)
    assert says in error.value.message_dict["planned_at"][0]
    assert planned(course) == before


def test_plans_reach_up_to_plan_ahead(patient, template, clinician):
    last_day = timezone.now().date() + clock.PLAN_AHEAD
    course = enroll(patient, template, clinician, dt.datetime.combine(last_day, dt.time(10), tzinfo=BERLIN))
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    with pytest.raises(ValidationError, match="check the year"):
        services.reschedule_visit(
            visit=session,
            planned_at=dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(10), tzinfo=BERLIN),
            by=clinician,
        )


@pytest.mark.parametrize(
    ("change", "english", "german"),
    [
        (services.mark_done, "This visit is done already;", "Dieser Termin ist bereits erledigt;"),
        (services.mark_missed, "This visit was marked missed;", "Dieser Termin wurde als versäumt markiert;"),
        (services.cancel_visit, "This visit was cancelled;", "Dieser Termin wurde abgesagt;"),
    ],
)
def test_a_changed_visit_says_in_a_sentence_why_it_cannot_change(
    patient, template, clinician, change, english, german
):
    course = enroll(patient, template, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))
    visit = change(visit=course.visits.get(kind=VisitKind.SESSION, session_number=1), by=clinician)
    with pytest.raises(ValidationError) as error:
        services.cancel_visit(visit=visit, by=clinician)
    assert error.value.message_dict["status"] == [f"{english} only a planned visit can be changed."]
    with translation.override("de"), pytest.raises(ValidationError) as error:
        services.reschedule_visit(visit=visit, planned_at=visit.planned_at, by=clinician)
    assert error.value.message_dict["status"] == [f"{german} nur ein geplanter Termin kann geändert werden."]


def test_a_template_name_is_taken_once_per_clinic(clinic, other_clinic, clinic_admin):
    def create(name, clinic=clinic, by=clinic_admin):
        return services.create_course_template(
            clinic=clinic,
            name=name,
            session_count=3,
            interval_weeks=4,
            followup_weeks=[2],
            window_days=3,
            by=by,
        )

    create("Standard")
    for name in ("Standard", " standard "):
        with pytest.raises(ValidationError) as error:
            create(name)
        assert error.value.message_dict == {
            "name": ["The clinic already has a course template of this name."]
        }
    with translation.override("de"), pytest.raises(ValidationError) as error:
        create("Standard")
    assert error.value.message_dict["name"] == ["Die Praxis hat bereits eine Kurvorlage mit diesem Namen."]
    other_admin = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    assert create("Standard", clinic=other_clinic, by=other_admin).name == "Standard"
