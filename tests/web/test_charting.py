"""The charting form: refusals explained next to their fields, nothing typed lost, warnings acknowledged."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests.web.conftest import wall


def form_data(scene, *, procedure=True, volume="2.0", **extra):
    at = scene.at
    data = {
        "patient": scene.patient.pk,
        "performed_at": wall(at, scene.clinic),
        "notes": "typed notes stay",
        "procedures-TOTAL_FORMS": "2",
        "procedures-INITIAL_FORMS": "0",
        "applications-TOTAL_FORMS": "2",
        "applications-INITIAL_FORMS": "0",
        "applications-0-lot": scene.lot.pk,
        "applications-0-volume_ml": volume,
        "applications-0-areas": ["face"],
        "applications-0-applied_at": wall(at + dt.timedelta(minutes=25), scene.clinic),
    }
    if procedure:
        data |= {
            "procedures-0-kind": "microneedling",
            "procedures-0-areas": ["face"],
            "procedures-0-started_at": wall(at, scene.clinic),
            "procedures-0-ended_at": wall(at + dt.timedelta(minutes=20), scene.clinic),
            "procedures-0-needle_depth_mm": "1.0",
            "procedures-0-passes": "3",
        }
    return data | extra


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def block_of(html: str, row: str) -> str:
    """The page from the legend of ``row`` (like ``applications-0``) to the next row's legend."""
    start = html.rfind("<legend", 0, html.index(f'name="{row}-'))
    following = re.compile(r'<fieldset class="(procedure|application)"|<p class="hint">').search(html, start)
    return html[start : following.start() if following else len(html)]


def field_block(html: str, name: str) -> str:
    """The markup of the field ``name`` up to the next field."""
    start = html.index(f'name="{name}"')
    return html[start : html.find('class="field', start)]


@pytest.mark.django_db
def test_a_session_without_procedure_is_refused_next_to_the_application(client, scene):
    client.force_login(scene.clinician)
    response = client.post(reverse("session-new"), form_data(scene, procedure=False))
    assert response.status_code == 422
    html = response.content.decode()
    row = block_of(html, "applications-0")
    assert 'data-rule="exosome-requires-barrier-disruption"' in row
    # nothing typed is lost
    assert "typed notes stay" in html
    assert 'name="applications-0-volume_ml" value="2.0"' in row
    assert re.search(r'name="applications-0-areas" value="face"[^>]*checked', row)
    assert f'<option value="{scene.lot.pk}" selected' in row
    assert not TreatmentSession.objects.filter(patient=scene.patient).exists()


@pytest.mark.django_db
def test_fixed_session_is_saved(client, scene):
    client.force_login(scene.clinician)
    response = client.post(reverse("session-new"), form_data(scene))
    assert response.status_code == 302, response.content.decode()[:3000]
    session = TreatmentSession.objects.get(patient=scene.patient)
    assert response["Location"] == reverse("session", args=[session.pk])
    assert session.applications.count() == 1 and session.procedures.count() == 1


@pytest.mark.django_db
def test_a_warning_needs_an_explicit_acknowledgement(client, scene):
    client.force_login(scene.clinician)
    response = client.post(reverse("session-new"), form_data(scene, volume="4.5"))
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-rule="dose-out-of-range"' in block_of(html, "applications-0")
    assert 'name="acknowledge" value="dose-out-of-range"' in html
    assert not TreatmentSession.objects.exists()
    response = client.post(
        reverse("session-new"), form_data(scene, volume="4.5", acknowledge=["dose-out-of-range"])
    )
    assert response.status_code == 302
    warning = TreatmentSession.objects.get().warnings.get()
    assert warning.rule == "dose-out-of-range" and warning.acknowledged_by == scene.clinician


