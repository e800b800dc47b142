"""Coded kits: prepared only by the unblinded coordinator from vials of the allocated arms, shown
to blinded roles by code and labels only, discarded and replaced when unusable."""

from __future__ import annotations

import re

import pytest

from exoderm.studies.models import AllocationSlot
from tests import factories


@pytest.fixture
def scene(clinic):
    return factories.SplitFaceStudyScene(clinic, raters=1)


def _vials_against_the_allocation(scene, participant):
    slot = AllocationSlot.objects.get(participant=participant)
    stock = {"A": scene.exosome_vials, "B": scene.vehicle_vials}
    return {"left": stock[slot.arm_right][0].pk, "right": stock[slot.arm_left][0].pk}


def test_only_the_coordinator_prepares_kits_and_only_as_allocated(api_as, scene):
    participant = scene.participant()
    url = f"/studies/{scene.study.pk}/kits"
    right_vials = scene.vials_for(participant)
    body = {"participant": participant.pk, "session_number": 1, "vials": right_vials}
    for blinded in (scene.pi, scene.clinician, scene.raters[0]):
        assert api_as(blinded).post(url, body).status_code == 403
    swapped = api_as(scene.coordinator).post(
        url, {**body, "vials": _vials_against_the_allocation(scene, participant)}
    )
    assert swapped.status_code == 422
    assert {e["field"] for e in swapped.json()["errors"]} == {"vials.left", "vials.right"}
    one = api_as(scene.coordinator).post(url, {**body, "vials": {"left": right_vials["left"]}})
    assert one.status_code == 422 and one.json()["errors"][0]["field"] == "vials"
    kit = api_as(scene.coordinator).post(url, body)
    assert kit.status_code == 201, kit.content
    assert re.fullmatch(r"K-\d{4}", kit.json()["code"])
    assert sorted(v["label"] for v in kit.json()["vials"]) == ["left", "right"]
    other = scene.participant()
    reused = api_as(scene.coordinator).post(
        url, {"participant": other.pk, "session_number": 1, "vials": right_vials}
    )
    assert reused.status_code == 422, "a vial goes into one kit only"


def test_blinded_roles_see_a_kit_by_its_code_and_labels(api_as, scene):
    participant = scene.participant()
    body = {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant)}
    code = api_as(scene.coordinator).post(f"/studies/{scene.study.pk}/kits", body).json()["code"]
    seen = api_as(scene.clinician).get(f"/studies/{scene.study.pk}/kits/{code}").json()
    assert seen == {
        "code": code, "participant": participant.pk, "pseudonym": participant.pseudonym, "session_number": 1,
        "labels": ["left", "right"], "used": False, "discarded": False,
    }  # fmt: skip
    assert api_as(scene.raters[0]).get(f"/studies/{scene.study.pk}/kits").status_code == 403


def test_an_unusable_kit_is_discarded_and_replaced(api_as, scene):
    participant = scene.participant()
    coordinator = api_as(scene.coordinator)
    url = f"/studies/{scene.study.pk}/kits"
    first = coordinator.post(
        url, {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant)}
    )
    code = first.json()["code"]
    again = coordinator.post(
        url, {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant)}
    )
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "session_number"
    assert api_as(scene.clinician).post(f"{url}/{code}/discard", {"reason": "x"}).status_code == 403
    assert coordinator.post(f"{url}/{code}/discard", {"reason": " "}).status_code == 422
    discarded = coordinator.post(f"{url}/{code}/discard", {"reason": "left vial thawed too early"})
    assert discarded.status_code == 200 and discarded.json()["discarded"] is True
    replacement = coordinator.post(
        url, {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant)}
    )
    assert replacement.status_code == 201 and replacement.json()["code"] != code
    charted = api_as(scene.clinician).post(
        f"/studies/{scene.study.pk}/participants/{participant.pk}/sessions",
        {"kit": code, "performed_at": "2026-01-01T10:00:00+01:00", "procedures": [], "applications": []},
    )
    assert charted.status_code == 422 and charted.json()["violations"][0]["rule"] == "wrong-kit"


def test_a_kit_session_reads_without_lots_or_products_for_the_blinded_clinician(api_as, scene):
    import datetime as dt

    from django.utils import timezone

    participant = scene.participant()
    at = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    body = {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant)}
    code = (
        api_as(scene.coordinator)
        .post(
            f"/studies/{scene.study.pk}/kits",
            {**body, "thawed_at": (at + dt.timedelta(minutes=10)).isoformat()},
        )
        .json()["code"]
    )
    chart = {
        "kit": code,
        "performed_at": at.isoformat(),
        "procedures": [
            {
                "kind": "microneedling",
                "areas": ["face"],
                "started_at": at.isoformat(),
                "ended_at": (at + dt.timedelta(minutes=20)).isoformat(),
                "params": {"needle_depth_mm": 1.0, "passes": 3},
            }
        ],
        "applications": [
            # 3.5 ml on a half lies above the products' labelled 1-3 ml per area: a warning
            {"side": side, "volume_ml": 3.5, "applied_at": (at + dt.timedelta(minutes=25)).isoformat()}
            for side in ("face_left", "face_right")
        ],
    }
    url = f"/studies/{scene.study.pk}/participants/{participant.pk}/sessions"
    warned = api_as(scene.clinician).post(url, chart)
    assert warned.status_code == 422
    assert [(v["rule"], v["field"]) for v in warned.json()["violations"]] == [("dose-out-of-range", "kit")]
    assert scene.exosome.name not in warned.content.decode()
    session = (
        api_as(scene.clinician).post(url, {**chart, "acknowledged_warnings": ["dose-out-of-range"]}).json()
    )
    blinded = api_as(scene.clinician).get(f"/sessions/{session['session']}").content.decode()
    for secret in (
        scene.exosome.name,
        scene.vehicle.name,
        scene.exosome_lot.number,
        scene.vehicle_lot.number,
    ):
        assert secret not in blinded
    assert code in blinded
    unblinded = api_as(scene.coordinator).get(f"/sessions/{session['session']}").content.decode()
    assert scene.exosome_lot.number in unblinded and scene.vehicle_lot.number in unblinded
