"""The report PDF and the CONSORT flow name what they count in the reader's language: the
endpoints, visits, roles and comparisons as the results page names them, why patients were not
enrolled by the criterion or rule, the adverse events' terms, relatedness and arms, the kinds of
protocol deviations and the unknown ages, not by the codes of the analysis and the enrolment."""

from __future__ import annotations

import html
import io
import re

import pytest
from pypdf import PdfReader

from exoderm.core.contraindications import ScreeningItem
from exoderm.core.errors import RuleViolations
from exoderm.patients.models import PatientIdentity
from exoderm.studies import services
from exoderm.studies.analysis import names
from exoderm.studies.analysis.report import report_pdf
from exoderm.studies.analysis.results import results_of
from tests import factories
from tests.photos.conftest import media_root  # noqa: F401 (fixture)
from tests.study_results.test_results_page import _adverse_events_and_a_deviation, _finished_study


def _pdf_words(content: bytes) -> str:
    """The PDF's text with its line breaks as spaces: a table cell wraps its text over lines."""
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.split())


def test_the_reports_endpoints_table_names_endpoints_visits_and_roles_in_german(clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=3)
    words = _pdf_words(report_pdf(results_of(study=scene.study, user=scene.pi), language="de"))
    # the names of the results page, whole: the visit column is wide enough for the German words
    assert "Pigmentflecken (Anzahl) · Wange, links" in words
    assert "GAIS-Bewertung durch verblindete Bewerter" in words
    assert "Woche 6 nach Sitzung 3" in words and "Woche 6 nach Sitzung 1" in words
    assert "primär" in words and "sekundär" in words and "Schätzwert" in words
    for code in ("spot_count", "cheek_left", "s3w6", "s1w6", "gais", "primary", "secondary", "pooled"):
        assert code not in words
    # numbers in the German format, as the results page writes them: "-1,50", "0,063", "<0,001"
    numbers = re.findall(r"(?<![\w.,])-?\d+[.,]\d+(?![\w.,])", words.split("Software und MDC")[0])
    assert numbers and all("," in number for number in numbers), numbers
    assert re.search(r"Hauttyp nach Fitzpatrick: [IV]+: \d", words)
    assert "Wilson-Konfidenzintervall" in words and "Wilson score interval" not in words


def test_the_english_report_keeps_decimal_points(clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=3)
    words = _pdf_words(report_pdf(results_of(study=scene.study, user=scene.pi), language="en"))
    numbers = re.findall(r"(?<![\w.,])-?\d+[.,]\d+(?![\w.,])", words)
    assert numbers and all("." in number for number in numbers), numbers
    assert "share with a change below minus the mdc (" in words


def test_the_reports_adverse_events_deviations_and_ages_by_name(clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=2)
    arm = _adverse_events_and_a_deviation(scene)
    arm_name = {"A": "A · Exosome serum", "B": "B · Vehicle"}[arm]
    # the second participant's identity erased: their age is unknown
    PatientIdentity.objects.filter(patient=scene.enrolled[1].patient).delete()
    results = results_of(study=scene.study, user=scene.pi)
    english = _pdf_words(report_pdf(results, language="en"))
    assert f"Erythema, grade 1, Possible, {arm_name}: 1 participants, 1 events" in english
    assert "Oedema, grade 2, Not related, both arms (whole treated area): 1 participants" in english
    assert "Missed session: 1" in english
    assert "unknown: 1" in english and "?: 1" not in english
    german = _pdf_words(report_pdf(results, language="de"))
    assert "Erythem, " in german and f"Möglich, {arm_name}: 1" in german
    assert "Ödem, " in german and "Kein Zusammenhang, " in german
    assert "Versäumte Sitzung: 1" in german
    assert (
        "Ödem, Grad 2, Kein Zusammenhang, beide Studienarme (gesamter behandelter Bereich): 1 Teilnehmende"
        in german
    )
    assert "Altersgruppe: " in german and "unbekannt: 1" in german
    assert "Studienarm A: Exosome serum" in german and "Randomisiert: 2" in german
    for words in (english, german):
        for code in ("erythema", "oedema", "possible", "not_related", ", both:", "missed_session", "?: 1"):
            assert code not in words


def test_unknown_codes_are_named_as_they_are():
    assert names.term_name("frostbite") == "frostbite"
    assert names.relatedness_name("") == "–"  # none recorded
    assert names.relatedness_name("maybe") == "maybe"
    assert names.deviation_kind_name("late_rating") == "late_rating"
    assert names.age_band_name("30-39") == "30-39"
    assert names.arm_name("C", {"A": "Exosome serum"}) == "C"


@pytest.fixture
def screened(clinic):
    """A study that refused a pregnant patient and one outside its age range, and a patient who
    declined (in the coordinator's words); one participant enrolled."""
    scene = factories.SplitFaceStudyScene(
        clinic,
        criteria=[
            services.CriterionInput(kind="inclusion", subject="age", min_value=18, max_value=70),
            services.CriterionInput(kind="exclusion", subject="screening", screening_item="pregnancy"),
        ],
    )
    old = scene.patient()
    old.identity.date_of_birth = old.identity.date_of_birth.replace(year=1940)
    old.identity.save()
    for patient in (scene.patient(pregnancy=True), old):
        with pytest.raises(RuleViolations):
            scene.participant(patient)
    services.record_screen_failure(
        study=scene.study, patient=scene.patient(), by=scene.coordinator, reason="Keine Zeit für die Termine"
    )
    scene.participant()
    return scene


CODES = ("exclusion:screening:pregnancy", "inclusion:age")


def test_the_report_names_why_patients_were_not_enrolled(screened):
    results = results_of(study=screened.study, user=screened.pi)
    assert set(results.consort.excluded_by_reason) == {*CODES, "other"}
    english = _pdf_words(report_pdf(results, language="en"))
    assert f"exclusion criterion applies: {ScreeningItem.PREGNANCY.label}: 1" in english
    assert "inclusion criterion not met: Age (years): 1" in english
    assert "declined or other reasons: 1" in english
    german = _pdf_words(report_pdf(results, language="de"))
    assert "Schwangerschaft" in german
    for code in CODES:
        assert code not in english and code not in german


def test_the_consort_figure_names_why_patients_were_not_enrolled(client, screened):
    client.force_login(screened.pi)
    page = client.get(f"/studies/{screened.study.pk}/results/").content.decode()
    [consort] = re.findall(r'<figure class="figure-consort">.*?</figure>', page, re.S)
    words = html.unescape(re.sub(r"<[^>]+>", " ", consort))
    assert f"exclusion criterion applies: {ScreeningItem.PREGNANCY.label}" in words
    assert "inclusion criterion not met: Age (years)" in words
    for code in CODES:
        assert code not in words
