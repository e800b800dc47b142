"""Visit pages: marking a follow-up done, confirmations naming the visit, implausible years refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from exoderm.courses import selectors
from exoderm.courses.models import CourseTemplate, VisitKind, VisitStatus
from exoderm.courses.services import enroll
from exoderm.patients.selectors import clinic_today
from tests import factories
from tests.signin import login_with_mfa


def start_course(clinician, *, starts_at, **template):
    patient = factories.ConsentedPatientFactory(clinic=clinician.clinic)
    return enroll(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=clinician.clinic, **template),
        clinician=clinician,
        starts_at=starts_at,
        by=clinician,
    )


@pytest.fixture
def overdue_course(clinician):
    """A course whose first session was three weeks ago: its two-week follow-up is overdue."""
    return start_course(
        clinician, starts_at=timezone.now() - dt.timedelta(weeks=3), session_count=2, followup_weeks=[2]
    )


@pytest.mark.django_db
def test_an_attended_follow_up_is_marked_done_from_the_patient_page(client, clinician, overdue_course):
    follow_up = overdue_course.visits.get(kind=VisitKind.FOLLOW_UP, session_number=1)
    session = overdue_course.visits.get(kind=VisitKind.SESSION, session_number=1)
    assert follow_up in selectors.overdue_visits(clinic=clinician.clinic)
    client.force_login(clinician)
    patient_url = reverse("patient", args=[overdue_course.patient_id])
    html = client.get(patient_url).content.decode()
    # Follow-ups offer "Done…"; a session is done by charting it.
    assert reverse("visit-change", args=[follow_up.pk, "done"]) in html
    assert reverse("visit-change", args=[session.pk, "done"]) not in html
    url = reverse("visit-change", args=[follow_up.pk, "done"])
    question = client.get(url).content.decode()
    assert "Mark the visit done?" in question and "Follow-up week 2 after session 1" in question
    follow_up.refresh_from_db()
    assert follow_up.status == VisitStatus.PLANNED
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == patient_url
    follow_up.refresh_from_db()
    assert follow_up.status == VisitStatus.DONE
    assert follow_up not in selectors.overdue_visits(clinic=clinician.clinic)
    again = client.post(url).content.decode()
    assert "This visit is done already; only a planned visit can be changed." in again


@pytest.mark.django_db
def test_a_follow_up_not_due_yet_cannot_be_done_and_the_page_says_why(client, clinician):
    course = start_course(clinician, starts_at=timezone.now() + dt.timedelta(days=2), followup_weeks=[2])
    follow_up = course.visits.get(kind=VisitKind.FOLLOW_UP, session_number=1)
    client.force_login(clinician)
    page = client.get(reverse("patient", args=[course.patient_id])).content.decode()
    assert reverse("visit-change", args=[follow_up.pk, "done"]) not in page  # not offered yet
    assert reverse("visit-change", args=[follow_up.pk, "missed"]) not in page
    assert reverse("visit-change", args=[follow_up.pk, "reschedule"]) in page
    html = client.post(reverse("visit-change", args=[follow_up.pk, "done"])).content.decode()
    assert "cannot be done or missed yet" in html
    follow_up.refresh_from_db()
    assert follow_up.status == VisitStatus.PLANNED


@pytest.mark.django_db
def test_confirmations_of_follow_ups_at_the_same_time_tell_them_apart(client, clinician):
    # Every four weeks with follow-ups after 2 and 6 weeks: week 6 after session 1 falls on
    # week 2 after session 2 (enrolment books them on neighbouring days, the labels still differ).
    course = start_course(
        clinician, starts_at=timezone.now() + dt.timedelta(days=2), interval_weeks=4, followup_weeks=[2, 6]
    )
    six_after_first = course.visits.get(session_number=1, weeks_after_session=6)
    two_after_second = course.visits.get(session_number=2, weeks_after_session=2)
    assert abs(six_after_first.planned_at - two_after_second.planned_at) <= dt.timedelta(days=3)
    client.force_login(clinician)
    for visit, label in (
        (six_after_first, "Nachkontrolle Woche 6 nach Sitzung 1"),
        (two_after_second, "Nachkontrolle Woche 2 nach Sitzung 2"),
    ):
        for action in ("cancel", "missed", "done"):
            url = reverse("visit-change", args=[visit.pk, action])
            html = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
            assert label in html and course.patient.code in html, action
            assert "Das lässt sich nicht rückgängig machen." in html


@pytest.mark.django_db
def test_enrolment_in_an_implausible_year_is_refused_next_to_the_field(client, clinician):
    patient = factories.ConsentedPatientFactory(clinic=clinician.clinic)
    template = factories.CourseTemplateFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    for starts_at, says in (
        ("9999-12-31T10:00", "Termine werden höchstens bis zum"),
        ("1900-01-01T10:00", "vor dem"),
    ):
        response = client.post(
            reverse("course-enrol", args=[patient.pk]),
            {"template": template.pk, "clinician": clinician.pk, "starts_at": starts_at},
            HTTP_ACCEPT_LANGUAGE="de",
        )
        html = response.content.decode()
        assert response.status_code == 200 and says in html and "Prüfen Sie das Jahr." in html
    assert not patient.courses.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("planned_at", ["9999-12-31T23:59", "0001-01-01T00:00", "1900-01-01T10:00"])
def test_moving_a_visit_to_an_implausible_year_is_refused(client, clinician, overdue_course, planned_at):
    visit = overdue_course.visits.get(kind=VisitKind.SESSION, session_number=2)
    client.force_login(clinician)
    response = client.post(reverse("visit-change", args=[visit.pk, "reschedule"]), {"planned_at": planned_at})
    assert response.status_code == 200 and "check the year" in response.content.decode()
    assert overdue_course.visits.get(pk=visit.pk).planned_at == visit.planned_at


@pytest.mark.django_db
@pytest.mark.parametrize("start", ["0001-01-01", "1900-01-01", "9999-12-31"])
def test_the_calendar_falls_back_to_today_for_an_implausible_date(client, clinician, overdue_course, start):
    client.force_login(clinician)
    response = client.get(reverse("calendar"), {"from": start})
    html = response.content.decode()
    assert response.status_code == 200
    assert "the calendar shows the two weeks from today instead" in html
    today = clinic_today(clinician.clinic)
    assert f"?from={(today + dt.timedelta(days=14)).isoformat()}" in html


@pytest.mark.django_db
def test_a_duplicate_template_name_is_refused_on_the_name_field(client, clinic_admin):
    factories.CourseTemplateFactory(clinic=clinic_admin.clinic, name="Standard")
    login_with_mfa(client, clinic_admin)
    form = {
        "name": "Standard",
        "session_count": 3,
        "interval_weeks": 4,
        "followup_weeks": "2",
        "window_days": 3,
    }
    response = client.post(reverse("course-template-new"), form, HTTP_ACCEPT_LANGUAGE="de")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Die Praxis hat bereits eine Kurvorlage mit diesem Namen." in html
    assert "existiert bereits" not in html
    assert CourseTemplate.objects.filter(clinic=clinic_admin.clinic).count() == 1
