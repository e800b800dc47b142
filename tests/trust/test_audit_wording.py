"""The audit trail as a clinic manager reads it (German): the address and query a read recorded as
typed, records named by their fields in the reader's language (not their English ``__str__``),
no worker bookkeeping, an analysis as a summary, a correction as one "changed" event with its
reason and worded changes; and the sign-in page's lock time in a named zone, the clinic's."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exoderm.audit import chain
from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.clinics.models import SignInLock
from exoderm.messaging.models import OutboxMessage
from exoderm.patients.services import correct_patient
from exoderm.photos.models import Analysis
from exoderm.photos.services import upload_photo
from exoderm.treatments.services import ApplicationInput, ProcedureInput, correct_session
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_with_mfa
from tests.trust.test_corrections import correction_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(clinic):
    return factories.UserFactory(clinic=clinic, role="clinic_admin", language="de")


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def trail(client, admin, patient, **query) -> str:
    login_with_mfa(client, admin)
    page = client.get(reverse("audit-patient", args=[patient.pk]), query).content.decode()
    return html.unescape(page[page.index("<tbody>") : page.index("</tbody>")])


def rows(table: str) -> list[str]:
    return table.split("<tr")[1:]


def photo_of(patient, by):
    template = factories.ConsentTemplateFactory(clinic=patient.clinic, kind="photography", version=1)
    factories.ConsentRecordFactory(patient=patient, template=template)
    photo, _created = upload_photo(
        patient=patient, chunks=[phantom_png(0)], view="close_up", area="cheek_left",
        timepoint="baseline", mm_per_px=MM_PER_PX, by=by,
    )  # fmt: skip
    return photo


def test_a_read_shows_the_address_read_and_its_query_as_typed(client, scene, admin, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    photo = photo_of(scene.patient, scene.clinician)
    client.force_login(scene.clinician)
    assert (
        client.get(f"/photos/{photo.pk}/thumb.jpg", {"before": "1", "area": "cheek_left"}).status_code == 200
    )
    client.logout()
    table = trail(client, admin, scene.patient, action="read")
    # (PostgreSQL's jsonb keeps the query's keys in an order of its own)
    address = f"/photos/{photo.pk}/thumb.jpg?"
    assert f"{address}before=1&area=cheek_left" in table or f"{address}area=cheek_left&before=1" in table
    assert "<id:photo_id>" not in table and "{'" not in table
    # the photo by its patient and its view's label, not "close_up"
    assert f"Foto: {scene.patient.code} Nahaufnahme eines Areals" in table
    assert "close_up" not in table


def test_a_message_is_named_in_the_readers_language_without_the_workers_bookkeeping(client, scene, admin):
    OutboxMessage.objects.create(
        clinic=scene.clinic, patient=scene.patient, kind="visit_reminder", channel="email",
        language="de", key="reminder-1", status="sent", not_before=timezone.now(),
        claim_token="0f8e6c1a", claimed_by="host:1", lease_until=timezone.now(),
    )  # fmt: skip
    table = trail(client, admin, scene.patient, action="create")
    assert f"Erinnerung vor einem Termin per E-Mail an {scene.patient.code} (Gesendet)" in table
    assert "visit_reminder" not in table and "to patient" not in table
    for internal in ("Claim token", "Claimed by", "Lease until", "0f8e6c1a", "Key</strong>"):
        assert internal not in table


def test_an_analysis_reads_as_a_summary_and_unnamed_fields_by_their_words(
    client, scene, admin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    photo = photo_of(scene.patient, scene.clinician)
    data = {"engine_version": "1.5.0", "regions": {f"r{n}": {"metrics": {"a": n}} for n in range(11)}}
    Analysis.objects.create(
        photo=photo, engine_version="1.5.0", roi="face", usable=True, data=data, seconds=1.0
    )
    table = trail(client, admin, scene.patient, action="create")
    assert "11 Regionen, Engine 1.5.0" in table
    assert '"metrics"' not in table
    assert "Hochgeladen von</strong>" in table and "Analysis status" not in table
    for internal in ("Analysis task id", "Analysis worker", "Sha256", "File name"):
        assert f"{internal}</strong>" not in table


def test_a_patient_correction_names_the_identitys_fields(client, scene, admin):
    correct_patient(patient=scene.patient, changes={"phone": "+49 89 99887766"}, reason="Typo", by=admin)
    table = trail(client, admin, scene.patient, action="update")
    correction = next(row for row in rows(table) if "Grund</strong>: Typo" in row)
    assert "Telefon</strong>: geändert" in correction  # an erasable value: changed, never shown
    assert "+49 89 99887766" not in table and "phone</strong>" not in table
    client.force_login(admin)
    history = client.get(reverse("patient", args=[scene.patient.pk])).content.decode()
    assert "phone:" not in history and "<strong>phone" not in history


def correct_volume(scene, session, volume):
    return correct_session(
        session=session, by=scene.clinician, reason="Volume misread", performed_at=scene.at,
        procedures=[ProcedureInput(**scene.procedure())],
        applications=[ApplicationInput(**scene.application(volume_ml=volume))],
    )  # fmt: skip


def test_a_session_correction_is_one_changed_event_with_reason_and_the_changed_value(client, scene, admin):
    session = scene.record()
    client.force_login(scene.clinician)
    form = correction_form(scene, applied_at=scene.at + dt.timedelta(minutes=25), reason="Volume misread")
    assert client.post(reverse("session-correct", args=[session.pk]), form).status_code == 302
    client.logout()
    events = AuditEvent.objects.filter(object_type="treatments.treatmentsession", action=AuditAction.UPDATE)
    assert [event.changes[AuditEvent.CORRECTION_REASON] for event in events if event.is_correction] == [
        {"new": "Volume misread"}
    ]
    table = trail(client, admin, scene.patient, action="update")  # filtered by "geändert"
    correction = next(row for row in rows(table) if "Grund</strong>: Volume misread" in row)
    assert "<td>korrigiert</td>" in correction or "corrected</td>" in correction
    assert re.search(r"Volumen \(ml\)</strong>: 2,00 → 1,50", correction)
    # the rows the correction replaced stay in the trail, shown as part of it
    everything = trail(client, admin, scene.patient)
    replaced = [
        row for row in rows(everything) if "part of a correction" in row or "Teil einer Korrektur" in row
    ]
    assert replaced and all('class="muted"' in row for row in replaced)
    assert chain.verify().first_break is None


def test_the_trail_page_costs_no_more_queries_with_more_events(client, scene, admin):
    session = scene.record()

    def more_events(volume: str, key: str) -> None:
        correct_volume(scene, session, Decimal(volume))
        OutboxMessage.objects.create(
            clinic=scene.clinic, patient=scene.patient, kind="visit_reminder", channel="email",
            language="de", key=key, not_before=timezone.now(),
        )  # fmt: skip

    more_events("1.5", "reminder-1")
    login_with_mfa(client, admin)
    url = reverse("audit-patient", args=[scene.patient.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    more_events("1.25", "reminder-2")
    more_events("1.75", "reminder-3")
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) <= len(few), "\n".join(q["sql"][:150] for q in many.captured_queries)


def test_the_sign_in_page_states_the_lock_in_the_clinics_named_zone(client, clinician, settings):
    settings.TIME_ZONE = "UTC"
    settings.LOGIN_FAILURE_LIMIT = 3
    for _attempt in range(3):
        client.post("/login/", {"username": clinician.username, "password": "wrong"})
    text = client.post("/login/", {"username": clinician.username, "password": "wrong"}).content.decode()
    zone = zoneinfo.ZoneInfo(clinician.clinic.time_zone)
    until = SignInLock.objects.get().until.astimezone(zone)
    assert f"{until:%H:%M} ({zone.key})" in text and " UTC " not in text
    # an unknown name is told the same zone: the answer does not tell which names exist
    for _attempt in range(4):
        unknown = client.post("/login/", {"username": "nobody-here", "password": "wrong"}).content.decode()
    assert f"({zone.key})" in unknown


def test_the_sign_in_page_names_the_servers_zone_when_the_clinics_differ(client, clinician, settings):
    settings.TIME_ZONE = "Europe/Vienna"
    settings.LOGIN_FAILURE_LIMIT = 3
    factories.ClinicFactory(name="Lisbon", time_zone="Europe/Lisbon")
    for _attempt in range(4):
        text = client.post("/login/", {"username": clinician.username, "password": "wrong"}).content.decode()
    until = SignInLock.objects.get().until.astimezone(zoneinfo.ZoneInfo("Europe/Vienna"))
    assert f"{until:%H:%M} (Europe/Vienna)" in text


def test_the_restricted_record_words_screening_items_and_consents(client, api_as, scene, admin):
    received = timezone.localdate().isoformat()
    api = api_as(admin)
    erased = api.post(
        f"/patients/{scene.patient.pk}/erasure", {"received_on": received, "erase_photos": False}
    )
    assert erased.status_code == 201, erased.json()
    assert api.post(f"/patients/{scene.patient.pk}/unlock", {"reason": "insurer asks"}).status_code == 201
    login_with_mfa(client, admin)
    page = html.unescape(client.get(reverse("patient", args=[scene.patient.pk])).content.decode())
    assert 'id="restricted-notice"' in page
    assert "Aktive Hautinfektion oder Herpes: nein" in page and "active_infection" not in page
    assert "Behandlung, Version 1" in page and "treatment v1" not in page
