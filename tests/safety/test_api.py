"""/api/v1 for adverse events and the healing curve: recording, refusals naming the field,
corrections with their reason and history, the clinic's list and CSV, roles and clinic isolation."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from exoderm.patients.selectors import clinic_today
from exoderm.safety.models import AdverseEvent
from exoderm.safety.selectors import COLUMNS
from tests import factories
from tests.safety._photos import healing_scene

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


def body(clinic, **changes):
    today = clinic_today(clinic)
    data = {
        "term": "erythema",
        "onset": (today - dt.timedelta(days=2)).isoformat(),
        "severity": 1,
        "serious": False,
        "related_to_procedure": "probable",
        "related_to_product": "unlikely",
    }
    return {**data, **changes}


def fields_of(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["field"], []).append(error["message"])
    return found


def test_record_list_and_read_an_event(api_as, clinician, patient, clinic):
    api = api_as(clinician)
    session = factories.TreatmentSessionFactory(patient=patient, clinician=clinician)
    session_day = session.performed_at.astimezone(ZoneInfo(clinic.time_zone)).date()

    response = api.post(
        f"/patients/{patient.pk}/adverse-events",
        body(clinic, side="face_right", session=session.pk, onset=session_day.isoformat()),
    )

    assert response.status_code == 201, response.content
    event = response.json()
    assert event["side"] == "face_right" and event["session"] == session.pk
    assert event["patient_code"] == patient.code and event["open"] is True
    assert event["term_label"] == "Erythema" and event["severity_label"] == "1 – mild"
    assert event["recorded_by"] == clinician.display_name
    listed = api.get(f"/patients/{patient.pk}/adverse-events").json()
    assert [item["id"] for item in listed["items"]] == [event["id"]]
    assert api.get(f"/adverse-events/{event['id']}").json() == event


def test_refusals_name_every_field(api_as, clinician, patient, clinic):
    api = api_as(clinician)
    tomorrow = (clinic_today(clinic) + dt.timedelta(days=1)).isoformat()

    found = fields_of(
        api.post(
            f"/patients/{patient.pk}/adverse-events",
            body(clinic, term="other", serious=True, severity=7, resolved_on=tomorrow, side="nose"),
        )
    )

    assert set(found) == {"description", "report_date", "severity", "resolved_on", "side"}
    assert found["report_date"] == ["A serious event needs the date it was reported on."]
    assert found["resolved_on"] == ["The resolution date lies in the future."]
    assert found["description"] == ["Describe the event: its term is “other”."]
    assert fields_of(api.post(f"/patients/{patient.pk}/adverse-events", body(clinic, description="\x00")))
    assert fields_of(api.post(f"/patients/{patient.pk}/adverse-events", body(clinic, session=2**63)))
    assert not AdverseEvent.objects.exists()


def test_a_correction_needs_a_reason_and_keeps_the_old_version(api_as, clinician, patient, clinic):
    api = api_as(clinician)
    event = api.post(f"/patients/{patient.pk}/adverse-events", body(clinic)).json()
    today = clinic_today(clinic).isoformat()

    assert "reason" in fields_of(api.patch(f"/adverse-events/{event['id']}", {"severity": 2}))
    assert "severity" in fields_of(
        api.patch(f"/adverse-events/{event['id']}", {"severity": None, "reason": "regraded"})
    )
    corrected = api.patch(
        f"/adverse-events/{event['id']}", {"resolved_on": today, "severity": 2, "reason": "seen again"}
    )
    assert corrected.status_code == 200, corrected.content
    assert corrected.json()["open"] is False and corrected.json()["severity"] == 2
    reopened = api.patch(f"/adverse-events/{event['id']}", {"resolved_on": None, "reason": "came back"})
    assert reopened.json()["resolved_on"] is None

    revisions = api.get(f"/adverse-events/{event['id']}/revisions").json()["items"]
    assert [r["reason"] for r in revisions] == ["came back", "seen again"]
    assert revisions[1]["changes"] == {"resolved_on": [None, today], "severity": [1, 2]}
    assert revisions[1]["corrected_by"] == clinician.pk


def test_roles(api_as, clinician, assistant, researcher, clinic_admin, patient, clinic):
    by_assistant = api_as(assistant).post(f"/patients/{patient.pk}/adverse-events", body(clinic))
    assert by_assistant.status_code == 201
    event_id = by_assistant.json()["id"]
    assert (
        api_as(assistant).patch(f"/adverse-events/{event_id}", {"severity": 2, "reason": "r"}).status_code
        == 403
    )
    assert (
        api_as(clinic_admin).patch(f"/adverse-events/{event_id}", {"severity": 2, "reason": "r"}).status_code
        == 200
    )

    researcher_api = api_as(researcher)
    for path in (
        f"/patients/{patient.pk}/adverse-events",
        "/adverse-events",
        "/adverse-events.csv",
        f"/adverse-events/{event_id}",
        f"/adverse-events/{event_id}/revisions",
    ):
        response = researcher_api.get(path)
        assert response.status_code == 403, path
        assert patient.code not in response.content.decode()
    assert researcher_api.post(f"/patients/{patient.pk}/adverse-events", body(clinic)).status_code == 403


def test_another_clinics_records_are_not_found(api_as, clinician, clinic, other_clinic):
    stranger = factories.PatientFactory(clinic=other_clinic)
    theirs = api_as(factories.UserFactory(clinic=other_clinic)).post(
        f"/patients/{stranger.pk}/adverse-events", body(other_clinic)
    )
    their_session = factories.TreatmentSessionFactory(patient=stranger)
    mine = factories.PatientFactory(clinic=clinic)
    api = api_as(clinician)

    assert api.post(f"/patients/{stranger.pk}/adverse-events", body(clinic)).status_code == 404
    assert api.get(f"/patients/{stranger.pk}/adverse-events").status_code == 404
    event_id = theirs.json()["id"]
    assert api.get(f"/adverse-events/{event_id}").status_code == 404
    assert api.patch(f"/adverse-events/{event_id}", {"severity": 2, "reason": "r"}).status_code == 404
    assert api.get(f"/adverse-events/{event_id}/revisions").status_code == 404
    assert (
        api.post(f"/patients/{mine.pk}/adverse-events", body(clinic, session=their_session.pk)).status_code
        == 404
    )
    assert api.get(f"/sessions/{their_session.pk}/healing-curve").status_code == 404
    assert api.get("/adverse-events").json()["items"] == []
    assert stranger.code not in api.get("/adverse-events.csv").content.decode()
    assert AdverseEvent.objects.get(pk=event_id).severity == 1


def test_the_clinic_list_filters_and_downloads_as_csv(api_as, clinician, patient, clinic):
    api = api_as(clinician)
    today = clinic_today(clinic).isoformat()
    resolved = api.post(f"/patients/{patient.pk}/adverse-events", body(clinic, resolved_on=today)).json()
    serious = api.post(
        f"/patients/{patient.pk}/adverse-events",
        body(
            clinic, term="infection", serious=True, report_date=today, severity=3, description="=HYPERLINK(1)"
        ),
    ).json()

    def ids(query: str) -> list[int]:
        return [item["id"] for item in api.get(f"/adverse-events{query}").json()["items"]]

    assert ids("?resolved=false") == [serious["id"]]
    assert ids("?resolved=true") == [resolved["id"]]
    assert ids("?serious=true") == [serious["id"]]
    assert ids("?term=erythema") == [resolved["id"]]
    assert set(ids("")) == {resolved["id"], serious["id"]}

    response = api.get("/adverse-events.csv?serious=true")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 2
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert (row["patient_code"], row["term"], row["severity_ctcae"], row["serious"]) == (
        patient.code,
        "infection",
        "3",
        "true",
    )
    assert row["description"] == "'=HYPERLINK(1)"  # never run as a formula


def test_the_healing_curve_per_side(api_as, clinician, patient, django_capture_on_commit_callbacks):
    session = healing_scene(patient, clinician, django_capture_on_commit_callbacks)
    api = api_as(clinician)

    curve = api.get(f"/sessions/{session.pk}/healing-curve").json()

    assert curve["session_id"] == session.pk and curve["metric"] == "red_area_pct"
    assert set(curve["sides"]) == {"face_left", "face_right"}
    left = curve["sides"]["face_left"]
    assert [p["days"] for p in left["points"]] == [1.0, 3.0, 6.0]
    assert 3.0 < left["days_to_half"] < 6.0
    assert curve["sides"]["face_right"]["days_to_half"] is None
    assert left["points"][0]["beyond_noise"] is True
    intensity = api.get(f"/sessions/{session.pk}/healing-curve?metric=a_excess_mean").json()
    assert intensity["metric"] == "a_excess_mean"
    assert "metric" in fields_of(api.get(f"/sessions/{session.pk}/healing-curve?metric=spot_count"))
