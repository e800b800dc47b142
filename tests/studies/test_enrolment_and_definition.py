"""Enrolment refusals (research consent, each eligibility criterion), the definition locked at the
first enrolment, amendments with their reason, and the allocation refused to blinded roles."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.studies import services
from exoderm.studies.models import Amendment, Participant, ScreenFailure
from tests import factories

CRITERIA = [
    services.CriterionInput(kind="inclusion", subject="age", min_value=30, max_value=65),
    services.CriterionInput(kind="inclusion", subject="fitzpatrick", min_value=1, max_value=4),
    services.CriterionInput(kind="exclusion", subject="screening", screening_item="pregnancy"),
    services.CriterionInput(kind="exclusion", subject="screening", screening_item="keloid"),
]


@pytest.fixture
def scene(clinic):
    return factories.SplitFaceStudyScene(clinic, criteria=CRITERIA)


def _enrol(api, scene, patient):
    return api.post(f"/studies/{scene.study.pk}/participants", {"patient": patient.pk})


def _refusal(response):
    assert response.status_code == 422, response.content
    return response.json()["violations"]


def test_research_consent_is_needed_and_nothing_is_saved_without_it(api_as, scene):
    patient = scene.patient(research_consent=False)
    violations = _refusal(_enrol(api_as(scene.coordinator), scene, patient))
    assert [v["rule"] for v in violations] == ["research-consent-missing"]
    assert not Participant.objects.filter(patient=patient).exists()
    scene.study.refresh_from_db()
    assert scene.study.locked_at is None and scene.study.list_generated_at is None


def test_a_withdrawn_research_consent_no_longer_counts(api_as, scene):
    patient = scene.patient()
    consent = patient.consents.get(template__kind="research")
    consent.withdrawn_at = consent.signed_at + dt.timedelta(hours=1)
    consent.save()
    assert (
        _refusal(_enrol(api_as(scene.coordinator), scene, patient))[0]["rule"] == "research-consent-missing"
    )


@pytest.mark.parametrize(
    ("make", "criterion"),
    [
        (lambda scene: _aged(scene.patient(), born=dt.date(2001, 1, 1)), "inclusion:age"),
        (lambda scene: _aged(scene.patient(), born=dt.date(1950, 1, 1)), "inclusion:age"),
        (lambda scene: scene.patient(fitzpatrick=5), "inclusion:fitzpatrick"),
        (lambda scene: scene.patient(pregnancy=True), "exclusion:screening:pregnancy"),
        (lambda scene: scene.patient(keloid=True), "exclusion:screening:keloid"),
    ],
)
def test_each_criterion_refuses_naming_itself_and_records_a_screen_failure(api_as, scene, make, criterion):
    patient = make(scene)
    violations = _refusal(_enrol(api_as(scene.coordinator), scene, patient))
    assert [(v["rule"], v["criterion"]) for v in violations] == [("not-eligible", criterion)]
    assert violations[0]["field"] == f"criteria.{criterion}"
    [failure] = ScreenFailure.objects.filter(study=scene.study, patient=patient)
    assert (failure.rule, failure.criterion) == ("not-eligible", criterion)
    assert not Participant.objects.filter(patient=patient).exists()


def test_a_screening_older_than_its_validity_fails_the_screening_criteria(api_as, scene):
    patient = factories.PatientFactory(clinic=scene.clinic)
    factories.give_research_consent(patient)
    factories.screen_patient(patient, answered_on=dt.date.today() - dt.timedelta(days=120))
    violations = _refusal(_enrol(api_as(scene.coordinator), scene, patient))
    assert {v["criterion"] for v in violations} == {
        "exclusion:screening:pregnancy",
        "exclusion:screening:keloid",
    }
    assert all("no screening answer" in v["message"] for v in violations)


def test_german_refusals(api_as, scene):
    patient = scene.patient(research_consent=False)
    response = api_as(scene.coordinator).post(
        f"/studies/{scene.study.pk}/participants", {"patient": patient.pk}, headers={"Accept-Language": "de"}
    )
    assert (
        response.status_code == 422 and response.json()["violations"][0]["rule"] == "research-consent-missing"
    )


def _aged(patient, *, born):
    patient.identity.date_of_birth = born
    patient.identity.save()
    return patient


def test_flow_counts_the_excluded_by_criterion(api_as, scene):
    api = api_as(scene.coordinator)
    _enrol(api, scene, scene.patient(fitzpatrick=6))
    _enrol(api, scene, scene.patient(pregnancy=True))
    assert _enrol(api, scene, scene.patient()).status_code == 201
    flow = api.get(f"/studies/{scene.study.pk}/flow").json()
    assert flow["assessed"] == 3 and flow["excluded"] == 2 and flow["enrolled"] == 1
    assert flow["excluded_by_reason"] == {"inclusion:fitzpatrick": 1, "exclusion:screening:pregnancy": 1}


def test_enrolment_gives_a_pseudonym_and_locks_the_definition(api_as, scene):
    api = api_as(scene.pi)
    before = api.patch(f"/studies/{scene.study.pk}", {"title": "Split-face exosome trial"})
    assert before.status_code == 200 and not Amendment.objects.exists()
    patient = scene.patient()
    enrolled = api_as(scene.coordinator).post(
        f"/studies/{scene.study.pk}/participants", {"patient": patient.pk}
    )
    assert enrolled.status_code == 201, enrolled.content
    body = enrolled.json()
    assert body["pseudonym"].startswith("P-") and patient.code not in body["pseudonym"]
    assert api.get(f"/studies/{scene.study.pk}").json()["locked_at"] is not None
    again = _enrol(api_as(scene.coordinator), scene, patient)
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "patient"


def test_a_locked_definition_changes_only_by_an_amendment_with_its_reason(api_as, scene):
    scene.participant()
    api = api_as(scene.pi)
    url = f"/studies/{scene.study.pk}"
    criteria = [
        {"kind": "inclusion", "subject": "age", "min_value": 25, "max_value": 65},
        {"kind": "exclusion", "subject": "screening", "screening_item": "pregnancy"},
    ]
    silent = api.patch(url, {"criteria": criteria})
    assert [v["rule"] for v in _refusal(silent)] == ["study-locked"]
    assert _age(api.get(url).json()["criteria"])["min_value"] == 30

    fixed = api.patch(url, {"block_size": 6, "reason": "more participants per block"})
    assert [v["rule"] for v in _refusal(fixed)] == ["randomization-fixed"]
    other_arms = [
        {"code": "A", "name": "Other", "product": scene.vehicle.pk},
        {"code": "B", "name": "Vehicle", "product": scene.vehicle.pk},
    ]
    arms = api.patch(url, {"arms": other_arms, "reason": "a new product"})
    assert [v["rule"] for v in _refusal(arms)] == ["randomization-fixed"]

    amended = api.patch(
        url, {"criteria": criteria, "reason": "Ethics committee vote of 2026-11-30: age from 25"}
    )
    assert amended.status_code == 200, amended.content
    assert _age(amended.json()["criteria"])["min_value"] == 25
    [amendment] = api.get(f"{url}/amendments").json()
    assert amendment["number"] == 1 and amendment["reason"].startswith("Ethics committee")
    assert _age(amendment["changes"]["criteria"]["old"])["min_value"] == 30
    assert _age(amendment["changes"]["criteria"]["new"])["min_value"] == 25
    assert api.patch(url, {"criteria": criteria, "reason": "same again"}).status_code == 200
    assert len(api.get(f"{url}/amendments").json()) == 1, "a repeat changes nothing, so no amendment"


def _age(criteria):
    return next(c for c in criteria if c["subject"] == "age")


def _split_face_definition(scene):
    """A split-face study's definition without its endpoints: an exosome arm and a vehicle arm."""
    return {
        "title": "t",
        "design": "split_face",
        "course_template": scene.template.pk,
        "arms": [
            {"code": "A", "name": "Exosome", "product": scene.exosome.pk},
            {"code": "B", "name": "Vehicle", "product": scene.vehicle.pk},
        ],
    }


