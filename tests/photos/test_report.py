"""The patient's one-page PDF: the patient's language, the photos, changes only beyond the noise."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone, translation
from pypdf import PdfReader

from exoderm.photos.report import patient_report
from exoderm.photos.services import upload_photo
from tests.photos._images import MM_PER_PX, phantom_png


def _text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, " ".join((page.extract_text() or "") for page in reader.pages).replace("\n", " ")


@pytest.fixture
def course_photos(patient, photo_consent, clinician, django_capture_on_commit_callbacks):
    now = timezone.now()
    for spots, days_ago, timepoint in ((30, 90, "baseline"), (4, 1, "follow_up")):
        taken_at = now - dt.timedelta(days=days_ago)
        with django_capture_on_commit_callbacks(execute=True):
            upload_photo(
                patient=patient, chunks=[phantom_png(1, spots=spots)], view="close_up", area="cheek_left",
                timepoint=timepoint, mm_per_px=MM_PER_PX, taken_at=taken_at, by=clinician,
            )  # fmt: skip
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "words"),
    [("de", ["Ihre Hautmessungen", "Messungenauigkeit", "keine Diagnose"]),
     ("en", ["Your skin measurements", "measurement noise", "not a diagnosis"])],
)  # fmt: skip
def test_report_in_the_patients_language_with_both_photos(
    course_photos, repeatability, patient, clinician, language, words
):
    patient.identity.language = language
    patient.identity.save()
    reader, text = _text(patient_report(patient=patient, by=clinician))
    assert len(reader.pages) == 1
    for word in words:
        assert word in text
    assert len(reader.pages[0].images) == 2
    spots = (
        "Pigmentflecken (Anzahl): niedriger um" if language == "de" else "pigmented spots (count): lower by"
    )
    assert spots in text
    for overclaim in ("improve", "verbesser", "younger", "jünger", "glow"):
        assert overclaim not in text.lower()


@pytest.mark.django_db(transaction=True)
def test_an_english_report_printed_from_german_pages_stays_english(
    course_photos, repeatability, patient, clinician
):
    """The clinician's pages are in German, the patient reads English: labels and numbers
    follow the patient (they came out German: "Pigmentflecken (Anzahl): lower by")."""
    patient.identity.language = "en"
    patient.identity.save()
    with translation.override("de"):
        _, text = _text(patient_report(patient=patient, by=clinician))
    assert "pigmented spots (count): lower by" in text
    assert "Pigmentflecken" not in text and "Helligkeit" not in text


@pytest.mark.django_db(transaction=True)
def test_photos_that_cannot_be_compared_are_explained_in_the_patients_language(
    patient, clinician, photo_consent, django_capture_on_commit_callbacks
):
    now = timezone.now()
    for seed, scale, timepoint in ((1, MM_PER_PX, "baseline"), (2, MM_PER_PX * 1.2, "follow_up")):
        with django_capture_on_commit_callbacks(execute=True):
            upload_photo(
                patient=patient, chunks=[phantom_png(seed)], view="close_up", area="cheek_left",
                timepoint=timepoint, mm_per_px=scale, taken_at=now - dt.timedelta(days=9 - seed),
                by=clinician,
            )  # fmt: skip
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    patient.identity.language = "de"
    patient.identity.save()
    _reader, text = _text(patient_report(patient=patient, by=clinician))
    assert "nicht zuverlässig vergleichen" in text
    assert "Maßstab weicht um 20 % vom Ausgangsbefund ab (Grenze 10 %)" in text
    assert "scale differs" not in text


@pytest.mark.django_db(transaction=True)
def test_report_without_two_analysed_photos_claims_nothing(patient, clinician, photo_consent):
    patient.identity.language = "en"
    patient.identity.save()
    reader, text = _text(patient_report(patient=patient, by=clinician))
    assert "Two analysed photos of the same view are needed" in text
    assert "lower by" not in text and "higher by" not in text
    assert len(reader.pages[0].images) == 0


@pytest.mark.django_db(transaction=True)
def test_report_endpoints_need_the_clinic(
    api_as, client, course_photos, patient, clinician, researcher, other_clinic
):
    from tests import factories

    response = api_as(clinician).get(f"/photos/report?patient={patient.pk}")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert api_as(researcher).get(f"/photos/report?patient={patient.pk}").status_code == 403
    stranger = factories.UserFactory(clinic=other_clinic)
    assert api_as(stranger).get(f"/photos/report?patient={patient.pk}").status_code == 404
    client.force_login(clinician)
    page = client.get(f"/photos/report/{patient.pk}.pdf")
    assert page.status_code == 200 and page.content.startswith(b"%PDF")
    client.force_login(stranger)
    assert client.get(f"/photos/report/{patient.pk}.pdf").status_code == 404
