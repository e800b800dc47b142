"""Corrections with history: sessions, patients, screening, consents and lots, each with a reason.

A correction keeps the version before it as a revision ("corrected by … on … because …"); a
corrected session passes the same protocol check as a new one or is refused whole; vials and
recall lists follow the corrected applications; a vial's thaw can be charted after the fact.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils import timezone

from exoderm.consent.services import correct_consent
from exoderm.core.access import NotFound
from exoderm.core.errors import RuleViolations
from exoderm.patients.models import ScreeningAnswer
from exoderm.patients.services import correct_patient, correct_screening_answer
from exoderm.products.models import LotStatus, Vial, VialState
from exoderm.products.services import correct_lot, discard_vial, reconstitute_vial, thaw_vial
from exoderm.records.models import Revision
from exoderm.treatments.models import ExosomeApplication, Procedure, ProtocolWarning
from exoderm.treatments.recall import affected_by_lot
from exoderm.treatments.services import ApplicationInput, ProcedureInput, correct_session
from tests import factories
from tests.web.conftest import wall

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def correct(
    scene, session, *, by=None, reason="Volume typed wrong", procedures=None, applications=None, **kw
):
    """Correct ``session`` through the service with dicts as from the scene's helpers."""
    procedures = [scene.procedure()] if procedures is None else procedures
    applications = [scene.application()] if applications is None else applications
    return correct_session(
        session=session,
        by=by or scene.clinician,
        reason=reason,
        performed_at=kw.pop("performed_at", scene.at),
        procedures=[ProcedureInput(**p) for p in procedures],
        applications=[ApplicationInput(**a) for a in applications],
        **kw,
    )


def chart(session):
    """The current chart as the pages and the API read it."""
    return (
        [(p.kind, p.started_at) for p in Procedure.objects.filter(session=session)],
        [(a.vial_id, a.volume_ml, a.applied_at) for a in ExosomeApplication.objects.filter(session=session)],
    )


def plain(value):
    """A time as a revision stores it (Django's JSON encoding)."""
    return DjangoJSONEncoder().default(value)


# --- sessions ----------------------------------------------------------------------------------


def test_a_corrected_session_replaces_the_chart_and_keeps_the_old_one(scene):
    session = scene.record(notes="first")
    old_application = session.applications.get()
    corrected = correct(
        scene, session, applications=[scene.application(volume_ml=Decimal("1.5"))], notes="second"
    )
    assert corrected.pk == session.pk
    assert chart(session)[1] == [(scene.vial.pk, Decimal("1.50"), scene.at + 25 * MIN)]
    assert not ExosomeApplication.objects.filter(pk=old_application.pk).exists()
    session.refresh_from_db()
    assert session.notes == "second" and session.clinician == scene.clinician
    revision = Revision.objects.get()
    assert (revision.object_id, revision.patient, revision.clinic) == (
        session.pk,
        scene.patient,
        scene.clinic,
    )
    assert revision.reason == "Volume typed wrong" and revision.corrected_by == scene.clinician
    assert revision.snapshot["notes"] == "first"
    assert revision.snapshot["applications"] == [
        {
            "lot": scene.lot.pk,
            "lot_number": scene.lot.number,
            "vial": scene.vial.pk,
            "vial_serial": scene.vial.serial,
            "volume_ml": "2.00",
            "areas": ["face"],
            "applied_at": plain(scene.at + 25 * MIN),
        }
    ]
    assert revision.snapshot["procedures"][0]["params"] == {"needle_depth_mm": "1.00", "passes": 3}
    assert revision.changes["notes"] == ["first", "second"]
    assert set(revision.changes) == {"applications", "notes"}
    # The vial stays used by the session; nothing else was taken from the lot.
    assert Vial.objects.get(pk=scene.vial.pk).state == VialState.USED


def test_a_correction_that_breaks_the_protocol_is_refused_and_the_old_version_stays(scene):
    session = scene.record()
    before = chart(session)
    with pytest.raises(RuleViolations) as refused:
        # The application moved before the procedure: exosomes on skin no procedure had opened yet.
        correct(scene, session, applications=[scene.application(applied_at=scene.at - 5 * MIN)])
    assert "application-window" in {v.rule for v in refused.value.violations}
    assert chart(session) == before
    assert Vial.objects.get(pk=scene.vial.pk).state == VialState.USED
    assert not Revision.objects.exists()