def test_the_primary_endpoint_is_pre_registered_once_and_at_a_planned_visit(api_as, scene):
    api = api_as(scene.pi)
    base = _split_face_definition(scene)
    none = api.post(
        "/studies", {**base, "endpoints": [{"kind": "gais", "session_number": 3, "weeks_after_session": 6}]}
    )
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "endpoints"
    week_4 = {"kind": "gais", "primary": True, "session_number": 3, "weeks_after_session": 4}
    unplanned = api.post("/studies", {**base, "endpoints": [week_4]})
    assert (
        unplanned.status_code == 422 and "no follow-up 4 weeks after session 3" in unplanned.content.decode()
    )
    week_6 = {**week_4, "weeks_after_session": 6}
    one_arm = api.post("/studies", {**base, "arms": base["arms"][:1], "endpoints": [week_6]})
    assert one_arm.status_code == 422 and one_arm.json()["errors"][0]["field"] == "arms"
    long_code = [{**base["arms"][0], "code": "EXO"}, base["arms"][1]]
    refused = api.post("/studies", {**base, "arms": long_code, "endpoints": [week_6]})
    assert refused.status_code == 422, "a split-face slot writes the two codes side by side"
    assert refused.json()["errors"][0]["field"] == "arms.0.code"


def test_a_metric_endpoint_names_a_region_the_study_analysis_measures(api_as, scene):
    api = api_as(scene.pi)
    gais = {"kind": "gais", "primary": True, "session_number": 3, "weeks_after_session": 6}
    base = _split_face_definition(scene)

    def metric(region):
        return {
            "kind": "metric",
            "metric": "spot_count",
            "region": region,
            "session_number": 3,
            "weeks_after_session": 6,
        }

    # the whole photo matches no photo (a close-up is chosen by its region); the face or a midline
    # region is the same for both halves of a split-face study
    for region in ("full", "face", "nose", "neck", "face_left", "elbow"):
        refused = api.post("/studies", {**base, "endpoints": [gais, metric(region)]})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "endpoints.1.region"
    assert api.post("/studies", {**base, "endpoints": [gais, metric("cheek_left")]}).status_code == 201
    # a parallel study measures the face, or an area beyond it on its close-ups
    for region in ("face", "neck"):
        parallel = {**base, "design": "parallel", "endpoints": [gais, metric(region)]}
        assert api.post("/studies", parallel).status_code == 201, region

    # a study defined before the check keeps its whole-photo endpoint through another change
    scene.study.endpoints.filter(kind="metric").update(region="full")
    renamed = api.patch(f"/studies/{scene.study.pk}", {"title": "Exosomes, split-face pilot"})
    assert renamed.status_code == 200, renamed.content


