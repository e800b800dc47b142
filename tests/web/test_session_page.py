"""The session page names the patient, and no second vial of a lot is opened while a thawed one is
unused: the charting panel does not offer it, and the thaw service (page and API) refuses it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from exoderm.products import selectors
from exoderm.products.models import VialState
from exoderm.products.services import discard_vial
from tests import factories
from tests.signin import login_with_mfa

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


def _with_open_vial(scene):
    """The scene's vial thawed 110 minutes ago, usable for 120. (The scene's own times keep clear of
    the clocks' change and so lie further back in the night they go back.)"""
    scene.vial.thawed_at = timezone.now() - 110 * MIN
    scene.vial.save(update_fields=["thawed_at"])
    return scene


def test_the_session_page_names_the_patient(client, clinic):
    scene = factories.SessionScene(clinic)
    session = scene.record()
    for role in ("clinician", "assistant", "clinic_admin"):
        login_with_mfa(client, factories.UserFactory(clinic=clinic, role=role))
        html = client.get(reverse("session", args=[session.pk])).content.decode()
        identity = scene.patient.identity
        assert f"{identity.given_name} {identity.family_name}" in html and scene.patient.code in html, role


def test_the_panel_offers_no_vial_while_a_thawed_one_is_unused(client, clinic):
    scene = _with_open_vial(factories.SessionScene(clinic))
    stored = factories.VialFactory(lot=scene.lot)
    client.force_login(scene.clinician)
    panel = client.get(reverse("lot-status"), {"applications-0-lot": scene.lot.pk}).content.decode()
    assert f"Vial {scene.vial.serial} thawed, use within" in panel
    assert "Thaw vial" not in panel and "once the open one is used, discarded or refrozen" in panel
    assert selectors.next_vial(scene.lot) is None
    discard_vial(vial=scene.vial, by=scene.clinician)
    panel = client.get(reverse("lot-status"), {"applications-0-lot": scene.lot.pk}).content.decode()
    assert f"Thaw vial {stored.serial}" in panel


def test_a_vial_past_its_use_by_time_does_not_hold_the_next_one_back(client, clinic):
    scene = factories.SessionScene(clinic)
    scene.vial.thawed_at = timezone.now() - 121 * MIN
    scene.vial.save(update_fields=["thawed_at"])
    stored = factories.VialFactory(lot=scene.lot)
    assert selectors.next_vial(scene.lot) == stored


def test_the_api_refuses_a_second_open_vial_with_the_reason(api_as, clinic, assistant):
    scene = _with_open_vial(factories.SessionScene(clinic))
    stored = factories.VialFactory(lot=scene.lot)
    response = api_as(assistant).post(f"/lots/{scene.lot.pk}/vials/{stored.pk}/thaw", {})
    assert response.status_code == 422
    assert f"Vial {scene.vial.serial} of this lot is open and unused" in response.content.decode()
    stored.refresh_from_db()
    assert stored.state == VialState.STORED
    # Charted after the fact: before the open vial was thawed, no vial of the lot was open.
    earlier = (scene.at + 5 * MIN).isoformat()
    response = api_as(assistant).post(f"/lots/{scene.lot.pk}/vials/{stored.pk}/thaw", {"at": earlier})
    assert response.status_code == 200, response.content


def test_the_lot_page_refuses_it_too(client, clinic, assistant):
    scene = _with_open_vial(factories.SessionScene(clinic))
    stored = factories.VialFactory(lot=scene.lot)
    client.force_login(assistant)
    client.post(reverse("vial-action", args=[scene.lot.pk, stored.pk, "thaw"]), {"panel": "1"})
    stored.refresh_from_db()
    assert stored.state == VialState.STORED
