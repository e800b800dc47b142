"""What a comparison found, in words: the summary at the top of the comparison page in the reader's
language, the same sentences in the patient's PDF (which compares every view and names the
clinic), and no "-0" wherever a number is shown."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone, translation
from pypdf import PdfReader

from exoderm.photos.models import Photo
from exoderm.photos.report import patient_report
from exoderm.photos.selectors import number_text
from exoderm.photos.services import upload_photo
from exoderm.photos.wording import word_problem
from exoderm.web.templatetags.photos import measured
from tests.photos._images import MM_PER_PX, phantom_png


@pytest.fixture
def two_areas(patient, photo_consent, clinician, django_capture_on_commit_callbacks):
    """Close-ups of two areas, each a baseline with 30 spots and a follow-up with 4, analysed."""
    now = timezone.now()
    for area in ("cheek_left", "forehead"):
        for spots, days_ago, timepoint in ((30, 90, "baseline"), (4, 1, "follow_up")):
            with django_capture_on_commit_callbacks(execute=True):
                upload_photo(
                    patient=patient, chunks=[phantom_png(1 if area == "forehead" else 2, spots=spots)],
                    view="close_up", area=area, timepoint=timepoint, mm_per_px=MM_PER_PX,
                    taken_at=now - dt.timedelta(days=days_ago, minutes=len(area)), by=clinician,
                )  # fmt: skip
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    areas = ("cheek_left", "forehead")
    return {area: tuple(Photo.objects.filter(area=area).order_by("taken_at")) for area in areas}


def _pdf_text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, " ".join((page.extract_text() or "") for page in reader.pages).replace("\n", " ")


def _summary(html: str) -> list[str]:
    section = html.split('id="h-summary"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", section)


@pytest.mark.django_db(transaction=True)
def test_the_comparison_opens_with_its_changes_in_words_in_the_readers_language(
    client, clinician, two_areas, repeatability
):
    before, after = two_areas["cheek_left"]
    client.force_login(clinician)
    url = f"/photos/compare/{before.pk}/{after.pk}"
    english = client.get(url).content.decode()
    lines = _summary(english)
    assert lines[0].startswith("pigmented spots (count): lower by")
    assert english.index('id="h-summary"') < english.index("compare-pair")  # at the top
    german = _summary(client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode())
    assert german[0].startswith("Pigmentflecken (Anzahl): niedriger um")
    assert any(line.startswith("Keine messbare Veränderung: ") for line in german)


@pytest.mark.django_db(transaction=True)
def test_the_pdf_compares_every_view_with_the_pages_words_under_the_clinics_name(
    client, patient, clinician, two_areas, repeatability
):
    patient.identity.language = "en"
    patient.identity.save()
    reader, text = _pdf_text(patient_report(patient=patient, by=clinician))
    assert text.startswith(patient.clinic.name)
    assert "Close-up of an area: Cheek, left" in text and "Close-up of an area: Forehead" in text
    assert sum(len(page.images) for page in reader.pages) == 4
    client.force_login(clinician)
    for before, after in two_areas.values():
        page = client.get(f"/photos/compare/{before.pk}/{after.pk}").content.decode()
        first = _summary(page)[0].replace("&#x27;", "'")
        assert first in text  # the same sentence on the page and on paper


def test_no_minus_zero_anywhere_a_number_is_shown():
    from exoderm.skinlab.quality import Quality, usability_problems

    assert number_text(-0.001) == "0" and number_text(-0.004) == "0" and number_text(-0.006) == "-0.01"
    assert measured(-0.0, "L_median") == "0" and measured(-0.0, "spot_count") == "0"
    with translation.override("de"):
        assert number_text(-0.0) == "0"
    (turned,) = usability_problems(Quality(0.5, 0.0, {"yaw": -25.6, "pitch": -0.3}, False, []), mm_per_px=0.2)
    worded = word_problem(turned)
    assert "−26°" in worded and "−0" not in worded and "-0" not in worded