def test_the_allocation_is_refused_to_every_blinded_role(api_as, scene):
    participant = scene.participant()
    url = f"/studies/{scene.study.pk}/participants/{participant.pk}/allocation"
    for blinded in (scene.pi, scene.clinician, *scene.raters):
        assert api_as(blinded).get(url).status_code in {403, 404}
    assert api_as(scene.clinician).get(url).status_code == 403
    allocation = api_as(scene.coordinator).get(url).json()
    assert sorted(allocation) == ["face_left", "face_right"]
    assert sorted(allocation.values()) == ["A", "B"]


def test_study_roles_decide_who_may_do_what(api_as, scene, clinic):
    patient = scene.patient()
    assert _enrol(api_as(scene.raters[0]), scene, patient).status_code == 403
    assert _enrol(api_as(scene.clinician), scene, patient).status_code == 403
    outsider = factories.UserFactory(clinic=clinic)
    assert api_as(outsider).get(f"/studies/{scene.study.pk}").status_code == 404
    stranger = factories.UserFactory(clinic=factories.ClinicFactory())
    assert api_as(stranger).get(f"/studies/{scene.study.pk}").status_code == 404
    refused = api_as(scene.pi).post(
        f"/studies/{scene.study.pk}/roles", {"user": scene.raters[0].pk, "role": "unblinded_coordinator"}
    )
    assert refused.status_code == 422, "a rater cannot also be the unblinded coordinator"
