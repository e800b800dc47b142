"""The statistician: a researcher (the clinic role that never sees an identified record) holds the
study role that reads the study's results, report and exports, pooled until the study is unblinded
at its end like every other reader, and nothing else of the study: its pages with participants,
enrolment, kits, allocation, ratings and sessions are a 404 to them, as to an outsider."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from exoderm.clinics.models import Role
from exoderm.studies import services
from exoderm.studies.models import StudyRoleKind
from tests import factories


@pytest.fixture
def scene(clinic):
    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    scene.enrolled = scene.participant(first_session_at=timezone.now(), clinician=scene.clinician)
    scene.researcher = factories.UserFactory(clinic=clinic, role=Role.RESEARCHER, first_name="Sina")
    return scene


@pytest.fixture
def statistician(scene):
    services.assign_role(
        study=scene.study, user=scene.researcher, role=StudyRoleKind.STATISTICIAN, by=scene.pi
    )
    return scene.researcher


def test_only_a_researcher_is_statistician_and_a_researcher_nothing_else(scene):
    for role in ("principal_investigator", "unblinded_coordinator", "treating_clinician", "rater"):
        with pytest.raises(ValidationError) as refused:
            services.assign_role(study=scene.study, user=scene.researcher, role=role, by=scene.pi)
        assert "role" in refused.value.message_dict
        assert "researcher" in refused.value.message_dict["role"][0]
    for staff in (
        scene.clinician,
        scene.coordinator,
        factories.UserFactory(clinic=scene.clinic, role="clinic_admin"),
    ):
        with pytest.raises(ValidationError) as refused:
            services.assign_role(study=scene.study, user=staff, role="statistician", by=scene.pi)
        assert "user" in refused.value.message_dict
        assert "researcher" in refused.value.message_dict["user"][0]
    given = services.assign_role(study=scene.study, user=scene.researcher, role="statistician", by=scene.pi)
    assert given.get_role_display() == "Statistician (results only)"


def test_the_roles_form_offers_the_statistician_and_says_why_it_refuses(client, scene):
    client.force_login(scene.pi)
    page = client.get(f"/studies/{scene.study.pk}/").content.decode()
    assert 'value="statistician"' in page and "Statistician (results only)" in page
    response = client.post(
        f"/studies/{scene.study.pk}/roles/", {"user": scene.clinician.pk, "role": "statistician"}, follow=True
    )
    assert "choose a user whose clinic role is researcher" in response.content.decode()
    client.post(f"/studies/{scene.study.pk}/roles/", {"user": scene.researcher.pk, "role": "statistician"})
    assert scene.study.roles.filter(user=scene.researcher, role="statistician").exists()


def test_the_statistician_reads_results_report_and_exports_pooled(client, scene, statistician):
    client.force_login(statistician)
    study = scene.study.pk
    page = client.get(f"/studies/{study}/results/")
    assert page.status_code == 200
    assert scene.study.title in page.content.decode()
    report = client.get(f"/studies/{study}/results/report.pdf")
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    for kind in ("csv", "redcap", "fhir"):
        export = client.get(f"/studies/{study}/results/export", {"format": kind})
        assert export.status_code == 200, kind
        body = export.content
        assert scene.enrolled.patient.identity.family_name.encode() not in body
        assert b"Exosome serum" not in body  # pooled: the arms' names only once unblinded at the end
    assert (
        client.get(f"/studies/{study}/results/export", {"format": "fhir", "images": "1"}).status_code == 403
    )


def test_the_statistician_reads_the_results_api(api_as, scene, statistician):
    api = api_as(statistician)
    study = scene.study.pk
    results = api.get(f"/studies/{study}/results")
    assert results.status_code == 200, results.content
    assert results.json()["analysis"] == "pooled"
    assert api.get(f"/studies/{study}/consort").json()["randomized"] == 1
    assert api.get(f"/studies/{study}/export", {"format": "csv"}).status_code == 200
    assert api.get(f"/studies/{study}/export", {"format": "fhir", "images": True}).status_code == 403
    report = api.get(f"/studies/{study}/report.pdf")
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    assert api.post(f"/studies/{study}/unblinding-at-end", {"reason": "x"}).status_code == 404


def test_every_other_study_page_is_a_404_to_the_statistician(client, scene, statistician):
    client.force_login(statistician)
    study, participant = scene.study.pk, scene.enrolled.pk
    pages = [
        f"/studies/{study}/",
        f"/studies/{study}/enrol/",
        f"/studies/{study}/roles/",
        f"/studies/{study}/rating-tasks/",
        f"/studies/{study}/deviations/new/",
        f"/studies/{study}/adverse-events/new/",
        f"/studies/{study}/participants/{participant}/withdraw/",
        f"/studies/{study}/participants/{participant}/unblind/",
        f"/studies/{study}/participants/{participant}/chart/",
        f"/studies/{study}/participants/{participant}/satisfaction/",
        f"/studies/{study}/allocation/",
        f"/studies/{study}/allocation/{participant}/",
        f"/studies/{study}/rate/",
        f"/studies/{study}/images/abc",
    ]
    for path in pages:
        assert client.get(path).status_code == 404, path
    assert (
        client.post(f"/studies/{study}/roles/", {"user": statistician.pk, "role": "rater"}).status_code == 404
    )


def test_every_other_study_endpoint_is_a_404_to_the_statistician(api_as, scene, statistician):
    api = api_as(statistician)
    study, participant = scene.study.pk, scene.enrolled.pk
    for path in (
        f"/studies/{study}",
        f"/studies/{study}/amendments",
        f"/studies/{study}/roles",
        f"/studies/{study}/randomization",
        f"/studies/{study}/flow",
        f"/studies/{study}/participants",
        f"/studies/{study}/participants/{participant}",
        f"/studies/{study}/participants/{participant}/visits",
        f"/studies/{study}/participants/{participant}/allocation",
        f"/studies/{study}/satisfaction",
        f"/studies/{study}/screen-failures",
        f"/studies/{study}/kits",
        f"/studies/{study}/rating-tasks",
        f"/studies/{study}/ratings",
    ):
        assert api.get(path).status_code == 404, path


def test_a_researcher_without_the_role_reads_no_results(client, api_as, scene):
    client.force_login(scene.researcher)
    assert client.get(f"/studies/{scene.study.pk}/results/").status_code == 404
    assert client.get(f"/studies/{scene.study.pk}/results/report.pdf").status_code == 404
    assert api_as(scene.researcher).get(f"/studies/{scene.study.pk}/results").status_code == 404


def test_an_ended_statistician_role_reads_no_more(client, scene, statistician):
    role = scene.study.roles.get(user=statistician)
    services.end_role(study_role=role, by=scene.pi)
    client.force_login(statistician)
    assert client.get(f"/studies/{scene.study.pk}/results/").status_code == 404


def test_the_study_list_links_the_statistician_to_the_results(client, scene, statistician):
    client.force_login(statistician)
    page = client.get("/studies/").content.decode()
    assert scene.study.title in page
    assert f'href="/studies/{scene.study.pk}/results/"' in page
    assert f'href="/studies/{scene.study.pk}/"' not in page
    assert 'href="/studies/"' in page  # the navigation names the studies to a researcher too
    other = factories.UserFactory(clinic=scene.clinic, role=Role.RESEARCHER)
    client.force_login(other)
    page = client.get("/studies/").content.decode()
    assert scene.study.title not in page
