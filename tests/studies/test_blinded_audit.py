"""The audit trail keeps a kit session's allocation from a clinic administrator who is blinded for
the study: the lot and vial applied to each side show as changed, without values, on the page, in
the API and in its CSV; the unblinded coordinator reads them as written."""

from __future__ import annotations

import csv
import io
import json

import pytest

from exoderm.clinics.models import Role
from tests.signin import login_with_mfa
from tests.studies.test_blinded_pages import kit_session  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

APPLICATION = "treatments.exosomeapplication"


def _make_admin(user) -> None:
    user.role = Role.CLINIC_ADMIN
    user.save(update_fields=["role"])


def _applications(api, patient_id):
    answer = api.get(f"/audit?patient={patient_id}&limit=200")
    assert answer.status_code == 200, answer.content
    return [event for event in answer.json()["items"] if event["object_type"] == APPLICATION]


def _csv_applications(api, patient_id):
    text = api.get(f"/audit.csv?patient={patient_id}").content.decode()
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row["object_type"] == APPLICATION]
    return [json.loads(row["changes"]) for row in rows]


def test_a_blinded_admin_reads_a_kit_sessions_applications_without_their_lots(
    api_as,
    client,
    kit_session,  # noqa: F811
):
    scene, session, _code = kit_session
    _make_admin(scene.pi)  # the principal investigator of a blinded study is blinded
    api = api_as(scene.pi)
    applications = _applications(api, session.patient_id)
    assert len(applications) == 2
    for event in applications:
        assert event["changes"]["lot_id"] == {"changed": True}
        assert event["changes"]["vial_id"] == {"changed": True}
        assert all(change == {"changed": True} for change in event["changes"].values())
    for changes in _csv_applications(api, session.patient_id):
        assert all(change == {"changed": True} for change in changes.values())

    login_with_mfa(client, scene.pi)
    page = client.get(f"/audit/patient/{session.patient_id}/").content.decode()
    assert page.count("<strong>Lot</strong>: changed (value not shown)") == 2


def test_the_unblinded_coordinator_reads_them_as_written(api_as, kit_session):  # noqa: F811
    scene, session, _code = kit_session
    _make_admin(scene.coordinator)
    api = api_as(scene.coordinator)
    lots = {event["changes"]["lot_id"]["new"] for event in _applications(api, session.patient_id)}
    assert lots == {scene.exosome_lot.pk, scene.vehicle_lot.pk}
    assert {changes["lot_id"]["new"] for changes in _csv_applications(api, session.patient_id)} == lots


def test_sessions_outside_kits_stay_readable_to_the_blinded_admin(api_as, kit_session):  # noqa: F811
    from tests import factories

    scene, _session, _code = kit_session
    _make_admin(scene.pi)
    other = factories.ExosomeApplicationFactory(session__patient__clinic=scene.clinic)
    applications = _applications(api_as(scene.pi), other.session.patient_id)
    assert applications and all("new" in event["changes"]["lot_id"] for event in applications)
