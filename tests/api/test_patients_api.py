"""/api/v1/patients: records with identity, screening, consents, courses and visits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from tests import factories

from exoderm.consent.models import ConsentKind
from exoderm.courses.services import enroll
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today

PROBLEM = "application/problem+json"


def new_patient(**changes):
    return {
        "fitzpatrick": 2,
        "glogau": 3,
        "given_name": "Erika",
        "family_name": "Mustermann",
        "date_of_birth": "1980-05-17",
        "email": "erika@example.org",
        **changes,
    }


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


@pytest.fixture
def foreign(other_clinic):
    """Another clinic's patient with a consent, a course template and a clinician."""
    patient = factories.PatientFactory(clinic=other_clinic)
    consent = factories.ConsentRecordFactory(patient=patient)
    template = factories.CourseTemplateFactory(clinic=other_clinic)
    clinician = factories.UserFactory(clinic=other_clinic, role="clinician")
    return {"patient": patient, "consent": consent, "template": template, "clinician": clinician}


def test_create_and_read_a_patient(api_as, assistant):
    api = api_as(assistant)
    response = api.post("/patients", new_patient())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"].startswith("EX-")
    assert body["identity"]["family_name"] == "Mustermann"
    detail = api.get(f"/patients/{body['id']}")
    assert detail.status_code == 200
    assert detail.json() == body


def test_list_is_paginated_searchable_and_clinic_only(api_as, assistant, clinic, other_clinic):
    for n in range(3):
        factories.PatientFactory(clinic=clinic, code=f"EX-A{n}", identity__family_name=f"Schmidt{n}")
    factories.PatientFactory(clinic=other_clinic, identity__family_name="Schmidt9")
    api = api_as(assistant)
    page = api.get("/patients", {"limit": 2}).json()
    assert page["count"] == 3
    assert [item["code"] for item in page["items"]] == ["EX-A0", "EX-A1"]
    found = api.get("/patients", {"q": "schmidt2"}).json()
    assert [item["code"] for item in found["items"]] == ["EX-A2"]
    assert api.get("/patients", {"q": "schmidt9"}).json()["count"] == 0


def test_validation_errors_are_422_problems(api_as, assistant):
    api = api_as(assistant)
    response = api.post("/patients", new_patient(fitzpatrick=7, email="nope"))
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"fitzpatrick", "email"} <= fields
    assert not Patient.objects.exists()
    missing = api.post("/patients", {"fitzpatrick": 2})
    assert missing.status_code == 422


def test_absurd_birth_dates_are_422(api_as, assistant, patient):
    api = api_as(assistant)
    response = api.post("/patients", new_patient(date_of_birth="0001-01-01"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "date_of_birth", "message": "The date of birth lies before 01 Jan 1900: check the year."}
    ]
    patched = api.patch(f"/patients/{patient.pk}", {"date_of_birth": "1800-01-01", "reason": "Typo"})
    assert patched.status_code == 422
    assert not Patient.objects.filter(identity__family_name="Mustermann").exists()


def test_the_same_person_twice_needs_allow_duplicate(api_as, assistant):
    api = api_as(assistant)
    first = api.post("/patients", new_patient()).json()
    again = api.post("/patients", new_patient(given_name="ERIKA", email=""))
    assert again.status_code == 422 and again["Content-Type"] == PROBLEM
    (error,) = again.json()["errors"]
    assert error["field"] == "allow_duplicate" and first["code"] in error["message"]
    assert Patient.objects.count() == 1
    confirmed = api.post("/patients", new_patient(given_name="ERIKA", allow_duplicate=True))
    assert confirmed.status_code == 201, confirmed.content
    assert Patient.objects.count() == 2
    schema = api_as(assistant).get("/openapi.json").json()["components"]["schemas"]["PatientIn"]
    assert "another person" in schema["properties"]["allow_duplicate"]["description"]


def test_patch_updates_record_and_identity(api_as, assistant, patient):
    api = api_as(assistant)
    response = api.patch(f"/patients/{patient.pk}", {"glogau": 4, "phone": "+49 171 1", "reason": "Typo"})
    assert response.status_code == 200, response.content
    assert response.json()["glogau"] == 4
    assert response.json()["identity"]["phone"] == "+49 171 1"
    bad = api.patch(f"/patients/{patient.pk}", {"fitzpatrick": 0, "reason": "Typo"})
    assert bad.status_code == 422


