"""``GET /api/v1/studies`` lists the statistician's studies too, so that an API-only researcher finds
the study whose results they read, but marks each item with ``access``: ``full`` for a study the
caller opens (its detail answers 200), ``results_only`` for the statistician's, whose item carries
what the results page shows of the study and the path of its results, nothing of participants,
enrolment or arms, while its detail stays a 404."""

from __future__ import annotations

import jsonschema_rs
import pytest
from django.utils import timezone
from tests import factories

from exoderm.api.main import api
from exoderm.clinics.models import Role
from exoderm.studies import services
from exoderm.studies.models import StudyRoleKind


@pytest.fixture
def scene(clinic):
    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    scene.enrolled = scene.participant(first_session_at=timezone.now(), clinician=scene.clinician)
    scene.researcher = factories.UserFactory(clinic=clinic, role=Role.RESEARCHER)
    services.assign_role(
        study=scene.study, user=scene.researcher, role=StudyRoleKind.STATISTICIAN, by=scene.pi
    )
    return scene


def _matches_the_published_schema(listing: list) -> None:
    document = api.get_openapi_schema()
    schema = document["paths"]["/api/v1/studies"]["get"]["responses"][200]["content"]["application/json"]
    jsonschema_rs.Draft202012Validator({**schema["schema"], "components": document["components"]}).validate(
        listing
    )


def test_the_statistician_finds_the_study_and_where_its_results_are(api_as, scene):
    api = api_as(scene.researcher)
    listing = api.get("/studies").json()
    _matches_the_published_schema(listing)
    assert listing == [
        {
            "id": scene.study.pk,
            "access": "results_only",
            "title": scene.study.title,
            "registry_id": scene.study.registry_id,
            "design": "split_face",
            "blinding": "double_blind",
            "results": f"/api/v1/studies/{scene.study.pk}/results",
        }
    ]
    assert api.get(listing[0]["results"].removeprefix("/api/v1")).status_code == 200
    assert api.get(f"/studies/{scene.study.pk}").status_code == 404


def test_the_study_staff_and_the_clinic_admin_open_theirs_in_full(api_as, scene):
    admin = factories.UserFactory(clinic=scene.clinic, role=Role.CLINIC_ADMIN)
    for user in (scene.pi, scene.raters[0], admin):
        listing = api_as(user).get("/studies").json()
        _matches_the_published_schema(listing)
        assert [(row["id"], row["access"]) for row in listing] == [(scene.study.pk, "full")], user.role
        assert "results" not in listing[0]
        assert api_as(user).get(f"/studies/{scene.study.pk}").json()["access"] == "full"
    assert api_as(scene.raters[0]).get("/studies").json()[0]["my_roles"] == ["rater"]


def test_an_ended_statistician_role_leaves_the_list(api_as, scene):
    services.end_role(study_role=scene.study.roles.get(user=scene.researcher), by=scene.pi)
    assert api_as(scene.researcher).get("/studies").json() == []
    other = factories.UserFactory(clinic=scene.clinic, role=Role.RESEARCHER)
    assert api_as(other).get("/studies").json() == []
