"""Today: one line per patient and day, visits marked done or missed in place (HTMX), "my
patients", and the overdue visits collapsed into a count with a link to their list."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.urls import reverse

from exoderm.courses.models import VisitKind, VisitStatus
from exoderm.courses.services import enroll, mark_done
from exoderm.patients.selectors import clinic_today
from tests import factories
from tests._browser import shot
from tests.signin import login_in_browser


def course_six_weeks_ago(clinician, *, lead=None):
    """A course of sessions every four weeks with follow-ups at weeks 2 and 6, begun six weeks ago:
    week 6 after session 1 and week 2 after session 2 both fall on today noon (one visit of the
    patient), and session 1, its week-2 follow-up and session 2 are overdue.

    The visits are placed on those days here, whatever day of the week today is (enrolment books
    them into the clinic's working days)."""
    clinic = clinician.clinic
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    today = clinic_today(clinic)
    first = dt.datetime.combine(today - dt.timedelta(weeks=6), dt.time(12), tzinfo=tz)
    patient = factories.ConsentedPatientFactory(clinic=clinic)
    course = enroll(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=clinic, interval_weeks=4, followup_weeks=[2, 6]),
        clinician=lead or clinician,
        starts_at=first,
        by=clinician,
    )
    for visit in course.visits.all():
        weeks = 4 * (visit.session_number - 1) + (visit.weeks_after_session or 0)
        day = today - dt.timedelta(weeks=6) + dt.timedelta(weeks=weeks)
        course.visits.filter(pk=visit.pk).update(
            planned_at=dt.datetime.combine(day, dt.time(12), tzinfo=tz),
            due_from=day - dt.timedelta(days=3),
            due_until=day + dt.timedelta(days=3),
        )
    return course


def todays_follow_ups(course):
    return list(
        course.visits.filter(kind=VisitKind.FOLLOW_UP, due_from__lte=clinic_today(course.patient.clinic))
        .filter(due_until__gte=clinic_today(course.patient.clinic))
        .order_by("pk")
    )


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def line_url(mark, visits, show="window"):
    query = "&".join(f"visit={v.pk}" for v in visits)
    return f"{reverse('today-visits')}?{query}&show={show}" + (f"&mark={mark}" if mark else "")


@pytest.mark.django_db
def test_the_follow_ups_of_one_visit_are_one_line(client, clinician):
    course = course_six_weeks_ago(clinician)
    assert len(todays_follow_ups(course)) == 2
    client.force_login(clinician)
    html = client.get(reverse("today")).content.decode()
    for heading in ("h-followups", "h-visits"):
        part = section(html, heading)
        assert part.count('<li class="visit-line') == 1, heading
        assert "Follow-up week 6 after session 1" in part and "Follow-up week 2 after session 2" in part
        assert part.count(course.patient.code) == 1


@pytest.mark.django_db
def test_todays_booked_appointments_come_first_and_narrow_to_mine(client, clinician):
    clinic = clinician.clinic
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    today = clinic_today(clinic)

    def at(day, hour):
        return dt.datetime.combine(day, dt.time(hour), tzinfo=tz)

    colleague = factories.UserFactory(clinic=clinic, role="clinician", last_name="Kollegin")
    room = factories.RoomFactory(clinic=clinic, name="Laser room")
    mine = factories.AppointmentFactory(
        patient__clinic=clinic, clinician=clinician, starts_at=at(today, 10), room=room
    )
    theirs = factories.AppointmentFactory(patient__clinic=clinic, clinician=colleague, starts_at=at(today, 9))
    cancelled = factories.AppointmentFactory(
        patient__clinic=clinic, clinician=clinician, starts_at=at(today, 11), status="cancelled"
    )
    tomorrow = factories.AppointmentFactory(
        patient__clinic=clinic, clinician=clinician, starts_at=at(today + dt.timedelta(days=1), 10)
    )
    elsewhere = factories.AppointmentFactory(starts_at=at(today, 10))  # another clinic's
    client.force_login(clinician)
    html = client.get(reverse("today")).content.decode()
    booked = section(html, "h-appointments")
    assert booked.index(theirs.patient.code) < booked.index(mine.patient.code)  # in time order
    assert "10:00" in booked and "Laser room" in booked
    assert reverse("booking-appointment", args=[mine.pk]) in booked
    for absent in (cancelled, tomorrow, elsewhere):
        assert absent.patient.code not in booked
    assert html.index('id="h-appointments"') < html.index('id="h-visits"')
    narrowed = section(client.get(reverse("today"), {"mine": "1"}).content.decode(), "h-appointments")
    assert mine.patient.code in narrowed and theirs.patient.code not in narrowed


@pytest.mark.django_db
def test_overdue_visits_are_a_count_with_a_link_to_their_list(client, clinician):
    courses = [course_six_weeks_ago(clinician) for _ in range(8)]
    client.force_login(clinician)
    part = section(client.get(reverse("today")).content.decode(), "h-overdue")
    assert "24 visits overdue" in part and reverse("today-overdue") in part
    assert not any(course.patient.code in part for course in courses)  # no names swamping the page
    listed = client.get(reverse("today-overdue")).content.decode()
    assert all(course.patient.code in listed for course in courses)
    # session 1, its week-2 follow-up and session 2 lie on three days: three lines per patient
    assert listed.count('<li class="visit-line') == 24 and "due until" in listed


