"""The correction history and the audit trail name the records a change links to as a person
knows them (a user by name, a lot by product and number), looked up once per page and only within
the reader's clinic; the version before a correction reads as worded fields, not JSON; and a
correction that changes nothing is refused and writes nothing."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from exoderm.clinics.models import User
from exoderm.consent.services import correct_consent
from exoderm.core.display import LinkedNames, event_values
from exoderm.patients.models import ScreeningAnswer
from exoderm.patients.services import correct_patient, correct_screening_answer
from exoderm.products.models import VialState
from exoderm.products.services import correct_lot
from exoderm.records.models import Revision
from exoderm.treatments.models import ExosomeApplication, ProtocolWarning, TreatmentSession
from exoderm.treatments.services import ApplicationInput, ProcedureInput, correct_session
from tests import factories
from tests.signin import login_with_mfa
from tests.trust.test_corrections import correction_form
from tests.web.conftest import wall

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def scene(clinic):
    scene = factories.SessionScene(clinic)
    scene.clinician.first_name, scene.clinician.last_name = "Dana", "Weber"
    scene.clinician.save(update_fields=["first_name", "last_name"])
    return scene


def correct(scene, session, *, applications=None, reason="Wrong lot typed", **kw):
    return correct_session(
        session=session,
        by=scene.clinician,
        reason=reason,
        performed_at=scene.at,
        procedures=[ProcedureInput(**scene.procedure())],
        applications=[ApplicationInput(**a) for a in applications or [scene.application()]],
        **kw,
    )


def move_to_new_lot(scene, session):
    """Correct ``session``'s application onto a new lot of the scene's product; the new lot."""
    lot = factories.LotFactory(product=scene.product)
    vial = factories.ThawedVialFactory(lot=lot, thawed_at=scene.at + 10 * MIN)
    correct(scene, session, applications=[scene.application(lot=lot.pk, vial=vial.pk)])
    return lot


def history_of_page(page: str) -> str:
    return page[
        page.index('id="revisions-heading"') : page.index("</section>", page.index("revisions-heading"))
    ]


# --- linked records by name ----------------------------------------------------------------------


def test_the_history_names_users_and_lots_and_shows_the_old_version_as_fields(client, scene):
    session = scene.record()
    new_lot = move_to_new_lot(scene, session)
    client.force_login(scene.clinician)
    history = history_of_page(client.get(reverse("session", args=[session.pk])).content.decode())
    product = scene.product.name
    assert (
        f"Exosome application 1, Lot</strong>: {product} {scene.lot.number} → {product} {new_lot.number}"
        in history
    )
    # the version before, as worded fields: the clinician by name, not as JSON or an id
    version = history[history.index("<details>") :]
    assert "<dt>Clinician</dt><dd>Dana Weber</dd>" in version
    assert f"Lot: {product} {scene.lot.number}" in version
    assert "Volume (ml): 2.00" in version
    assert "{" not in version and "&quot;" not in version and not ISO.search(version)


def test_the_old_version_is_worded_in_the_readers_language(client, scene):
    session = scene.record()
    move_to_new_lot(scene, session)
    scene.clinician.language = "de"
    scene.clinician.save(update_fields=["language"])
    client.force_login(scene.clinician)
    history = history_of_page(client.get(reverse("session", args=[session.pk])).content.decode())
    version = history[history.index("<details>") :]
    assert "<dt>Durchgeführt am</dt>" in version and "Dana Weber" in version
    assert "Gesicht" in version and "2,00" in version


def test_the_history_page_looks_linked_records_up_once_per_model(client, scene):
    session = scene.record()
    move_to_new_lot(scene, session)
    client.force_login(scene.clinician)
    url = reverse("session", args=[session.pk])
    client.get(url)  # warm the content type cache
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(5):
        move_to_new_lot(scene, session)  # each correction links two more lots and vials
    with CaptureQueriesContext(connection) as six:
        page = client.get(url).content.decode()
    assert page.count('<li class="revision">') == 6
    assert len(six) == len(one), [q["sql"] for q in six.captured_queries]


def test_another_clinics_record_is_never_named_and_a_deleted_one_says_so(client, scene, other_clinic):
    session = scene.record()
    move_to_new_lot(scene, session)
    stranger = factories.UserFactory(clinic=other_clinic, first_name="Secret", last_name="Stranger")
    foreign_lot = factories.LotFactory(product=factories.ProductFactory(clinic=other_clinic, name="Foreign"))
    revision = Revision.objects.get()
    snapshot = dict(revision.snapshot)
    snapshot["clinician"] = stranger.pk
    snapshot["applications"] = [
        {**snapshot["applications"][0], "lot": foreign_lot.pk, "lot_number": "L-STORED"},
        {**snapshot["applications"][0], "lot": 987654, "lot_number": "L-GONE"},
    ]
    Revision.objects.filter(pk=revision.pk).update(snapshot=snapshot)
    client.force_login(scene.clinician)
    history = history_of_page(client.get(reverse("session", args=[session.pk])).content.decode())
    assert "Secret" not in history and "Stranger" not in history and "Foreign" not in history
    assert f"<dd>#{stranger.pk} (deleted)</dd>" in history
    assert "Lot: L-STORED (deleted)" in history and "Lot: L-GONE (deleted)" in history


def test_linked_names_are_looked_up_within_the_readers_clinic(scene, clinic, other_clinic):
    stranger = factories.UserFactory(clinic=other_clinic, first_name="Secret", last_name="Stranger")
    changes = {"clinician_id": {"old": stranger.pk, "new": scene.clinician.pk}}
    names = LinkedNames.look_up(clinic=clinic, values=event_values(TreatmentSession, changes))
    assert names.text(User, scene.clinician.pk) == "Dana Weber"
    assert names.text(User, stranger.pk) == f"#{stranger.pk} (deleted)"
    # the same records read from the other clinic: its own user named, ours not
    theirs = LinkedNames.look_up(clinic=other_clinic, values=event_values(TreatmentSession, changes))
    assert theirs.text(User, stranger.pk) == "Secret Stranger"
    assert theirs.text(User, scene.clinician.pk) == f"#{scene.clinician.pk} (deleted)"


def test_the_audit_trail_names_linked_records(client, scene, clinic_admin):
    scene.record()
    login_with_mfa(client, clinic_admin)
    page = client.get(
        reverse("audit-patient", args=[scene.patient.pk]), {"action": "create"}
    ).content.decode()
    table = page[page.index("<tbody>") : page.index("</tbody>")]
    assert "Clinician</strong>: Dana Weber" in table
    assert f"Lot</strong>: {scene.product.name} {scene.lot.number}" in table
    assert f"Patient</strong>: {scene.patient.code}" in table
    assert f"Clinician</strong>: {scene.clinician.pk}<" not in table


# --- corrections that change nothing -------------------------------------------------------------


def test_a_session_correction_that_changes_nothing_is_refused_and_writes_nothing(scene):
    session = scene.record()
    application = ExosomeApplication.objects.get(session=session)
    with pytest.raises(ValidationError, match="Nothing was changed"):
        correct(scene, session)
    assert not Revision.objects.exists()
    # the chart stays as recorded, its vial used by it
    assert ExosomeApplication.objects.get(session=session).pk == application.pk
    scene.vial.refresh_from_db()
    assert scene.vial.state == VialState.USED


def test_acknowledging_the_warnings_again_is_no_correction(scene):
    too_much = scene.application(volume_ml=Decimal("3.5"))
    session = scene.record(applications=[too_much], acknowledged_warnings=["dose-out-of-range"])
    warning = ProtocolWarning.objects.get(session=session)
    second = factories.UserFactory(clinic=scene.clinic, role="clinician")
    with pytest.raises(ValidationError, match="Acknowledging its warnings again"):
        correct_session(
            session=session,
            by=second,
            reason="checked",
            performed_at=scene.at,
            procedures=[ProcedureInput(**scene.procedure())],
            applications=[ApplicationInput(**too_much)],
            acknowledged_warnings=["dose-out-of-range"],
        )
    assert not Revision.objects.exists()
    assert ProtocolWarning.objects.get(session=session) == warning
    assert warning.acknowledged_by == scene.clinician


def test_the_api_refuses_a_correction_that_changes_nothing(api_as, scene):
    session = scene.record()
    body = scene.payload()
    del body["patient"]
    response = api_as(scene.clinician).patch(f"/sessions/{session.pk}", {**body, "reason": "again"})
    assert response.status_code == 422
    assert "Nothing was changed" in response.json()["detail"]
    assert not Revision.objects.exists()


def test_every_correction_that_changes_nothing_is_refused(scene, assistant):
    patient, lot, consent = scene.patient, scene.lot, scene.consent
    # a signing time the consent's version allows (the factory's lies before its publication)
    consent.signed_at = consent.template.created_at + MIN
    consent.save(update_fields=["signed_at"])
    answer = ScreeningAnswer.objects.filter(patient=patient, item="keloid").get()
    attempts = [
        lambda: correct_patient(
            patient=patient, changes={"family_name": patient.identity.family_name}, reason="r", by=assistant
        ),
        lambda: correct_lot(
            lot=lot,
            by=assistant,
            reason="r",
            number=lot.number,
            expires_on=lot.expires_on,
            received_at=lot.received_at,
        ),
        lambda: correct_consent(
            record=consent,
            by=assistant,
            reason="r",
            signed_at=consent.signed_at,
            signed_by_name=consent.signed_by_name,
        ),
        lambda: correct_screening_answer(
            answer=answer,
            by=assistant,
            reason="r",
            present=answer.present,
            areas=answer.areas,
            last_dose_on=answer.last_dose_on,
            note=answer.note,
            answered_on=answer.answered_on,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError, match="Nothing was changed"):
            attempt()
    assert not Revision.objects.exists()


def test_the_correction_page_shows_why_nothing_was_saved(client, scene, assistant):
    lot = scene.lot
    lot.received_at = lot.received_at.replace(second=0, microsecond=0)  # the page takes minutes
    lot.save(update_fields=["received_at"])
    client.force_login(assistant)

    response = client.post(
        reverse("lot-correct", args=[lot.pk]),
        {
            "number": lot.number,
            "expires_on": lot.expires_on.isoformat(),
            "received_at": wall(lot.received_at, scene.clinic),
            "reason": "checked the label",
        },
    )
    assert response.status_code == 422
    assert "Nothing was changed" in response.content.decode()
    assert not Revision.objects.exists()


def test_the_session_correction_page_shows_why_nothing_was_saved(client, scene):
    session = scene.record()
    client.force_login(scene.clinician)
    form = correction_form(scene, applied_at=scene.at + 25 * MIN, volume="2.0")
    form["notes"] = ""
    response = client.post(reverse("session-correct", args=[session.pk]), form)
    assert response.status_code == 422
    assert "Nothing was changed" in response.content.decode()
    assert not Revision.objects.exists()


def test_an_acknowledged_warning_in_the_history_reads_as_its_message(client, scene):
    """A QA walk saw "Regel: dose-out-of-range … volume_ml: 0.67 … Bestätigt von: 2" on a
    corrected session: the warning's code and parameters, not what the clinician acknowledged."""
    too_much = scene.application(volume_ml=Decimal("3.5"))
    session = scene.record(applications=[too_much], acknowledged_warnings=["dose-out-of-range"])
    with translation.override("de"):
        message = ProtocolWarning.objects.get(session=session).message  # worded when read
    correct(scene, session, applications=[scene.application(volume_ml=Decimal("2.0"))])
    scene.clinician.language = "de"
    scene.clinician.save(update_fields=["language"])
    client.force_login(scene.clinician)
    history = history_of_page(client.get(reverse("session", args=[session.pk])).content.decode())
    assert "dose-out-of-range" not in history and "volume_ml" not in history and "min_ml" not in history
    assert html.escape(message) in history
    assert "Bestätigt von</strong>" not in history or "Dana Weber" in history