def test_screening_roundtrip_and_future_date(api_as, assistant, patient, clinic):
    api = api_as(assistant)
    today = clinic_today(clinic)
    body = {
        "answered_on": today.isoformat(),
        "answers": [
            {"item": "pregnancy", "present": False},
            {"item": "acne_dermatitis", "present": True, "areas": ["chin"]},
        ],
    }
    response = api.post(f"/patients/{patient.pk}/screening", body)
    assert response.status_code == 201, response.content
    assert {a["item"] for a in response.json()} == {"pregnancy", "acne_dermatitis"}
    current = api.get(f"/patients/{patient.pk}/screening").json()
    assert next(a for a in current if a["item"] == "acne_dermatitis")["areas"] == ["chin"]
    future = api.post(
        f"/patients/{patient.pk}/screening",
        {**body, "answered_on": (today + dt.timedelta(days=1)).isoformat()},
    )
    assert future.status_code == 422
    assert "answered_on" in {e["field"] for e in future.json()["errors"]}


def test_consent_sign_list_withdraw(api_as, assistant, patient, clinic):
    factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.TREATMENT, version=1)
    api = api_as(assistant)
    signed = api.post(
        f"/patients/{patient.pk}/consents",
        {"kind": "treatment", "signed_by_name": "Erika Mustermann", "signed_at": timezone.now().isoformat()},
    )
    assert signed.status_code == 201, signed.content
    record = signed.json()
    assert (record["version"], record["active"], record["current_version"]) == (1, True, True)
    listed = api.get(f"/patients/{patient.pk}/consents").json()
    assert [item["id"] for item in listed["items"]] == [record["id"]]
    withdrawn = api.post(f"/patients/{patient.pk}/consents/{record['id']}/withdraw", {})
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["active"] is False
    assert withdrawn.json()["withdrawn_by"] == assistant.display_name
    again = api.post(f"/patients/{patient.pk}/consents/{record['id']}/withdraw", {})
    assert again.status_code == 422
    assert again["Content-Type"] == PROBLEM


def test_consent_of_an_older_version_is_not_active(api_as, assistant, patient, clinic):
    old = factories.ConsentRecordFactory(patient=patient)
    factories.ConsentTemplateFactory(clinic=clinic, kind=old.template.kind, version=2)
    item = api_as(assistant).get(f"/patients/{patient.pk}/consents").json()["items"][0]
    assert (item["version"], item["current_version"], item["active"]) == (1, False, False)


def test_sign_refuses_naive_datetimes(api_as, assistant, patient, clinic):
    factories.ConsentTemplateFactory(clinic=clinic)
    response = api_as(assistant).post(
        f"/patients/{patient.pk}/consents",
        {"kind": "treatment", "signed_by_name": "E", "signed_at": "2026-01-05T10:00:00"},
    )
    assert response.status_code == 422
    assert "signed_at" in {e["field"] for e in response.json()["errors"]}


def test_enroll_and_visits_follow_the_wall_clock(api_as, assistant, clinician, patient, clinic):
    factories.give_treatment_consent(patient)
    template = factories.CourseTemplateFactory(clinic=clinic)
    api = api_as(assistant)
    response = api.post(
        f"/patients/{patient.pk}/courses",
        {"template_id": template.pk, "clinician_id": clinician.pk, "starts_at": "2026-03-10T10:00:00+01:00"},
    )
    assert response.status_code == 201, response.content
    assert len(response.json()["visits"]) == 9
    visits = api.get(f"/patients/{patient.pk}/visits").json()
    assert visits["count"] == 9
    courses = api.get(f"/patients/{patient.pk}/courses").json()
    assert [c["id"] for c in courses["items"]] == [response.json()["id"]]
    assert courses["items"][0]["visits"] == visits["items"]
    berlin = ZoneInfo("Europe/Berlin")
    for visit in visits["items"]:
        local = dt.datetime.fromisoformat(visit["planned_local"])
        assert local.time() == dt.time(10, 0)
        assert dt.datetime.fromisoformat(visit["planned_at"]) == local
        assert local.utcoffset() == local.astimezone(berlin).utcoffset()
    offsets = {dt.datetime.fromisoformat(v["planned_local"]).utcoffset() for v in visits["items"]}
    assert offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}


def test_enroll_without_treatment_consent_is_refused(api_as, assistant, clinician, patient, clinic):
    template = factories.CourseTemplateFactory(clinic=clinic)
    body = {
        "template_id": template.pk,
        "clinician_id": clinician.pk,
        "starts_at": "2026-12-01T10:00:00+01:00",
    }
    api = api_as(assistant)
    refused = api.post(f"/patients/{patient.pk}/courses", body)
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    [violation] = refused.json()["violations"]
    assert (violation["rule"], violation["field"]) == ("consent-missing", "patient")
    assert api.get(f"/patients/{patient.pk}/courses").json()["count"] == 0
    factories.give_treatment_consent(patient)
    assert api.post(f"/patients/{patient.pk}/courses", body).status_code == 201


