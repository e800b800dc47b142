"""The pages of adverse events and the healing curve (Django's test client on the real views):
the patient page's section and form, the correction page with its history, the clinic's list and
CSV, the healing page's chart, roles and clinic isolation."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from exoderm.patients.selectors import clinic_today
from exoderm.records.models import Revision
from exoderm.safety.models import AdverseEvent
from exoderm.safety.services import record_adverse_event
from tests import factories
from tests.safety._photos import healing_scene
from tests.signin import login_with_mfa

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


def form_data(clinic, **changes):
    data = {
        "term": "oedema",
        "side": "face_left",
        "onset": (clinic_today(clinic) - dt.timedelta(days=1)).isoformat(),
        "severity": "2",
        "related_to_procedure": "definite",
        "related_to_product": "not_related",
        "description": "",
    }
    return {**data, **changes}


def record(user, patient, **changes):
    data = {
        "term": "erythema",
        "onset": clinic_today(patient.clinic),
        "severity": 1,
        "serious": False,
        "related_to_procedure": "probable",
        "related_to_product": "unlikely",
    }
    return record_adverse_event(user=user, patient=patient, **{**data, **changes})


def test_the_patient_page_shows_events_and_records_a_new_one(client, clinician, patient, clinic):
    login_with_mfa(client, clinician)
    session = factories.TreatmentSessionFactory(patient=patient, clinician=clinician)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="adverse-events"' in page and "No adverse event recorded." in page
    assert f'action="/patients/{patient.pk}/adverse-events/new/"' in page

    session_day = session.performed_at.astimezone(ZoneInfo(clinic.time_zone)).date()
    response = client.post(
        f"/patients/{patient.pk}/adverse-events/new/",
        form_data(clinic, session=session.pk, onset=session_day.isoformat()),
    )

    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/#adverse-events"
    event = AdverseEvent.objects.get()
    assert (event.term, event.side, event.severity, event.session) == ("oedema", "face_left", 2, session)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Oedema" in page and "Left half of the face" in page and "2 – moderate" in page


def test_a_refused_event_comes_back_with_the_messages(client, clinician, patient, clinic):
    login_with_mfa(client, clinician)
    tomorrow = (clinic_today(clinic) + dt.timedelta(days=1)).isoformat()

    response = client.post(
        f"/patients/{patient.pk}/adverse-events/new/",
        form_data(clinic, term="other", serious="on", onset=tomorrow),
    )

    assert response.status_code == 422
    page = response.content.decode()
    for message in (
        "Describe the event: its term is “other”.",
        "The onset lies in the future.",
        "A serious event needs the date it was reported on.",
    ):
        assert message in page
    assert not AdverseEvent.objects.exists()


def test_the_correction_page_keeps_the_history(client, clinician, patient, clinic):
    event = record(clinician, patient)
    login_with_mfa(client, clinician)
    url = f"/adverse-events/{event.pk}/correct/"
    assert 'value="erythema" selected' in client.get(url).content.decode()

    today = clinic_today(clinic).isoformat()
    changed = form_data(clinic, term="erythema", onset=event.onset.isoformat(), resolved_on=today)
    refused = client.post(url, changed)
    assert refused.status_code == 422 and "This field is required." in refused.content.decode()
    response = client.post(url, {**changed, "reason": "Resolved at the follow-up"})

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.resolved_on == clinic_today(clinic) and event.severity == 2
    (revision,) = Revision.objects.all()
    assert revision.reason == "Resolved at the follow-up"
    assert "Resolved at the follow-up" in client.get(url).content.decode()


def test_the_clinic_list_shows_open_events_by_default_and_downloads_csv(client, clinician, clinic):
    first, second = factories.PatientFactory(clinic=clinic), factories.PatientFactory(clinic=clinic)
    today = clinic_today(clinic)
    record(clinician, first, term="infection", serious=True, report_date=today, severity=3)
    record(clinician, second, resolved_on=today)
    login_with_mfa(client, clinician)

    page = client.get("/adverse-events/").content.decode()
    assert first.code in page and second.code not in page
    every = client.get("/adverse-events/?status=all").content.decode()
    assert first.code in every and second.code in every
    not_serious = client.get("/adverse-events/?status=all&serious=no").content.decode()
    assert first.code not in not_serious and second.code in not_serious

    download = client.get("/adverse-events/?status=all&format=csv")
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    lines = download.content.decode().splitlines()
    assert lines[0].startswith("id,patient_code,session_id,term")
    assert len(lines) == 3
    assert 'href="?status=all&amp;format=csv"' in every


def test_the_healing_page_draws_both_sides(client, clinician, patient, django_capture_on_commit_callbacks):
    session = healing_scene(patient, clinician, django_capture_on_commit_callbacks)
    login_with_mfa(client, clinician)

    page = client.get(f"/sessions/{session.pk}/healing/").content.decode()

    assert page.count('<polyline class="series side-left"') == 1
    assert page.count('<polyline class="series side-right"') == 1
    assert len(re.findall(r'<circle class="point side-left', page)) == 3
    assert 'class="half side-left"' in page and 'class="half side-right"' not in page
    assert "Right half of the face: peak" in page and "not back to half of it yet." in page
    assert "Cheek, left" in page
    other = client.get(f"/sessions/{session.pk}/healing/?metric=a_excess_mean").content.decode()
    assert 'aria-current="page">redness intensity' in other
    # the patient page draws the same curve for the latest session
    assert '<svg class="chart healing"' in client.get(f"/patients/{patient.pk}/").content.decode()


def test_roles_and_isolation(client, clinician, assistant, researcher, patient, clinic, other_clinic):
    event = record(clinician, patient)
    stranger = factories.PatientFactory(clinic=other_clinic)
    theirs = record(factories.UserFactory(clinic=other_clinic), stranger)
    their_session = factories.TreatmentSessionFactory(patient=stranger)

    login_with_mfa(client, researcher)
    for url in (
        "/adverse-events/",
        f"/adverse-events/{event.pk}/correct/",
        f"/patients/{patient.pk}/adverse-events/new/",
    ):
        assert client.get(url).status_code == 403, url

    login_with_mfa(client, assistant)
    assert client.get(f"/patients/{patient.pk}/adverse-events/new/").status_code == 200
    assert client.get(f"/adverse-events/{event.pk}/correct/").status_code == 403
    assert f"/adverse-events/{event.pk}/correct/" not in client.get("/adverse-events/").content.decode()

    login_with_mfa(client, clinician)
    assert client.get(f"/adverse-events/{theirs.pk}/correct/").status_code == 404
    assert client.get(f"/patients/{stranger.pk}/adverse-events/new/").status_code == 404
    assert client.get(f"/sessions/{their_session.pk}/healing/").status_code == 404
    assert stranger.code not in client.get("/adverse-events/?status=all").content.decode()
