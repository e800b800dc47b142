"""The session page of a session charted from a study kit: a blinded treating clinician sees the kit,
never the lots, products, vials or corrections that would tell the arm; the unblinded coordinator does."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.treatments.models import TreatmentSession
from tests import factories

pytestmark = pytest.mark.django_db


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def kit_session(api_as, clinic):
    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    participant = scene.participant()
    at = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    base = f"/studies/{scene.study.pk}"
    kit = api_as(scene.coordinator).post(
        f"{base}/kits",
        {"participant": participant.pk, "session_number": 1, "vials": scene.vials_for(participant),
         "thawed_at": _iso(at)},
    )  # fmt: skip
    assert kit.status_code == 201, kit.content
    body = {
        "kit": kit.json()["code"],
        "performed_at": _iso(at),
        "procedures": [
            {"kind": "microneedling", "areas": ["face"], "started_at": _iso(at),
             "ended_at": _iso(at + dt.timedelta(minutes=20)), "params": {"needle_depth_mm": 1.0, "passes": 3}}
        ],
        "applications": [
            {"side": side, "volume_ml": 1.5, "applied_at": _iso(at + dt.timedelta(minutes=25))}
            for side in ("face_left", "face_right")
        ],
    }  # fmt: skip
    charted = api_as(scene.clinician).post(f"{base}/participants/{participant.pk}/sessions", body)
    assert charted.status_code == 201, charted.content
    session = TreatmentSession.objects.get(kit__code=kit.json()["code"])
    return scene, session, kit.json()["code"]


def test_the_blinded_clinician_sees_the_kit_and_nothing_that_names_the_arm(client, kit_session):
    scene, session, code = kit_session
    client.force_login(scene.clinician)
    page = client.get(f"/sessions/{session.pk}/").content.decode()
    assert code in page
    for revealing in (
        scene.exosome_lot.number,
        scene.vehicle_lot.number,
        scene.exosome.name,
        scene.vehicle.name,
    ):
        assert revealing not in page
    assert f"/sessions/{session.pk}/correct/" not in page
    assert client.get(f"/sessions/{session.pk}/correct/").status_code == 403


def test_the_unblinded_coordinator_sees_the_lots(client, kit_session):
    scene, session, _code = kit_session
    client.force_login(scene.coordinator)
    page = client.get(f"/sessions/{session.pk}/").content.decode()
    assert scene.exosome_lot.number in page and scene.vehicle_lot.number in page


def test_a_recall_lists_kit_sessions_only_for_those_who_may_see_the_allocation(client, api_as, kit_session):
    from exoderm.products.services import recall_lot

    scene, session, _code = kit_session
    recall_lot(lot=scene.exosome_lot, reason="sterility failure", by=scene.clinician)
    patient_code = session.patient.code

    client.force_login(scene.clinician)
    page = client.get(f"/lots/{scene.exosome_lot.pk}/affected/").content.decode()
    assert patient_code not in page
    assert "charted from a study kit you are blinded for" in page
    answer = api_as(scene.clinician).get(f"/lots/{scene.exosome_lot.pk}/recall").json()
    assert (answer["affected"], answer["withheld_for_blinding"]) == ([], 1)
    csv = api_as(scene.clinician).get(f"/lots/{scene.exosome_lot.pk}/recall.csv").content.decode()
    assert patient_code not in csv

    scene.coordinator.role = "clinician"  # recall lists are for clinicians and clinic admins
    scene.coordinator.save(update_fields=["role"])
    answer = api_as(scene.coordinator).get(f"/lots/{scene.exosome_lot.pk}/recall").json()
    assert [row["patient_code"] for row in answer["affected"]] == [patient_code]
    assert answer["withheld_for_blinding"] == 0


def test_the_api_keeps_a_kit_sessions_corrections_from_the_blinded(api_as, kit_session):
    scene, session, _code = kit_session
    assert api_as(scene.clinician).get(f"/sessions/{session.pk}/revisions").status_code == 403
    assert api_as(scene.coordinator).get(f"/sessions/{session.pk}/revisions").status_code == 200