def test_the_audit_trail_names_what_each_event_is_about(client, scene, clinic_admin):
    scene.record()
    login_with_mfa(client, clinic_admin)
    page = client.get(
        reverse("audit-patient", args=[scene.patient.pk]), {"action": "create"}
    ).content.decode()
    table = page[page.index("<tbody>") : page.index("</tbody>")]
    code = scene.patient.code
    assert re.search(rf"<td>treatment session: {code} \d\d \w+ \d{{4}}, \d\d:\d\d</td>", table)
    assert f"<td>patient: {code}</td>" in table
    assert "<td>screening answer: Pregnancy or breastfeeding: no (" in table
    # a record whose model has no name of its own by its number, not "Procedure object (1)"
    assert "object (" not in table and re.search(r"<td>procedure: #\d+</td>", table)


def test_a_time_the_page_cannot_show_to_the_second_is_not_corrected_by_leaving_it_alone(
    client, scene, assistant
):
    """A QA walk changed only a lot's expiry date: its receipt time, stored with seconds, came back
    cut to the minute and the history read "Received at: 09:43 → 09:43"."""
    lot = scene.lot
    lot.received_at = lot.received_at.replace(second=18, microsecond=931000)
    lot.save(update_fields=["received_at"])
    stored = lot.received_at
    client.force_login(assistant)
    page = client.get(reverse("lot-correct", args=[lot.pk])).content.decode()
    shown = wall(stored, scene.clinic)  # what the date-time input holds: minutes
    assert f'value="{shown}"' in page
    response = client.post(
        reverse("lot-correct", args=[lot.pk]),
        {
            "number": lot.number,
            "expires_on": (lot.expires_on - dt.timedelta(days=1)).isoformat(),
            "received_at": shown,
            "reason": "expiry misread",
        },
    )
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.received_at == stored
    (revision,) = Revision.objects.all()
    assert set(revision.changes) == {"expires_on"}