def test_warnings_are_checked_again_and_acknowledged_by_the_corrector(clinic):
    scene = factories.SessionScene(clinic)
    session = scene.record()
    second = factories.UserFactory(clinic=clinic, role="clinician")
    too_much = scene.application(volume_ml=Decimal("3.5"))
    with pytest.raises(RuleViolations) as refused:
        correct(scene, session, by=second, applications=[too_much])
    assert [v.rule for v in refused.value.violations] == ["dose-out-of-range"]
    correct(scene, session, by=second, applications=[too_much], acknowledged_warnings=["dose-out-of-range"])
    warning = ProtocolWarning.objects.get(session=session)
    assert warning.acknowledged_by == second
    assert Revision.objects.get().corrected_by == second


def test_a_moved_application_frees_the_old_vial_and_uses_the_new_one(scene, clinic):
    session = scene.record()
    other_vial = factories.ThawedVialFactory(lot=scene.lot, thawed_at=scene.at + 12 * MIN)
    correct(scene, session, applications=[scene.application(vial=other_vial.pk)])
    assert Vial.objects.get(pk=scene.vial.pk).state == VialState.THAWED
    assert Vial.objects.get(pk=other_vial.pk).state == VialState.USED
    assert chart(session)[1][0][0] == other_vial.pk


def test_recall_lists_follow_the_corrected_applications(scene, clinic):
    session = scene.record()
    other_lot = factories.LotFactory(product=scene.product)
    other_vial = factories.ThawedVialFactory(lot=other_lot, thawed_at=scene.at + 12 * MIN)
    assert [row.session_id for row in affected_by_lot(scene.lot)] == [session.pk]
    correct(scene, session, applications=[scene.application(lot=other_lot.pk, vial=other_vial.pk)])
    assert affected_by_lot(scene.lot) == []
    assert [row.session_id for row in affected_by_lot(other_lot)] == [session.pk]


def test_a_session_that_used_up_its_lot_can_still_be_corrected(clinic):
    scene = factories.SessionScene(clinic)
    scene.lot.vials_received = 1
    scene.lot.save()
    session = scene.record()
    scene.lot.refresh_from_db()
    assert scene.lot.status == LotStatus.DEPLETED
    correct(scene, session, notes="the lot's only vial, still")
    scene.lot.refresh_from_db()
    assert scene.lot.status == LotStatus.DEPLETED
    assert Vial.objects.get(pk=scene.vial.pk).state == VialState.USED


def test_a_lot_recalled_after_the_session_does_not_block_its_correction(scene):
    session = scene.record()
    scene.lot.status = LotStatus.RECALLED
    scene.lot.save()
    correct(scene, session, notes="typo fixed")
    assert session.applications.get().lot == scene.lot
    # A lot the session did not use is judged as it is now.
    recalled = factories.LotFactory(product=scene.product, status=LotStatus.RECALLED)
    vial = factories.ThawedVialFactory(lot=recalled, thawed_at=scene.at + 12 * MIN)
    with pytest.raises(RuleViolations) as refused:
        correct(scene, session, applications=[scene.application(lot=recalled.pk, vial=vial.pk)])
    assert "lot-not-usable" in {v.rule for v in refused.value.violations}


def test_an_application_without_vial_stays_on_the_sessions_vial(scene):
    session = scene.record()
    # Another patient's vial of the same lot, thawed later: the default vial for a new session.
    factories.ThawedVialFactory(lot=scene.lot, thawed_at=scene.at + 20 * MIN)
    correct(scene, session, applications=[scene.application(vial=None, volume_ml=Decimal("1.0"))])
    assert chart(session)[1][0][0] == scene.vial.pk


def test_a_correction_needs_a_reason_and_the_right_role(scene, clinic, assistant, clinic_admin, other_clinic):
    session = scene.record()
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as error:
            correct(scene, session, reason=reason)
        assert "reason" in error.value.message_dict
    for reason in ("x" * 2001, "typo\x00", "typo \ud800"):
        with pytest.raises(ValidationError) as error:
            correct(scene, session, reason=reason)
        assert "reason" in error.value.message_dict
    for user in (assistant, clinic_admin):
        with pytest.raises(PermissionDenied):
            correct(scene, session, by=user)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    with pytest.raises(NotFound):
        correct(scene, session, by=stranger)
    assert not Revision.objects.exists()


# --- charting after the fact ------------------------------------------------------------------