@pytest.mark.django_db
def test_a_recorded_warning_is_counted_and_shown_in_the_readers_language(client, scene):
    client.force_login(scene.clinician)
    data = form_data(scene, volume="4.5", acknowledge=["dose-out-of-range"])
    saved = client.post(reverse("session-new"), data, follow=True, HTTP_ACCEPT_LANGUAGE="de")
    assert "1 bestätigte Warnung wurde mit ihr erfasst." in saved.content.decode()
    assert "4,50 ml je Areal" in saved.content.decode()
    english = client.get(saved.redirect_chain[-1][0], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "4.50 ml per area lies outside" in english


@pytest.mark.django_db
def test_input_errors_from_the_service_sit_next_to_their_field(client, scene):
    client.force_login(scene.clinician)
    data = form_data(scene)
    del data["procedures-0-passes"]
    response = client.post(reverse("session-new"), data)
    assert response.status_code == 422
    assert "This parameter is required." in field_block(response.content.decode(), "procedures-0-passes")


@pytest.mark.django_db
def test_a_session_dated_in_the_future_is_refused_next_to_its_date(client, scene):
    client.force_login(scene.clinician)
    ahead = wall(scene.ahead(), scene.clinic)
    response = client.post(reverse("session-new"), form_data(scene, performed_at=ahead))
    assert response.status_code == 422
    assert "lies in the future" in field_block(response.content.decode(), "performed_at")
    assert not TreatmentSession.objects.filter(patient=scene.patient).exists()


@pytest.mark.django_db
def test_lot_status_fragment_shows_a_blocked_lot_and_the_countdown(client, scene):
    client.force_login(scene.clinician)
    quarantined = factories.LotFactory(product=scene.product, status="quarantined")
    html = client.get(reverse("lot-status"), {"applications-0-lot": quarantined.pk}).content.decode()
    assert "badge-quarantined" in html and "will be refused" in html
    fresh = factories.ThawedVialFactory(lot=scene.lot)
    html = client.get(reverse("lot-status"), {"applications-1-lot": scene.lot.pk}).content.decode()
    assert "data-countdown-until" in html and f"Vial {fresh.serial}" in html


@pytest.mark.django_db
def test_window_hint_names_the_application_window(client, scene):
    client.force_login(scene.clinician)
    html = client.get(reverse("window-hint"), {"procedures-0-ended_at": "2026-03-10T10:00"}).content.decode()
    assert "10:00" in html and "10:30" in html


@pytest.mark.django_db
def test_add_a_procedure_row_keeps_what_was_typed_and_saves_nothing(client, scene):
    client.force_login(scene.clinician)
    data = form_data(scene) | {"procedures-TOTAL_FORMS": "1", "add": "procedures"}
    response = client.post(reverse("session-new"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="procedures-1-kind"' in html and 'name="procedures-2-kind"' not in html
    assert 'name="procedures-0-passes" value="3"' in html
    assert not TreatmentSession.objects.exists()


def test_service_paths_map_to_the_inputs_of_the_page():
    from exoderm.web.charting import html_name

    rows = {"procedure_rows": [0, 2], "application_rows": [1]}
    assert html_name("applications.0.applied_at", **rows) == "applications-1-applied_at"
    assert html_name("applications.0.vial", **rows) == "applications-1-lot"
    assert html_name("applications.0", **rows) == "applications-1"
    assert html_name("procedures.1.params.passes", **rows) == "procedures-2-passes"
    assert html_name("screening.pregnancy", **rows) == "patient"
    assert html_name("performed_at", **rows) == "performed_at"
    assert html_name("procedures", **rows) == ""


@pytest.mark.django_db
def test_thaw_the_next_vial_from_the_charting_form(client, scene):
    from exoderm.products.models import Vial

    client.force_login(scene.clinician)
    lot = factories.LotFactory(product=scene.product)
    stored = factories.VialFactory(lot=lot)
    html = client.get(reverse("lot-status"), {"applications-0-lot": lot.pk}).content.decode()
    thaw = reverse("vial-action", args=[lot.pk, stored.pk, "thaw"])
    assert f'hx-post="{thaw}"' in html
    response = client.post(thaw, {"panel": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "data-countdown-until" in response.content.decode()
    assert "<html" not in response.content.decode()
    assert Vial.objects.get(pk=stored.pk).state == "thawed"
