"""The patient's export (GDPR Art. 15/20) holds the messages sent to the patient, and its PDF words
every stored code as the pages do, in the patient's language (else the reader's)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone
from pypdf import PdfReader

from exoderm.courses.services import enroll
from exoderm.messaging.services import queue_for_patient
from exoderm.photos.services import upload_photo
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png

RAW_CODES = (
    "active_infection",
    "microneedling",
    "fractional_laser",
    "non_ablative",
    "cheek_left",
    "close_up",
    "follow_up",
    "visit_reminder",
    "planned",
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def treated(clinic, django_capture_on_commit_callbacks):
    """A patient screened (every item "no"), treated with microneedling and a
    fractional laser, photographed, enrolled in a course and reminded of a visit by e-mail and SMS."""
    scene = factories.SessionScene(clinic)
    patient = scene.patient
    scene.record(procedures=[scene.procedure(), scene.laser()])
    photography = factories.ConsentTemplateFactory(clinic=clinic, kind="photography")
    factories.ConsentRecordFactory(patient=patient, template=photography)
    with django_capture_on_commit_callbacks(execute=False):
        upload_photo(
            patient=patient, chunks=[phantom_png(1, spots=10)], view="close_up", area="cheek_left",
            timepoint="follow_up", mm_per_px=MM_PER_PX, by=scene.clinician,
            taken_at=timezone.now() - dt.timedelta(days=1),
        )  # fmt: skip
    course = enroll(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=clinic),
        clinician=scene.clinician,
        starts_at=timezone.now() + dt.timedelta(days=7),
        by=scene.clinician,
    )
    visit = course.visits.order_by("planned_at").first()
    queue_for_patient(
        patient=patient, kind="visit_reminder", about=f"visit:{visit.pk}", at=visit.planned_at, visit=visit
    )
    return scene


def _archive(api_as, user, patient) -> zipfile.ZipFile:
    response = api_as(user).get(f"/patients/{patient.pk}/export")
    assert response.status_code == 200, response.content[:500]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _pdf_text(archive: zipfile.ZipFile) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("patient.pdf"))).pages)


def test_the_export_holds_the_messages_sent_to_the_patient(treated, api_as):
    patient = treated.patient
    data = json.loads(_archive(api_as, treated.clinician, patient).read("patient.json"))
    messages = {message["channel"]: message for message in data["messages"]}
    assert set(messages) == {"email", "sms"}
    identity = patient.identity
    assert messages["email"]["recipient"] == identity.email
    assert messages["sms"]["recipient"] == identity.phone
    assert all(m["kind"] == "visit_reminder" and m["status"] == "queued" for m in messages.values())
    assert messages["sms"]["text"] and "sent_at" in messages["sms"]


def test_the_pdf_words_every_code_in_the_patients_language(treated, api_as):
    identity = treated.patient.identity
    identity.language = "de"
    identity.save()
    text = _pdf_text(_archive(api_as, treated.clinician, treated.patient))
    for code in RAW_CODES:
        assert code not in text, code
    for words in (
        "Aktive Hautinfektion",
        "Fraktionierter Laser",
        "Nahaufnahme",
        "Wange, links",
        "Geplant",
        "Erinnerung",
        identity.phone,
    ):
        assert words in text, words


def test_the_pdf_is_in_the_readers_language_when_the_patient_has_none(treated, api_as):
    identity = treated.patient.identity
    identity.language = ""
    identity.save()
    treated.clinician.language = "en"
    treated.clinician.save()
    text = _pdf_text(_archive(api_as, treated.clinician, treated.patient))
    for code in RAW_CODES:
        assert code not in text, code
    for words in (
        "Active skin infection or herpes",
        "Fractional laser",
        "Close-up of an area",
        "Reminder before a visit",
    ):
        assert words in text, words
    assert "Who read, changed or exported your record" in text
