"""/api/v1 course and consent templates, visits (due, overdue, changes) and the calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import icalendar
import pytest
from django.utils import timezone
from tests import factories

from exoderm.courses import services
from exoderm.courses.models import VisitKind, VisitStatus

PROBLEM = "application/problem+json"
BERLIN = ZoneInfo("Europe/Berlin")
# Plans reach at most clock.PLAN_AHEAD ahead: March of next year is always ahead and plannable.
NEXT_YEAR = timezone.localdate().year + 1


def enroll(patient, clinician, starts_at, **template):
    return services.enroll(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=patient.clinic, **template),
        clinician=clinician,
        starts_at=starts_at,
        by=clinician,
    )


@pytest.fixture
def course(clinic, clinician):
    patient = factories.ConsentedPatientFactory(clinic=clinic)
    return enroll(patient, clinician, dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN))


@pytest.fixture
def foreign_course(other_clinic):
    clinician = factories.UserFactory(clinic=other_clinic, role="clinician")
    return enroll(
        factories.ConsentedPatientFactory(clinic=other_clinic),
        clinician,
        dt.datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN),
    )


def test_course_templates_admin_creates_everyone_reads(api_as, clinic_admin, clinician, other_clinic):
    factories.CourseTemplateFactory(clinic=other_clinic, name="Foreign")
    body = {"name": "3 × 4 weeks", "session_count": 3, "interval_weeks": 4, "followup_weeks": [2, 6]}
    created = api_as(clinic_admin).post("/course-templates", body)
    assert created.status_code == 201, created.content
    assert created.json()["window_days"] == 3
    assert api_as(clinician).post("/course-templates", {**body, "name": "x"}).status_code == 403
    listed = api_as(clinician).get("/course-templates").json()
    assert [t["name"] for t in listed["items"]] == ["3 × 4 weeks"]
    bad = api_as(clinic_admin).post("/course-templates", {**body, "name": "y", "followup_weeks": [0]})
    assert bad.status_code == 422
    assert bad["Content-Type"] == PROBLEM


def test_consent_templates_version_through_the_api(api_as, clinic_admin, researcher):
    body = {
        "kind": "photography",
        "title_de": "Fotos",
        "title_en": "Photos",
        "text_de": "Ja.",
        "text_en": "Yes.",
    }
    api = api_as(clinic_admin)
    assert api.post("/consent-templates", body).json()["version"] == 1
    assert api.post("/consent-templates", body).json()["version"] == 2
    listed = api_as(researcher).get("/consent-templates", {"kind": "photography"}).json()
    assert [t["version"] for t in listed["items"]] == [2, 1]
    assert api.post("/consent-templates", {**body, "kind": "newsletter"}).status_code == 422


def test_due_and_overdue_visits(api_as, clinician, course, foreign_course):
    api = api_as(clinician)
    due = api.get("/visits", {"due": "today", "on": "2026-03-24"}).json()
    assert [(v["kind"], v["session_number"]) for v in due["items"]] == [(VisitKind.FOLLOW_UP, 1)]
    assert due["items"][0]["patient_code"] == course.patient.code
    overdue = api.get("/visits", {"due": "overdue", "on": "2026-04-22"}).json()
    # Session 1 (due to 03-13), its follow-ups (03-27, 04-24 → not yet) and session 2 (04-10).
    assert [(v["kind"], v["session_number"], v["weeks_after_session"]) for v in overdue["items"]] == [
        (VisitKind.SESSION, 1, None),
        (VisitKind.FOLLOW_UP, 1, 2),
        (VisitKind.SESSION, 2, None),
    ]
    mine = api.get("/visits", {"due": "today", "on": "2026-03-24", "clinician_id": clinician.pk}).json()
    assert mine["count"] == 1
    assert api.get("/visits", {"due": "later"}).status_code == 422


def test_visit_changes(api_as, clinician, course):
    api = api_as(clinician)
    visit = course.visits.get(kind=VisitKind.SESSION, session_number=2)
    moved = api.post(f"/visits/{visit.pk}/reschedule", {"planned_at": "2026-04-09T16:30:00+02:00"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["due_from"] == "2026-04-06"
    assert dt.datetime.fromisoformat(moved.json()["planned_local"]).time() == dt.time(16, 30)
    naive = api.post(f"/visits/{visit.pk}/reschedule", {"planned_at": "2026-04-09T16:30:00"})
    assert naive.status_code == 422
    assert api.post(f"/visits/{visit.pk}/missed").status_code == 200
    visit.refresh_from_db()
    assert visit.status == VisitStatus.MISSED
    assert api.post(f"/visits/{visit.pk}/cancel").status_code == 422
    other = course.visits.get(kind=VisitKind.SESSION, session_number=3)
    assert api.post(f"/visits/{other.pk}/done").json()["status"] == VisitStatus.DONE


def test_rescheduling_a_session_moves_its_follow_ups_in_the_api_and_calendar(api_as, clinician, clinic):
    course = enroll(
        factories.ConsentedPatientFactory(clinic=clinic),
        clinician,
        dt.datetime(NEXT_YEAR, 3, 10, 10, 0, tzinfo=BERLIN),
    )
    session = course.visits.get(kind=VisitKind.SESSION, session_number=1)
    follow_ups = course.visits.filter(kind=VisitKind.FOLLOW_UP, session_number=1).order_by("planned_at")
    api = api_as(clinician)
    moved = api.post(f"/visits/{session.pk}/reschedule", {"planned_at": f"{NEXT_YEAR}-03-06T14:00:00+01:00"})
    assert moved.status_code == 200, moved.content
    shown = [api.get(f"/visits/{v.pk}").json() for v in follow_ups]
    # 2 and 6 weeks after the session, on the next day the clinic is open (Easter Monday falls on
    # the later one in some years); Berlin changes to summer time between the two.
    first, second = _open_day(dt.date(NEXT_YEAR, 3, 20)), _open_day(dt.date(NEXT_YEAR, 4, 17))
    assert [v["planned_local"] for v in shown] == [
        f"{first.isoformat()}T14:00:00+01:00",
        f"{second.isoformat()}T14:00:00+02:00",
    ]
    assert [v["due_from"] for v in shown] == [
        (day - dt.timedelta(days=3)).isoformat() for day in (first, second)
    ]
    events = icalendar.Calendar.from_ical(api.get("/visits.ics").content).walk("VEVENT")
    starts = {str(e["uid"]): e.decoded("dtstart") for e in events}
    assert [starts[f"visit-{v.pk}@exoderm"] for v in follow_ups] == [
        dt.datetime.combine(first, dt.time(14, 0), tzinfo=BERLIN),
        dt.datetime.combine(second, dt.time(14, 0), tzinfo=BERLIN),
    ]


def _open_day(day: dt.date) -> dt.date:
    """The first day from ``day`` on that a clinic without set hours is open: not a Sunday, not a
    public holiday in Germany."""
    closed = holidays.Germany(years=[day.year])
    while day.weekday() == 6 or day in closed:
        day += dt.timedelta(days=1)
    return day


def test_calendar_ics_for_the_requesting_clinician(api_as, clinician, clinic):
    patient = factories.ConsentedPatientFactory(clinic=clinic)
    enroll(patient, clinician, dt.datetime(NEXT_YEAR, 3, 10, 10, 0, tzinfo=BERLIN))
    response = api_as(clinician).get("/visits.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    text = response.content.decode()
    assert "TZID=Europe/Berlin" in text
    assert patient.identity.family_name not in text
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert len(events) == 9
    assert {e.decoded("dtstart").time() for e in events} == {dt.time(10, 0)}


def test_secret_feed_without_login(api_as, clinician, clinic, client):
    enroll(
        factories.ConsentedPatientFactory(clinic=clinic),
        clinician,
        dt.datetime(NEXT_YEAR, 3, 10, 10, 0, tzinfo=BERLIN),
    )
    issued = api_as(clinician).post("/calendar-feed")
    assert issued.status_code == 201
    path = issued.json()["path"]
    # The web URLconf mounts exoderm.web.views.courses.calendar_feed at calendar/<token>.ics.
    feed = client.get(path)
    assert feed.status_code == 200, feed.content[:200]
    assert len(icalendar.Calendar.from_ical(feed.content).walk("VEVENT")) == 9
    assert client.get("/calendar/wrong.ics").status_code == 404
    assert api_as(clinician).delete("/calendar-feed").status_code == 204
    assert client.get(path).status_code == 404


def test_researchers_get_no_visits(api_as, researcher, course):
    api = api_as(researcher)
    visit = course.visits.first()
    for response in (
        api.get("/visits"),
        api.get(f"/visits/{visit.pk}"),
        api.get("/visits.ics"),
        api.post("/calendar-feed"),
        api.post(f"/visits/{visit.pk}/missed"),
    ):
        assert response.status_code == 403, response.content


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/visits/{visit}", None),
        ("post", "/visits/{visit}/reschedule", {"planned_at": "2026-04-09T16:30:00+02:00"}),
        ("post", "/visits/{visit}/missed", None),
        ("post", "/visits/{visit}/cancel", None),
        ("post", "/visits/{visit}/done", None),
        ("get", "/course-templates/{template}", None),
        ("get", "/consent-templates/{consent_template}", None),
        ("get", "/visits?clinician_id={clinician}", None),
    ],
)
def test_another_clinics_ids_are_404(api_as, clinician, foreign_course, method, path, body):
    consent_template = factories.ConsentTemplateFactory(
        clinic=foreign_course.patient.clinic, kind="photography"
    )
    ids = {
        "visit": foreign_course.visits.first().pk,
        "template": foreign_course.template_id,
        "consent_template": consent_template.pk,
        "clinician": foreign_course.clinician_id,
    }
    response = getattr(api_as(clinician), method)(path.format(**ids), body)
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == PROBLEM
    foreign_course.visits.first().refresh_from_db()
    assert not foreign_course.visits.exclude(status=VisitStatus.PLANNED).exists()


def test_foreign_visits_never_listed(api_as, clinician, foreign_course):
    api = api_as(clinician)
    for due, on in (("today", "2026-03-10"), ("overdue", "2026-12-31")):
        assert api.get("/visits", {"due": due, "on": on}).json()["count"] == 0


@pytest.mark.parametrize("starts_at", ["9999-12-31T10:00:00+01:00", "1900-01-01T10:00:00+01:00"])
def test_enrolment_in_an_implausible_year_is_a_422_naming_the_field(api_as, clinician, clinic, starts_at):
    patient = factories.ConsentedPatientFactory(clinic=clinic)
    template = factories.CourseTemplateFactory(clinic=clinic)
    body = {"template_id": template.pk, "clinician_id": clinician.pk, "starts_at": starts_at}
    response = api_as(clinician).post(f"/patients/{patient.pk}/courses", body)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    [error] = response.json()["errors"]
    assert error["field"] == "starts_at" and "check the year" in error["message"]
    assert not patient.courses.exists()


@pytest.mark.parametrize("planned_at", ["9999-12-31T23:59:00+01:00", "0001-01-01T00:00:00+01:00"])
def test_rescheduling_to_an_implausible_year_is_a_422_naming_the_field(api_as, clinician, course, planned_at):
    visit = course.visits.get(kind=VisitKind.SESSION, session_number=2)
    response = api_as(clinician).post(f"/visits/{visit.pk}/reschedule", {"planned_at": planned_at})
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "planned_at" and "check the year" in error["message"]


def test_a_duplicate_template_name_is_a_422_on_the_name(api_as, clinic_admin):
    body = {"name": "Standard", "session_count": 3, "interval_weeks": 4, "followup_weeks": [2]}
    api = api_as(clinic_admin)
    assert api.post("/course-templates", body).status_code == 201
    response = api.post("/course-templates", {**body, "name": "standard"}, headers={"Accept-Language": "de"})
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        {"field": "name", "message": "Die Praxis hat bereits eine Kurvorlage mit diesem Namen."}
    ]
