"""Every page renders for the clinic's staff, with a bounded number of queries, and nothing else's."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests import factories
from tests.signin import login_with_mfa
from tests.web.conftest import WebScene

# The most queries any page may make; the same for 3 or 9 patients (no N+1). The patient's page is the
# largest: 17 since it lists the patient's appointments (one query for the upcoming and past ones).
MAX_QUERIES = 17


def pages(scene: WebScene) -> list[str]:
    return [
        reverse("today"),
        reverse("patients"),
        reverse("patients") + "?q=" + scene.patient.identity.family_name,
        reverse("patients")
        + "?q="
        + f"{scene.patient.identity.date_of_birth:%d.%m.%Y} +49 30 1234567 @example",
        reverse("patient", args=[scene.patient.pk]),
        reverse("sessions"),
        reverse("session", args=[scene.session.pk]),
        reverse("session-new"),
        reverse("lots"),
        reverse("lot", args=[scene.lot.pk]),
        reverse("lot-affected", args=[scene.lot.pk]),
        reverse("products"),
        reverse("courses"),
        reverse("calendar"),
        reverse("course-enrol", args=[scene.patient.pk]),
        reverse("lot-receive"),
        reverse("screening", args=[scene.patient.pk]),
    ]


def admin_pages(scene: WebScene) -> list[str]:
    return [
        reverse("users"),
        reverse("user-new"),
        reverse("consent-templates"),
        reverse("clinic-settings"),
        reverse("course-template-new"),
        reverse("product-new"),
        reverse("product-edit", args=[scene.product.pk]),
    ]


@pytest.mark.django_db
def test_every_page_renders_with_bounded_queries(client, clinic, django_assert_max_num_queries):
    scene = WebScene(clinic, size=3)
    for user, urls in [(scene.clinician, pages(scene)), (scene.admin, admin_pages(scene))]:
        login_with_mfa(client, user)
        for url in urls:
            with django_assert_max_num_queries(MAX_QUERIES):
                response = client.get(url)
            assert response.status_code == 200, url


@pytest.mark.django_db
def test_query_counts_do_not_grow_with_the_data(client, clinic, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def counts(scene):
        client.force_login(scene.clinician)
        result = {}
        for url in pages(scene):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            result[re.sub(r"\d+", "N", url.split("?")[0])] = len(captured)
        return result

    # Django caches content types per process: the first page that names one (a record's revisions)
    # would count a lookup the second scene does not make
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.get_for_models(*apps.get_models())
    small = counts(WebScene(clinic, size=2))
    large = counts(WebScene(factories.ClinicFactory(), size=6))
    assert small == large


@pytest.mark.django_db
def test_recall_downloads_make_bounded_queries(client, clinic, django_assert_max_num_queries):
    scene = WebScene(clinic, size=3)
    client.force_login(scene.clinician)
    for download in ("csv", "xlsx"):
        with django_assert_max_num_queries(MAX_QUERIES):
            response = client.get(reverse("lot-affected", args=[scene.lot.pk]), {"format": download})
        assert response.status_code == 200 and response.content


@pytest.mark.django_db
def test_pages_use_no_inline_style_or_script_without_nonce(client, clinic):
    scene = WebScene(clinic, size=1)
    client.force_login(scene.clinician)
    for url in pages(scene):
        response = client.get(url)
        html = response.content.decode()
        assert " style=" not in html, url
        for tag in re.findall(r"<script[^>]*>", html):
            assert 'nonce="' in tag, (url, tag)
        assert "http://" not in html.replace("http://www.w3.org/2000/svg", ""), url
        assert "https://" not in html, url
        policy = response["Content-Security-Policy"]
        assert "'nonce-" in policy and "unsafe-inline" not in policy


@pytest.mark.django_db
def test_another_clinics_records_are_404(client, clinic, other_clinic):
    scene = WebScene(clinic, size=1)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    login_with_mfa(client, stranger)
    for name, pk in [("patient", scene.patient.pk), ("lot", scene.lot.pk), ("session", scene.session.pk)]:
        assert client.get(reverse(name, args=[pk])).status_code == 404


@pytest.mark.django_db
def test_a_researcher_sees_no_clinical_pages(client, researcher):
    client.force_login(researcher)
    assert client.get(reverse("patients")).status_code == 403


@pytest.mark.django_db
def test_admin_pages_need_the_clinic_admin(client, clinician, clinic_admin):
    client.force_login(clinician)
    assert client.get(reverse("users")).status_code == 403
    assert b'href="/manage/users/"' not in client.get(reverse("today")).content
    login_with_mfa(client, clinic_admin)
    assert client.get(reverse("users")).status_code == 200


@pytest.mark.django_db
def test_django_admin_is_for_superusers_only(client, clinic_admin):
    clinic_admin.is_staff = True
    clinic_admin.save()
    login_with_mfa(client, clinic_admin)
    assert client.get("/admin/").status_code == 302
    superuser = factories.UserFactory(clinic=None, is_superuser=True, is_staff=True)
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200
    assert client.get(reverse("today")).status_code == 302


@pytest.mark.django_db
def test_lists_sort_and_page(client, clinic, clinic_admin):
    for n in range(30):
        factories.PatientFactory(clinic=clinic, identity__family_name=f"Name{n:02d}")
    login_with_mfa(client, clinic_admin)
    first = client.get(reverse("patients"), {"sort": "name"}).content.decode()
    assert "Name00" in first and "Name29" not in first
    assert 'aria-sort="ascending"' in first
    reverse_order = client.get(reverse("patients"), {"sort": "-name"}).content.decode()
    assert "Name29" in reverse_order and "Name00" not in reverse_order
    second = client.get(reverse("patients"), {"sort": "name", "page": 2}).content.decode()
    assert "Name29" in second


@pytest.mark.django_db
def test_patient_search_as_you_type_answers_with_the_results_only(client, clinic, clinic_admin):
    factories.PatientFactory(clinic=clinic, identity__family_name="Findme")
    factories.PatientFactory(clinic=clinic, identity__family_name="Other")
    login_with_mfa(client, clinic_admin)
    response = client.get(
        reverse("patients"), {"q": "findm"}, headers={"HX-Request": "true", "HX-Target": "patient-results"}
    )
    html = response.content.decode()
    assert "Findme" in html and "Other" not in html
    assert "<html" not in html


@pytest.mark.django_db
def test_error_pages_are_the_clinics_pages(client, researcher, clinician):
    client.force_login(researcher)
    response = client.get(reverse("patients"))
    assert response.status_code == 403 and b"Your role does not allow this page" in response.content
    client.force_login(clinician)
    response = client.get(reverse("patient", args=[999999]))
    assert response.status_code == 404 and b"does not exist in your clinic" in response.content


@pytest.mark.django_db
def test_a_researcher_lands_on_a_page_without_patients(client, researcher):
    client.force_login(researcher)
    response = client.get(reverse("today"))
    html = response.content.decode()
    assert response.status_code == 200 and "/api/v1/docs" in html
    assert 'href="/patients/"' not in html
    # the rows are named by study pseudonyms (S-…), never by the patient code staff see
    assert "one row per study pseudonym" in html and "patient code" not in html


@pytest.mark.django_db
def test_static_files_are_served_by_the_app_itself(client, clinician):
    client.force_login(clinician)
    html = client.get(reverse("today")).content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert any("htmx" in s for s in scripts) and styles
    for url in scripts + styles:
        assert url.startswith("/static/")
        response = client.get(url)
        assert response.status_code == 200, url


@pytest.mark.django_db
def test_sessions_of_one_patient(client, clinic):
    scene = WebScene(clinic, size=2)
    client.force_login(scene.clinician)
    html = client.get(reverse("sessions"), {"patient": scene.patient.pk, "sort": "patient"}).content.decode()
    assert scene.patient.code in html and scene.scenes[1].patient.code not in html
    assert f"patient={scene.patient.pk}" in html


@pytest.mark.django_db
def test_the_navigation_marks_the_administration_on_its_pages_below_other_sections(client, clinic_admin):
    """The appointment book's settings and the message templates live below /booking/ and
    /messages/ but are administration pages: the main navigation marks Admin there, not
    Appointments or Messages, as the administration's own tabs do."""
    login_with_mfa(client, clinic_admin)
    marked = re.compile(r'<a href="([^"]+)" aria-current="page">')

    def current_sections(url: str) -> list[str]:
        html = client.get(url).content.decode()
        navigation = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
        return marked.findall(navigation)

    for page in ("booking-settings", "message-templates", "users"):
        assert current_sections(reverse(page)) == [reverse("users")], page
    assert current_sections(reverse("booking-day")) == [reverse("booking-day")]
    assert current_sections(reverse("outbox")) == [reverse("outbox")]
