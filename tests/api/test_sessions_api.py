"""/api/v1/sessions: recording through the protocol, refusals as 422 problem details, isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from tests import factories

from exoderm.products.models import LotStatus, VialState
from exoderm.treatments.models import ExosomeApplication, Procedure, ProtocolWarning, TreatmentSession

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def saved_rows():
    return [
        model.objects.count() for model in (TreatmentSession, Procedure, ExosomeApplication, ProtocolWarning)
    ]


def test_a_session_that_keeps_the_protocol_is_recorded(api_as, scene):
    response = api_as(scene.clinician).post("/sessions", scene.payload(notes="calm skin"))
    assert response.status_code == 201, response.json()
    body = response.json()
    session = TreatmentSession.objects.get()
    assert body["id"] == session.pk
    assert (body["patient"], body["patient_code"]) == (scene.patient.pk, scene.patient.code)
    assert body["clinician"] == scene.clinician.pk
    assert body["notes"] == "calm skin"
    assert body["procedures"][0]["kind"] == "microneedling"
    assert body["procedures"][0]["params"] == {"needle_depth_mm": "1.00", "passes": 3}
    application = body["applications"][0]
    assert (application["lot"], application["vial"], application["lot_number"]) == (
        scene.lot.pk,
        scene.vial.pk,
        scene.lot.number,
    )
    assert application["volume_ml"] == "2.00"
    assert body["warnings"] == []
    scene.vial.refresh_from_db()
    assert scene.vial.state == VialState.USED


def test_the_issues_example_shape_with_a_utc_offset_and_no_vial(api_as, scene):
    payload = scene.payload()
    del payload["applications"][0]["vial"]
    payload["performed_at"] = scene.at.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 201, response.json()
    assert response.json()["applications"][0]["vial"] == scene.vial.pk


def test_offsets_beyond_any_time_zone_are_the_same_instants(api_as, scene):
    """ISO 8601 allows offsets up to ±23:59; PostgreSQL takes ±15:59 at most. Found by the schema
    fuzzer: such a filter was a server error on PostgreSQL."""
    odd = dt.timezone(dt.timedelta(hours=17, minutes=6))

    def shifted(value):
        if isinstance(value, dict):
            return {k: shifted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shifted(v) for v in value]
        if isinstance(value, str) and "T" in value and value[:4].isdigit():
            return dt.datetime.fromisoformat(value).astimezone(odd).isoformat()
        return value

    client = api_as(scene.clinician)
    response = client.post("/sessions", shifted(scene.payload()))
    assert response.status_code == 201, response.json()
    recorded = TreatmentSession.objects.get()
    assert recorded.performed_at == scene.at
    around = {"performed_from": (scene.at - MIN).astimezone(odd).isoformat()}
    assert client.get("/sessions", around).json()["count"] == 1
    assert (
        client.get("/sessions", {"performed_from": (scene.at + MIN).astimezone(odd).isoformat()}).json()[
            "count"
        ]
        == 0
    )


def test_a_refused_session_lists_every_violation_and_saves_nothing(api_as, scene):
    scene.consent.delete()
    scene.lot.status = LotStatus.QUARANTINED
    scene.lot.save()
    payload = scene.payload(applications=[scene.application(areas=["neck"])])
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {v["rule"] for v in body["violations"]} == {
        "application-area-not-treated",
        "lot-not-usable",
        "consent-missing",
    }
    assert all(v["message"] and v["severity"] == "block" for v in body["violations"])
    assert {v["field"] for v in body["violations"]} == {
        "applications.0.areas",
        "applications.0.lot",
        "patient",
    }
    assert saved_rows() == [0, 0, 0, 0]
    scene.vial.refresh_from_db()
    assert scene.vial.state == VialState.THAWED


def test_exosomes_without_a_procedure_are_refused(api_as, scene):
    response = api_as(scene.clinician).post("/sessions", scene.payload(procedures=[]))
    assert response.status_code == 422
    assert [v["rule"] for v in response.json()["violations"]] == ["exosome-requires-barrier-disruption"]


def test_warnings_must_be_acknowledged_and_are_then_recorded(api_as, scene):
    payload = scene.payload(applications=[scene.application(volume_ml=4)])
    client = api_as(scene.clinician)
    refused = client.post("/sessions", payload)
    assert refused.status_code == 422
    assert [(v["rule"], v["severity"]) for v in refused.json()["violations"]] == [
        ("dose-out-of-range", "warn")
    ]
    assert saved_rows() == [0, 0, 0, 0]
    response = client.post("/sessions", {**payload, "acknowledged_warnings": ["dose-out-of-range"]})
    assert response.status_code == 201
    [warning] = response.json()["warnings"]
    assert (warning["rule"], warning["acknowledged_by"]) == ("dose-out-of-range", scene.clinician.pk)


def test_a_session_dated_in_the_future_is_refused(api_as, scene):
    ahead = scene.ahead()
    response = api_as(scene.clinician).post("/sessions", scene.payload(performed_at=ahead.isoformat()))
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    [violation] = response.json()["violations"]
    assert (violation["rule"], violation["field"], violation["severity"]) == (
        "time-in-future",
        "performed_at",
        "block",
    )
    assert saved_rows() == [0, 0, 0, 0]
    scene.vial.refresh_from_db()
    assert scene.vial.state == VialState.THAWED


def test_a_naive_datetime_is_refused_with_its_field(api_as, scene):
    payload = scene.payload(performed_at=scene.at.replace(tzinfo=None).isoformat())
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["performed_at"]
    assert saved_rows() == [0, 0, 0, 0]


def test_absurd_values_are_refused_with_their_fields(api_as, scene):
    payload = scene.payload(
        procedures=[scene.procedure(params={"needle_depth_mm": 12, "passes": 3})],
        applications=[scene.application(volume_ml=-2)],
    )
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {
        "procedures.0.params.needle_depth_mm",
        "applications.0.volume_ml",
    }


def test_a_malformed_body_is_refused(api_as, scene):
    payload = scene.payload()
    payload["applications"][0]["volume_ml"] = "a lot"
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("volume_ml")


@pytest.mark.parametrize("what", ["patient", "lot", "vial", "clinician"])
def test_another_clinics_ids_are_not_found(api_as, scene, other_clinic, what):
    elsewhere = factories.SessionScene(other_clinic)
    payload = scene.payload()
    if what == "patient":
        payload["patient"] = elsewhere.patient.pk
    elif what == "clinician":
        payload["clinician"] = elsewhere.clinician.pk
    else:
        payload["applications"][0][what] = getattr(elsewhere, what).pk
    response = api_as(scene.clinician).post("/sessions", payload)
    assert response.status_code == 404, response.json()
    assert saved_rows() == [0, 0, 0, 0]


def test_an_unknown_id_is_not_found(api_as, scene):
    response = api_as(scene.clinician).post("/sessions", scene.payload(patient=999_999))
    assert response.status_code == 404


def test_a_session_may_name_another_clinician_of_the_clinic(api_as, scene):
    colleague = factories.UserFactory(clinic=scene.clinic, role="clinician")
    response = api_as(scene.clinician).post("/sessions", scene.payload(clinician=colleague.pk))
    assert response.status_code == 201
    assert response.json()["clinician"] == colleague.pk


def test_the_named_clinician_must_be_allowed_to_chart(api_as, scene, assistant):
    response = api_as(scene.clinician).post("/sessions", scene.payload(clinician=assistant.pk))
    assert response.status_code == 403
    assert saved_rows() == [0, 0, 0, 0]


@pytest.mark.parametrize("role", ["assistant", "researcher"])
def test_only_clinicians_chart(api_as, scene, role):
    user = factories.UserFactory(clinic=scene.clinic, role=role)
    response = api_as(user).post("/sessions", scene.payload())
    assert response.status_code == 403
    assert saved_rows() == [0, 0, 0, 0]


def test_list_and_detail_stay_within_the_clinic(api_as, scene, other_clinic):
    client = api_as(scene.clinician)
    mine = client.post("/sessions", scene.payload()).json()
    elsewhere = factories.SessionScene(other_clinic)
    theirs = api_as(elsewhere.clinician).post("/sessions", elsewhere.payload()).json()

    listing = client.get("/sessions").json()
    assert listing["count"] == 1
    assert [s["id"] for s in listing["items"]] == [mine["id"]]
    assert client.get(f"/sessions/{mine['id']}").json() == mine
    assert client.get(f"/sessions/{theirs['id']}").status_code == 404
    assert client.get("/sessions", {"patient": elsewhere.patient.pk}).json()["count"] == 0


def test_list_filters_by_patient_and_pages(api_as, scene):
    client = api_as(scene.clinician)
    client.post("/sessions", scene.payload())
    second = factories.SessionScene(scene.clinic)
    api_as(second.clinician).post("/sessions", second.payload())
    assert client.get("/sessions").json()["count"] == 2
    only = client.get("/sessions", {"patient": scene.patient.pk}).json()
    assert [s["patient"] for s in only["items"]] == [scene.patient.pk]
    page = client.get("/sessions", {"limit": 1, "offset": 1}).json()
    assert (page["count"], len(page["items"])) == (2, 1)


def test_researchers_do_not_read_sessions(api_as, scene, researcher):
    session = scene.record()
    client = api_as(researcher)
    assert client.get("/sessions").status_code == 403
    assert client.get(f"/sessions/{session.pk}").status_code == 403


def test_messages_follow_the_requests_language(api_as, scene):
    scene.consent.delete()
    client = api_as(scene.clinician)
    german = client.post("/sessions", scene.payload(), headers={"Accept-Language": "de"})
    english = client.post("/sessions", scene.payload(), headers={"Accept-Language": "en"})
    assert german["Content-Language"] == "de"
    assert english["Content-Language"] == "en"
    assert english.json()["violations"][0]["message"].startswith("The patient has no signed")
    assert german.json()["violations"][0]["message"].startswith("Es liegt keine unterschriebene")


def test_the_openapi_schema_documents_the_refusal(api_as, clinician):
    schema = api_as(clinician).get("/openapi.json").json()
    post = schema["paths"]["/api/v1/sessions"]["post"]
    assert {"201", "403", "404", "422"} <= set(post["responses"])
    refusal = post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"violations", "errors"} <= set(schema["components"]["schemas"][refusal]["properties"])


def test_the_list_costs_a_bounded_number_of_queries(api_as, scene, django_assert_max_num_queries):
    client = api_as(scene.clinician)
    scene.record()
    # + 3 for the audit trail's read event (SQLite: BEGIN, last link, insert; PostgreSQL: one call)
    with django_assert_max_num_queries(12 + 3) as one:
        client.get("/sessions")
    for _ in range(3):
        other = factories.SessionScene(scene.clinic)
        other.record(
            procedures=[other.procedure(), other.laser(areas=["neck"])],
            applications=[other.application(volume_ml=4)],
            acknowledged_warnings=["dose-out-of-range"],
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/sessions").json()["count"] == 4


@pytest.mark.parametrize(
    "query",
    [{"patient": 2**63}, {"patient": 0}, {"performed_from": "2026-11-01T00:00:00"}, {"offset": -1}],
)
def test_absurd_list_queries_are_invalid(api_as, clinician, query):
    response = api_as(clinician).get("/sessions", query)
    assert response.status_code == 422
    assert response.json()["errors"]


def test_absurd_ids_are_invalid_not_server_errors(api_as, scene):
    client = api_as(scene.clinician)
    assert client.get(f"/sessions/{2**64}").status_code == 422
    assert client.post("/sessions", scene.payload(patient=2**64)).status_code == 422
    assert client.get("/sessions/424242").status_code == 404