@pytest.mark.django_db
def test_a_line_is_marked_done_after_a_confirmation(client, clinician):
    course = course_six_weeks_ago(clinician)
    visits = todays_follow_ups(course)
    client.force_login(clinician)
    question = client.get(line_url("done", visits), headers={"HX-Request": "true"})
    assert question.status_code == 200
    assert "Mark these 2 visits done?" in question.content.decode()
    assert {v.status for v in course.visits.filter(pk__in=[v.pk for v in visits])} == {VisitStatus.PLANNED}
    answer = client.get(line_url("", visits)).content.decode()  # "No": the line as it was
    assert "Mark these" not in answer and line_url("done", visits).replace("&", "&amp;") in answer
    done = client.post(line_url("done", visits)).content.decode()
    assert "Marked: Done" in done
    assert {v.status for v in course.visits.filter(pk__in=[v.pk for v in visits])} == {VisitStatus.DONE}
    again = client.post(line_url("missed", visits)).content.decode()
    assert "only a planned visit can be changed" in again


@pytest.mark.django_db
def test_a_line_is_marked_whole_or_not_at_all(client, clinician):
    course = course_six_weeks_ago(clinician)
    first, second = todays_follow_ups(course)
    mark_done(visit=first, by=clinician)
    client.force_login(clinician)
    html = client.post(line_url("missed", [first, second])).content.decode()
    assert "This visit is done already" in html
    second.refresh_from_db()
    assert second.status == VisitStatus.PLANNED


@pytest.mark.django_db
def test_my_patients_are_those_i_treated_or_lead(client, clinician):
    colleague = factories.UserFactory(clinic=clinician.clinic, role="clinician")
    mine = course_six_weeks_ago(clinician)
    theirs = course_six_weeks_ago(colleague)
    treated = course_six_weeks_ago(colleague, lead=colleague)
    factories.TreatmentSessionFactory(patient=treated.patient, clinician=clinician)
    client.force_login(clinician)
    everyone = client.get(reverse("today")).content.decode()
    assert all(c.patient.code in everyone for c in (mine, theirs, treated))
    narrowed = client.get(reverse("today"), {"mine": "1"}).content.decode()
    assert mine.patient.code in narrowed and treated.patient.code in narrowed
    assert theirs.patient.code not in narrowed
    assert "6 visits overdue" in section(narrowed, "h-overdue")
    overdue = client.get(reverse("today-overdue"), {"mine": "1"}).content.decode()
    assert theirs.patient.code not in overdue and mine.patient.code in overdue


@pytest.mark.django_db
def test_lines_stay_in_the_clinic_and_need_the_right_role(client, clinician, researcher):
    course = course_six_weeks_ago(clinician)
    visits = todays_follow_ups(course)
    stranger = factories.UserFactory(role="clinician")
    client.force_login(stranger)
    assert client.post(line_url("done", visits)).status_code == 404
    client.force_login(researcher)
    assert client.post(line_url("done", visits)).status_code == 403
    other = course_six_weeks_ago(clinician)
    client.force_login(clinician)
    assert client.get(line_url("done", visits + todays_follow_ups(other))).status_code == 404
    assert client.get(line_url("erase", visits)).status_code == 404
    assert {v.status for v in course.visits.filter(pk__in=[v.pk for v in visits])} == {VisitStatus.PLANNED}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 820])
def test_marking_a_visit_done_on_the_today_page(browser_page, live_server, width):
    page = browser_page
    clinician = factories.UserFactory(role="clinician")
    course = course_six_weeks_ago(clinician)
    for _ in range(5):
        course_six_weeks_ago(clinician)
    page.set_viewport_size({"width": width, "height": 1000})
    login_in_browser(page, live_server.url, clinician)
    followups = page.locator("#h-followups + ul .visit-line").filter(has_text=course.patient.code)
    assert followups.count() == 1
    assert page.locator("#h-overdue ~ p").inner_text().startswith("18 visits overdue")
    if width == 1280:
        shot(page, "today-grouped")
    followups.get_by_role("button", name="Done").click()
    followups.get_by_role("button", name="Yes").click()
    page.wait_for_selector(f"#h-followups + ul .visit-line-marked:has-text('{course.patient.code}')")
    assert re.search("Marked: Done", followups.inner_text())
    assert course.visits.filter(kind=VisitKind.FOLLOW_UP, status=VisitStatus.DONE).count() == 2
    # the same visit in today's list is marked too: its buttons would act on a done visit
    planned = page.locator("#h-visits + ul .visit-line").filter(has_text=course.patient.code)
    assert "Marked: Done" in planned.inner_text()
    assert planned.get_by_role("button").count() == 0
    assert page.locator("[id^=visit-line-]").evaluate_all(
        "lines => new Set(lines.map(l => l.id)).size === lines.length"
    )
    page.check_clean()
