"""Adverse events and the healing curve in Debian's Chromium against a live server: record an
event on the patient page, correct it, find it in the clinic's list, and read the healing curve.
Screenshots land in build/screenshots/ (make screenshots publishes them)."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.patients.selectors import clinic_today
from exoderm.records.models import Revision
from exoderm.safety.models import AdverseEvent
from tests import factories
from tests._browser import shot
from tests.safety._photos import healing_scene
from tests.signin import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_record_correct_and_list_an_adverse_event_and_read_the_healing_curve(
    browser_page, live_server, clinic, django_capture_on_commit_callbacks
):
    page = browser_page
    url = live_server.url
    clinician = factories.UserFactory(clinic=clinic, role="clinician", first_name="Dana", last_name="Doctor")
    patient = factories.PatientFactory(clinic=clinic, identity__family_name="Heilmann")
    session = healing_scene(patient, clinician, django_capture_on_commit_callbacks)
    onset = clinic_today(clinic) - dt.timedelta(days=1)
    login_in_browser(page, url, clinician)

    # the patient page: no event yet, the healing curve of the session with photos after it
    page.goto(f"{url}/patients/{patient.pk}/")
    section = page.locator("#adverse-events")
    assert "No adverse event recorded." in section.inner_text()
    assert section.locator("svg.chart.healing polyline.side-left").count() == 1
    assert section.locator("svg.chart.healing circle.point.beyond").count() >= 2

    # record an event through the form in the section; a serious one needs its report date first
    section.locator("summary", has_text="Record an adverse event").click()
    section.locator("#id_term").select_option("erythema")
    section.locator("#id_side").select_option("face_right")
    section.locator("#id_session").select_option(str(session.pk))
    section.locator("#id_onset").fill(onset.isoformat())
    section.locator("#id_severity").select_option("2")
    section.locator("#id_related_to_procedure").select_option("definite")
    section.locator("#id_related_to_product").select_option("possible")
    section.locator("#id_serious").check()
    section.get_by_role("button", name="Record the adverse event").click()
    page.wait_for_load_state()
    assert "A serious event needs the date it was reported on." in page.inner_text("main")
    shot(page, "adverse-event-refused")
    page.locator("#id_serious").uncheck()
    page.get_by_role("button", name="Record the adverse event").click()
    page.wait_for_url(f"{url}/patients/{patient.pk}/#adverse-events")
    table = page.locator("#adverse-events table.adverse-events")
    assert "Erythema" in table.inner_text() and "Right half of the face" in table.inner_text()
    shot(page, "adverse-events-patient")
    page.check_clean()

    # correct it: resolved today, with the reason kept
    table.get_by_role("link", name="Correct…").click()
    page.locator("#id_resolved_on").fill(clinic_today(clinic).isoformat())
    page.locator("#id_reason").fill("Seen at the follow-up: resolved")
    page.get_by_role("button", name="Save the correction").click()
    page.wait_for_load_state()
    assert "Seen at the follow-up: resolved" in page.inner_text(".revisions")
    assert AdverseEvent.objects.get().resolved_on == clinic_today(clinic)
    assert Revision.objects.count() == 1

    # the clinic's list: open events by default (none now), all on request
    page.get_by_role("link", name="Adverse events").first.click()
    page.wait_for_url(f"{url}/adverse-events/")
    assert "No adverse events match." in page.inner_text("main")
    page.locator("#id_status").select_option("all")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert patient.code in page.inner_text("main table")
    shot(page, "adverse-events-list")

    # the session's healing curve, both sides, with the day the left cheek was back to half its peak
    page.goto(f"{url}/sessions/{session.pk}/healing/")
    chart = page.locator("svg.chart.healing")
    assert chart.is_visible()
    assert chart.locator("line.half.side-left").count() == 1
    summary = page.inner_text(".healing-summary")
    assert "Left half of the face: peak" in summary and "back to half of it after" in summary
    assert "Right half of the face: peak" in summary and "not back to half of it yet." in summary
    shot(page, "healing-curve")
    page.check_clean()