def test_a_back_dated_thaw_lets_a_session_charted_afterwards_through(clinic):
    scene = factories.SessionScene(clinic)
    stored = factories.VialFactory(lot=scene.lot)
    applied = scene.application(vial=stored.pk)
    # Thawed "now" (after the treatment): the session is refused as applied before the thaw.
    # (The scene's own vial, still open now, goes first: no second vial is opened beside it.)
    discard_vial(vial=scene.vial, by=scene.clinician)
    late = factories.VialFactory(lot=scene.lot)
    thaw_vial(vial=late, by=scene.clinician)
    with pytest.raises(RuleViolations) as refused:
        scene.record(applications=[scene.application(vial=late.pk)])
    assert "use-window-exceeded" in {v.rule for v in refused.value.violations}
    # Thawed with the time it really happened: accepted.
    thaw_vial(vial=stored, by=scene.clinician, at=scene.at + 5 * MIN)
    session = scene.record(applications=[applied])
    assert session.applications.get().vial_id == stored.pk
    stored.refresh_from_db()
    assert (stored.state, stored.thawed_at) == (VialState.USED, scene.at + 5 * MIN)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (lambda lot: timezone.now() + dt.timedelta(hours=1), "This time lies in the future."),
        (lambda lot: dt.datetime(1999, 12, 31, 12, tzinfo=dt.UTC), "This lies before"),
        (lambda lot: lot.received_at - MIN, "This time lies before the lot was received."),
    ],
    ids=["future", "before-2000", "before-receipt"],
)
def test_a_thaw_time_that_cannot_be_true_is_refused(when, message, clinic, clinician):
    vial = factories.VialFactory(lot=factories.LotFactory(product=factories.ProductFactory(clinic=clinic)))
    with pytest.raises(ValidationError) as error:
        thaw_vial(vial=vial, by=clinician, at=when(vial.lot))
    assert error.value.message_dict["at"][0].startswith(message)
    vial.refresh_from_db()
    assert (vial.state, vial.thawed_at) == (VialState.STORED, None)


def test_a_reconstitution_time_is_checked_against_the_receipt(clinic, clinician):
    product = factories.ProductFactory(
        clinic=clinic, storage_form="lyophilized", storage_min_c=2, storage_max_c=8
    )
    vial = factories.VialFactory(lot=factories.LotFactory(product=product))
    with pytest.raises(ValidationError):
        reconstitute_vial(vial=vial, by=clinician, at=vial.lot.received_at - MIN)
    at = vial.lot.received_at + dt.timedelta(days=1)
    assert reconstitute_vial(vial=vial, by=clinician, at=at).thawed_at == at


def test_the_api_thaws_at_a_given_time_and_refuses_impossible_ones(api_as, clinician, clinic):
    vial = factories.VialFactory(lot=factories.LotFactory(product=factories.ProductFactory(clinic=clinic)))
    url = f"/lots/{vial.lot_id}/vials/{vial.pk}/thaw"
    api = api_as(clinician)
    future = api.post(url, {"at": (timezone.now() + dt.timedelta(hours=1)).isoformat()})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "at"
    ancient = api.post(url, {"at": "1999-06-01T10:00:00+02:00"})
    assert ancient.status_code == 422
    at = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    thawed = api.post(url, {"at": at.isoformat()})
    assert thawed.status_code == 200, thawed.content
    assert dt.datetime.fromisoformat(thawed.json()["thawed_at"]) == at


# --- the session API ---------------------------------------------------------------------------