def test_enroll_refuses_naive_start_and_non_clinicians(api_as, assistant, clinician, patient, clinic):
    template = factories.CourseTemplateFactory(clinic=clinic)
    api = api_as(assistant)
    naive = api.post(
        f"/patients/{patient.pk}/courses",
        {"template_id": template.pk, "clinician_id": clinician.pk, "starts_at": "2026-03-10T10:00:00"},
    )
    assert naive.status_code == 422
    not_a_clinician = api.post(
        f"/patients/{patient.pk}/courses",
        {"template_id": template.pk, "clinician_id": assistant.pk, "starts_at": "2026-03-10T10:00:00Z"},
    )
    assert not_a_clinician.status_code == 404


ENDPOINTS = [
    ("get", "/patients/{patient}", None),
    ("patch", "/patients/{patient}", {"glogau": 1, "reason": "Typo"}),
    ("get", "/patients/{patient}/screening", None),
    ("post", "/patients/{patient}/screening", {"answered_on": "2026-01-01", "answers": []}),
    ("get", "/patients/{patient}/consents", None),
    (
        "post",
        "/patients/{patient}/consents",
        {"kind": "treatment", "signed_by_name": "X", "signed_at": "2026-01-01T10:00:00Z"},
    ),
    ("post", "/patients/{patient}/consents/{consent}/withdraw", {}),
    ("get", "/patients/{patient}/visits", None),
    ("get", "/patients/{patient}/courses", None),
    (
        "post",
        "/patients/{patient}/courses",
        {"template_id": "{template}", "clinician_id": "{clinician}", "starts_at": "2026-03-10T10:00:00Z"},
    ),
]


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_another_clinics_patient_is_404(api_as, clinician, foreign, method, path, body):
    ids = {name: obj.pk for name, obj in foreign.items()}
    response = getattr(api_as(clinician), method)(_fill(path, ids), _fill(body, ids))
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    ("field", "path"),
    [("consent", "/patients/{own}/consents/{consent}/withdraw"), ("template", None), ("clinician", None)],
)
def test_other_clinics_ids_under_own_patient_are_404(api_as, clinician, patient, foreign, field, path):
    """Own patient, but the consent, course template or clinician belongs to another clinic."""
    api = api_as(clinician)
    if path:
        response = api.post(path.format(own=patient.pk, consent=foreign["consent"].pk), {})
    else:
        own_template = factories.CourseTemplateFactory(clinic=patient.clinic)
        body = {
            "template_id": own_template.pk,
            "clinician_id": clinician.pk,
            "starts_at": "2026-03-10T10:00Z",
        }
        body[f"{field}_id"] = foreign[field].pk
        response = api.post(f"/patients/{patient.pk}/courses", body)
    assert response.status_code == 404, response.content


def test_unknown_ids_are_404(api_as, clinician):
    assert api_as(clinician).get("/patients/999999").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"), [("get", "/patients", None), ("post", "/patients", {}), *ENDPOINTS]
)
def test_researchers_get_403(api_as, researcher, patient, clinician, method, path, body):
    """Researchers see no identified patient data at all; they use the study exports."""
    consent = factories.ConsentRecordFactory(patient=patient)
    template = factories.CourseTemplateFactory(clinic=patient.clinic)
    ids = {"patient": patient.pk, "consent": consent.pk, "template": template.pk, "clinician": clinician.pk}
    body = new_patient() if path == "/patients" and method == "post" else _fill(body, ids)
    response = getattr(api_as(researcher), method)(_fill(path, ids), body)
    assert response.status_code == 403, response.content


def _queries(api, path):
    api.get(path)  # the first call may refresh the token's last use
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


def test_lists_cost_a_bounded_number_of_queries(api_as, clinician, clinic, patient):
    api = api_as(clinician)
    template = factories.CourseTemplateFactory(clinic=clinic, session_count=1, followup_weeks=[2])
    consent_template = factories.ConsentTemplateFactory(clinic=clinic)
    factories.give_treatment_consent(patient)

    def add_more():
        factories.PatientFactory(clinic=clinic)
        factories.ConsentRecordFactory(
            patient=patient, template=consent_template, withdrawn_at=timezone.now(), withdrawn_by=clinician
        )
        enroll_in(patient, template, clinician)

    add_more()
    paths = [
        "/patients",
        f"/patients/{patient.pk}/consents",
        f"/patients/{patient.pk}/visits",
        f"/patients/{patient.pk}/courses",
    ]
    few = [_queries(api, path) for path in paths]
    for _n in range(4):
        add_more()
    assert [_queries(api, path) for path in paths] == few


def enroll_in(patient, template, clinician):
    enroll(
        patient=patient,
        template=template,
        clinician=clinician,
        starts_at=dt.datetime(2026, 3, 10, 10, tzinfo=ZoneInfo("Europe/Berlin")),
        by=clinician,
    )


def test_a_search_with_too_many_words_is_refused_with_422(api_as, assistant):
    response = api_as(assistant).get("/patients", {"q": " ".join(["mu"] * 51)})
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["q"]
    assert api_as(assistant).get("/patients", {"q": " ".join(["mu"] * 50)}).status_code == 200