def test_patch_session_corrects_with_a_reason_and_lists_the_revision(api_as, scene):
    session = scene.record()
    api = api_as(scene.clinician)
    body = scene.payload(applications=[scene.application(volume_ml=Decimal("1.5"))])
    del body["patient"]
    missing = api.patch(f"/sessions/{session.pk}", body)
    assert missing.status_code == 422
    assert not Revision.objects.exists()
    blank = api.patch(f"/sessions/{session.pk}", {**body, "reason": " "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"
    response = api.patch(f"/sessions/{session.pk}", {**body, "reason": "1.5 ml, not 2"})
    assert response.status_code == 200, response.content
    assert response.json()["applications"][0]["volume_ml"] == "1.50"
    revisions = api.get(f"/sessions/{session.pk}/revisions").json()
    assert revisions["count"] == 1
    (revision,) = revisions["items"]
    assert revision["reason"] == "1.5 ml, not 2"
    assert revision["corrected_by_name"] == scene.clinician.display_name
    assert revision["snapshot"]["applications"][0]["volume_ml"] == "2.00"


def test_patch_session_refused_by_the_protocol_answers_422_with_violations(api_as, scene):
    session = scene.record()
    body = scene.payload(applications=[scene.application(applied_at=scene.at - 5 * MIN)])
    del body["patient"]
    response = api_as(scene.clinician).patch(f"/sessions/{session.pk}", {**body, "reason": "time"})
    assert response.status_code == 422
    assert "application-window" in {v["rule"] for v in response.json()["violations"]}
    assert session.applications.get().applied_at == scene.at + 25 * MIN


def test_session_corrections_are_isolated_and_need_the_charting_role(api_as, scene, assistant, other_clinic):
    session = scene.record()
    body = {**scene.payload(), "reason": "why"}
    del body["patient"]
    assert api_as(assistant).patch(f"/sessions/{session.pk}", body).status_code == 403
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    assert api_as(stranger).patch(f"/sessions/{session.pk}", body).status_code == 404
    assert api_as(stranger).get(f"/sessions/{session.pk}/revisions").status_code == 404
    researcher = factories.UserFactory(clinic=scene.clinic, role="researcher")
    assert api_as(researcher).get(f"/sessions/{session.pk}/revisions").status_code == 403
    assert not Revision.objects.exists()


# --- patients, screening, consents, lots ------------------------------------------------------


def test_patient_corrections_keep_the_old_identity(api_as, scene, assistant, researcher, other_clinic):
    patient = scene.patient
    old_name = patient.identity.family_name
    api = api_as(assistant)
    without = api.patch(f"/patients/{patient.pk}", {"family_name": "Neu"})
    assert without.status_code == 422
    response = api.patch(f"/patients/{patient.pk}", {"family_name": "Neu", "reason": "Married name"})
    assert response.status_code == 200, response.content
    assert response.json()["identity"]["family_name"] == "Neu"
    (revision,) = api.get(f"/patients/{patient.pk}/revisions").json()["items"]
    assert revision["changes"] == {"family_name": [old_name, "Neu"]}
    assert revision["snapshot"]["family_name"] == old_name
    assert (
        api_as(researcher).patch(f"/patients/{patient.pk}", {"glogau": 1, "reason": "x"}).status_code == 403
    )
    stranger = factories.UserFactory(clinic=other_clinic, role="assistant")
    assert api_as(stranger).get(f"/patients/{patient.pk}/revisions").status_code == 404
    # Changes that change nothing are refused and write nothing.
    with pytest.raises(ValidationError, match="Nothing was changed"):
        correct_patient(patient=patient, changes={"family_name": "Neu"}, reason="again", by=assistant)
    assert Revision.objects.count() == 1


def test_screening_answer_corrections_are_validated_like_new_answers(api_as, scene, assistant):
    answer = ScreeningAnswer.objects.filter(patient=scene.patient, item="keloid").get()
    api = api_as(assistant)
    url = f"/patients/{scene.patient.pk}/screening/{answer.pk}"
    listed = {a["item"]: a["id"] for a in api.get(f"/patients/{scene.patient.pk}/screening").json()}
    assert listed["keloid"] == answer.pk
    tomorrow = answer.answered_on + dt.timedelta(days=400)
    future = api.patch(url, {"present": False, "answered_on": tomorrow.isoformat(), "reason": "date"})
    assert future.status_code == 422
    ancient = api.patch(url, {"present": False, "answered_on": "0001-01-01", "reason": "date"})
    assert ancient.status_code == 422
    response = api.patch(
        url,
        {
            "present": True,
            "answered_on": answer.answered_on.isoformat(),
            "note": "scar on the chin",
            "reason": "asked again",
        },
    )
    assert response.status_code == 200, response.content
    answer.refresh_from_db()
    assert answer.present and answer.note == "scar on the chin"
    (revision,) = api.get(f"{url}/revisions").json()["items"]
    assert revision["changes"]["present"] == [False, True]
    with pytest.raises(ValidationError) as error:
        correct_screening_answer(
            answer=answer, by=assistant, reason="", present=False, answered_on=answer.answered_on
        )
    assert "reason" in error.value.message_dict


def test_consent_corrections_check_the_signing_time(api_as, scene, assistant, researcher):
    consent = scene.consent
    api = api_as(assistant)
    url = f"/patients/{scene.patient.pk}/consents/{consent.pk}"
    future = api.patch(
        url,
        {
            "signed_by_name": "Erika Muster",
            "signed_at": (timezone.now() + dt.timedelta(days=1)).isoformat(),
            "reason": "r",
        },
    )
    assert future.status_code == 422
    before_template = api.patch(
        url,
        {
            "signed_by_name": "Erika Muster",
            "signed_at": (consent.template.created_at - dt.timedelta(days=1)).isoformat(),
            "reason": "r",
        },
    )
    assert before_template.status_code == 422
    signed_at = consent.template.created_at  # the earliest time the version allows
    response = api.patch(
        url, {"signed_by_name": "Erika Muster", "signed_at": signed_at.isoformat(), "reason": "Name misspelt"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["signed_by_name"] == "Erika Muster"
    (revision,) = api.get(f"{url}/revisions").json()["items"]
    assert revision["changes"]["signed_by_name"][1] == "Erika Muster"
    assert (
        api_as(researcher)
        .patch(url, {"signed_by_name": "X", "signed_at": consent.signed_at.isoformat(), "reason": "r"})
        .status_code
        == 403
    )
    with pytest.raises(ValidationError):
        correct_consent(
            record=consent, by=assistant, reason=" ", signed_at=consent.signed_at, signed_by_name="Y"
        )


def test_lot_corrections_keep_the_old_receipt(api_as, scene, assistant, researcher, other_clinic):
    lot = scene.lot
    thaw_vial(vial=factories.VialFactory(lot=lot), by=assistant, at=lot.received_at + dt.timedelta(hours=1))
    twin = factories.LotFactory(product=scene.product)
    api = api_as(assistant)
    body = {
        "number": twin.number.lower(),
        "expires_on": lot.expires_on.isoformat(),
        "received_at": lot.received_at.isoformat(),
        "reason": "misread label",
    }
    duplicate = api.patch(f"/lots/{lot.pk}", body)
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["field"] == "number"
    late = api.patch(
        f"/lots/{lot.pk}", {**body, "number": "L-NEW", "received_at": timezone.now().isoformat()}
    )
    assert late.status_code == 422  # a vial was thawed before that
    assert api.patch(f"/lots/{lot.pk}", {**body, "number": "L-NEW", "reason": ""}).status_code == 422
    response = api.patch(f"/lots/{lot.pk}", {**body, "number": "L-NEW"})
    assert response.status_code == 200, response.content
    assert response.json()["number"] == "L-NEW"
    (revision,) = api.get(f"/lots/{lot.pk}/revisions").json()["items"]
    assert revision["changes"]["number"][0] == revision["snapshot"]["number"] != "L-NEW"
    assert revision["corrected_by"] == assistant.pk
    assert api_as(researcher).patch(f"/lots/{lot.pk}", body).status_code == 403
    stranger = factories.UserFactory(clinic=other_clinic, role="assistant")
    assert api_as(stranger).patch(f"/lots/{lot.pk}", body).status_code == 404
    with pytest.raises(PermissionDenied):
        correct_lot(
            lot=lot,
            by=researcher,
            reason="r",
            number="N",
            expires_on=lot.expires_on,
            received_at=lot.received_at,
        )


# --- pages -------------------------------------------------------------------------------------


def correction_form(scene, *, applied_at, reason="Wrong volume typed", volume="1.5"):
    return {
        "performed_at": wall(scene.at, scene.clinic),
        "notes": "corrected on the page",
        "reason": reason,
        "procedures-TOTAL_FORMS": "1",
        "procedures-INITIAL_FORMS": "1",
        "procedures-0-kind": "microneedling",
        "procedures-0-areas": ["face"],
        "procedures-0-started_at": wall(scene.at, scene.clinic),
        "procedures-0-ended_at": wall(scene.at + 20 * MIN, scene.clinic),
        "procedures-0-needle_depth_mm": "1.0",
        "procedures-0-passes": "3",
        "applications-TOTAL_FORMS": "1",
        "applications-INITIAL_FORMS": "1",
        "applications-0-lot": scene.lot.pk,
        "applications-0-volume_ml": volume,
        "applications-0-areas": ["face"],
        "applications-0-applied_at": wall(applied_at, scene.clinic),
    }


def test_the_session_page_corrects_with_a_reason_and_shows_the_history(client, scene):
    session = scene.record()
    client.force_login(scene.clinician)
    detail = client.get(reverse("session", args=[session.pk]))
    assert reverse("session-correct", args=[session.pk]) in detail.content.decode()
    url = reverse("session-correct", args=[session.pk])
    form = client.get(url)
    assert form.status_code == 200
    page = form.content.decode()
    assert 'name="reason"' in page
    assert f'value="{wall(scene.at + 25 * MIN, scene.clinic)}"' in page  # prefilled with the chart
    assert 'name="applications-0-volume_ml" value="2.00"' in page

    no_reason = client.post(url, correction_form(scene, applied_at=scene.at + 25 * MIN, reason=""))
    assert no_reason.status_code == 422
    refused = client.post(url, correction_form(scene, applied_at=scene.at - 5 * MIN))
    assert refused.status_code == 422
    assert 'data-rule="application-window"' in refused.content.decode()
    assert session.applications.get().volume_ml == Decimal("2.00")
    assert not Revision.objects.exists()

    saved = client.post(url, correction_form(scene, applied_at=scene.at + 25 * MIN))
    assert saved.status_code == 302 and saved["Location"] == reverse("session", args=[session.pk])
    assert session.applications.get().volume_ml == Decimal("1.50")
    history = client.get(reverse("session", args=[session.pk])).content.decode()
    assert "Corrected by" in history and "Wrong volume typed" in history
    assert "Volume (ml): 2.00" in history  # the old version stays readable


def test_the_correction_page_is_for_clinicians_of_the_clinic(client, scene, assistant, other_clinic):
    session = scene.record()
    url = reverse("session-correct", args=[session.pk])
    client.force_login(assistant)
    assert client.get(url).status_code == 403
    client.force_login(factories.UserFactory(clinic=other_clinic, role="clinician"))
    assert client.get(url).status_code == 404


def test_the_patient_page_corrects_the_identity_with_a_reason(client, scene, assistant):
    client.force_login(assistant)
    url = reverse("patient-edit", args=[scene.patient.pk])
    identity = scene.patient.identity
    data = {
        "given_name": identity.given_name,
        "family_name": "Korrigiert",
        "date_of_birth": identity.date_of_birth.isoformat(),
        "email": identity.email,
        "phone": identity.phone,
        "address": identity.address,
        "language": identity.language,
    }
    assert client.post(url, data).status_code == 200  # the form again: no reason
    identity.refresh_from_db()
    assert identity.family_name != "Korrigiert"
    assert client.post(url, {**data, "reason": "spelling"}).status_code == 302
    page = client.get(url).content.decode()
    assert "Corrected by" in page and "spelling" in page


def test_the_lot_page_thaws_at_a_time_typed_after_the_fact(client, scene, assistant):
    client.force_login(assistant)
    discard_vial(vial=scene.vial, by=scene.clinician)  # no other vial is open: the next one is offered
    vial = factories.VialFactory(lot=scene.lot)
    url = reverse("vial-action", args=[scene.lot.pk, vial.pk, "thaw"])
    assert 'name="at"' in client.get(reverse("lot", args=[scene.lot.pk])).content.decode()
    future = wall(timezone.now() + dt.timedelta(hours=2), scene.clinic)
    client.post(url, {"at": future})
    vial.refresh_from_db()
    assert vial.state == VialState.STORED
    client.post(url, {"at": wall(scene.at + 5 * MIN, scene.clinic)})
    vial.refresh_from_db()
    assert (vial.state, vial.thawed_at) == (VialState.THAWED, scene.at + 5 * MIN)


def test_the_charting_panel_thaws_at_a_typed_time(client, scene):
    client.force_login(scene.clinician)
    discard_vial(vial=scene.vial, by=scene.clinician)  # no other vial is open: the next one is offered
    vial = factories.VialFactory(lot=scene.lot)
    panel = client.get(reverse("lot-status"), {"applications-0-lot": scene.lot.pk}).content.decode()
    assert 'hx-include="closest .thaw"' in panel and 'name="at"' in panel
    url = reverse("vial-action", args=[scene.lot.pk, vial.pk, "thaw"])
    answer = client.post(url, {"panel": "1", "at": "1999-01-01T10:00"})
    assert "This lies before" in answer.content.decode()
    client.post(url, {"panel": "1", "at": wall(scene.at + 5 * MIN, scene.clinic)})
    vial.refresh_from_db()
    assert vial.thawed_at == scene.at + 5 * MIN


@pytest.mark.parametrize("kind", ["screening", "consent", "lot"])
def test_correction_pages_need_a_reason_and_show_the_history(kind, client, scene, assistant, researcher):
    answer = ScreeningAnswer.objects.filter(patient=scene.patient, item="keloid").get()
    if kind == "screening":
        url = reverse("screening-correct", args=[scene.patient.pk, answer.pk])
        data = {"present": "yes", "answered_on": answer.answered_on.isoformat(), "note": "new scar"}
        link_page = reverse("patient", args=[scene.patient.pk])
    elif kind == "consent":
        url = reverse("consent-correct", args=[scene.patient.pk, scene.consent.pk])
        # The page takes minutes: the minute after the template's publication is the first it allows.
        signed_at = scene.consent.template.created_at + MIN
        data = {"signed_by_name": "Erika Korrekt", "signed_at": wall(signed_at, scene.clinic)}
        link_page = reverse("patient", args=[scene.patient.pk])
    else:
        url = reverse("lot-correct", args=[scene.lot.pk])
        data = {
            "number": "L-CORRECTED",
            "expires_on": scene.lot.expires_on.isoformat(),
            "received_at": wall(scene.lot.received_at, scene.clinic),
        }
        link_page = reverse("lot", args=[scene.lot.pk])
    client.force_login(researcher)
    assert client.get(url).status_code == 403
    client.force_login(assistant)
    assert url in client.get(link_page).content.decode()
    assert client.post(url, data).status_code == 422
    assert not Revision.objects.exists()
    saved = client.post(url, {**data, "reason": "typed wrong at the desk"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    revision = Revision.objects.get()
    assert revision.reason == "typed wrong at the desk"
    page = client.get(url).content.decode()
    assert "Corrected by" in page and "typed wrong at the desk" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_charting_after_the_fact_in_the_browser(browser_page, live_server, clinic):
    """A clinician charts a treatment afterwards: thaws the vial at the time it really happened
    from the charting form, saves the session, then corrects it with a reason."""
    page = browser_page
    scene = factories.SessionScene(clinic)
    stored = factories.VialFactory(lot=scene.lot, serial=50)
    scene.vial.state = VialState.DISCARDED  # the scene's thawed vial is out of the way
    scene.vial.save()
    url = live_server.url
    page.goto(url + "/login/")
    page.fill("#id_username", scene.clinician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")

    page.goto(url + reverse("session-new") + f"?patient={scene.patient.pk}")
    page.select_option("#id_applications-0-lot", str(scene.lot.pk))
    thaw_at = page.locator(".lot-status .thaw input[name=at]")
    thaw_at.wait_for()
    thaw_at.fill(wall(scene.at + 5 * MIN, clinic))
    page.locator(".lot-status .thaw button[hx-post]").click()
    page.locator(".lot-status .countdown").first.wait_for()
    stored.refresh_from_db()
    assert (stored.state, stored.thawed_at) == (VialState.THAWED, scene.at + 5 * MIN)

    page.fill("#id_performed_at", wall(scene.at, clinic))
    page.select_option("#id_procedures-0-kind", "microneedling")
    page.check("input[name=procedures-0-areas][value=face]")
    page.fill("#id_procedures-0-started_at", wall(scene.at, clinic))
    page.fill("#id_procedures-0-ended_at", wall(scene.at + 20 * MIN, clinic))
    page.fill("#id_procedures-0-needle_depth_mm", "1.0")
    page.fill("#id_procedures-0-passes", "3")
    page.fill("#id_applications-0-volume_ml", "2.0")
    page.check("input[name=applications-0-areas][value=face]")
    page.fill("#id_applications-0-applied_at", wall(scene.at + 25 * MIN, clinic))
    page.locator(".charting .actions button[type=submit]").click()
    page.wait_for_url(f"{url}/sessions/*/")
    session = scene.patient.sessions.get()
    assert session.applications.get().vial_id == stored.pk

    page.click(f"a[href='{reverse('session-correct', args=[session.pk])}']")
    page.fill("#id_applications-0-volume_ml", "1.5")
    page.fill("#id_reason", "1.5 ml were applied, not 2")
    page.locator(".charting .actions button[type=submit]").click()
    page.wait_for_url(url + reverse("session", args=[session.pk]))
    assert "1.5 ml were applied, not 2" in page.locator(".revisions").inner_text()
    assert session.applications.get().volume_ml == Decimal("1.50")
    page.check_clean()
