"""The results page (endpoints table, inline SVG figures, CONSORT flow, downloads) in a real
Chromium in English and German, and the report PDF in both languages."""

from __future__ import annotations

import html
import io
import re

import pytest
from pypdf import PdfReader

from exoderm.safety.services import record_adverse_event
from exoderm.studies import services
from exoderm.studies.analysis import unblinding
from exoderm.studies.models import AllocationSlot
from tests import factories
from tests._browser import cut_off, shot
from tests.photos.conftest import media_root  # noqa: F401 (fixture)
from tests.signin import login_in_browser


def _finished_study(clinic, participants):
    scene = factories.SplitFaceStudyScene(
        clinic,
        endpoints=[
            services.EndpointInput(kind="gais", session_number=3, weeks_after_session=6, primary=True),
            services.EndpointInput(
                kind="metric",
                session_number=3,
                weeks_after_session=6,
                metric="spot_count",
                region="cheek_left",
            ),
        ],
    )
    scene.enrolled = factories.run_split_face_study(scene, participants=participants)
    unblinding.unblind_study(study=scene.study, by=scene.pi, reason="Last visit done")
    return scene


def _adverse_events_and_a_deviation(scene):
    """An erythema of the first participant's left half (possibly related to the product), an
    oedema of their whole treated area (so of both arms) and a missed session of theirs; returns
    the arm of their left half."""
    first = scene.enrolled[0]
    onset = first.enrolled_at.date()
    record_adverse_event(
        user=scene.clinician, patient=first.patient, term="erythema", side="face_left", onset=onset,
        severity=1, serious=False, related_to_procedure="unlikely", related_to_product="possible",
    )  # fmt: skip
    record_adverse_event(
        user=scene.clinician, patient=first.patient, term="oedema", side="whole", onset=onset,
        severity=2, serious=False, related_to_procedure="probable", related_to_product="not_related",
    )  # fmt: skip
    services.record_deviation(
        participant=first, kind="missed_session", description="Did not come", occurred_on=onset, by=scene.pi
    )
    return AllocationSlot.objects.get(participant=first).arm_left


def test_the_adverse_events_table_names_terms_relatedness_and_arms(client, clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=2)
    arm = _adverse_events_and_a_deviation(scene)
    arm_name = {"A": "A · Exosome serum", "B": "B · Vehicle"}[arm]
    client.force_login(scene.pi)

    def events_table():
        page = client.get(f"/studies/{scene.study.pk}/results/").content.decode()
        table = page[page.rindex("<table") :]  # the adverse events' table is the page's last
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>.*?</td>", table)]
        return [cells[n : n + 6] for n in range(0, len(cells), 6)]

    assert events_table() == [
        ["Erythema", "1", "Possible", arm_name, "1", "1"],
        ["Oedema", "2", "Not related", "both arms (whole treated area)", "1", "1"],
    ]
    scene.pi.language = "de"
    scene.pi.save()
    rows = events_table()
    assert [row[:4] for row in rows] == [
        ["Erythem", "1", "Möglich", arm_name],
        ["Ödem", "2", "Kein Zusammenhang", "beide Studienarme (gesamter behandelter Bereich)"],
    ]


@pytest.mark.browser
@pytest.mark.slow
def test_the_results_page_in_english_and_german(browser_page, live_server, media_root):  # noqa: F811
    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    scene = _finished_study(clinic, participants=3)
    page = browser_page
    login_in_browser(page, live_server.url, scene.pi)
    page.goto(f"{live_server.url}/studies/{scene.study.pk}/results/")
    assert page.locator("h1").inner_text().startswith("Study results")
    assert page.locator("table tbody tr").count() >= 6  # 2 endpoints x 3 visits
    assert page.locator("svg.figure").count() == 4
    endpoints = page.locator("table").first.inner_text()
    assert "A - B" in endpoints
    # endpoints, visits and roles by their names, not the analysis' codes (gais, s3w6, cheek_left)
    assert "GAIS rating by blinded raters" in endpoints
    assert "pigmented spots (count) · Cheek, left" in endpoints
    assert "week 6 after session 3 *" in endpoints and "primary" in endpoints
    for code in ("gais", "s3w6", "cheek_left", "spot_count"):
        assert code not in endpoints
    assert page.locator("figure figcaption").first.inner_text() == (
        "Change from baseline per arm and visit (95% CI)"
    )
    assert page.locator("figcaption").count() == page.locator("svg.figure").count()
    assert page.get_by_role("link", name="Export FHIR").count() == 1
    assert page.locator("h2#healing").inner_text() == "Healing after the sessions"
    assert page.locator("table.healing tbody tr").count() == 3  # arm A, arm B and A - B
    page.check_clean()
    shot(page, "study-results-en")
    page.click('button[name="language"][value="de"]')
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("svg.figure").count() == 4
    assert page.locator("table.healing tbody tr").count() == 3
    endpoints = page.locator("table").first.inner_text()
    assert "GAIS-Bewertung durch verblindete Bewerter" in endpoints
    assert "Woche 6 nach Sitzung 3 *" in endpoints
    assert "primär" in endpoints and "primary" not in endpoints
    page.check_clean()
    shot(page, "study-results-de")
    # on a tablet held upright the figures scale down to the page instead of widening it
    page.set_viewport_size({"width": 768, "height": 1024})
    assert cut_off(page) == []
    page.click('button[name="language"][value="en"]')


def test_the_report_pdf_in_both_languages_and_the_page_for_staff_only(api_as, client, clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=3)
    for language, word in (("en", "Adverse events"), ("de", "CONSORT")):
        response = api_as(scene.coordinator).get(
            f"/studies/{scene.study.pk}/report.pdf", {"language": language}
        )
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
        assert scene.study.title in text and word in text and "skinlab" in text
        for participant in scene.enrolled:
            assert participant.patient.identity.family_name not in text
    client.force_login(scene.raters[0])
    assert client.get(f"/studies/{scene.study.pk}/results/").status_code == 403
    client.force_login(scene.pi)
    page = client.get(f"/studies/{scene.study.pk}/results/")
    assert page.status_code == 200 and b"<svg" in page.content
    download = client.get(f"/studies/{scene.study.pk}/results/report.pdf")
    assert download.status_code == 200 and download.content.startswith(b"%PDF")


def test_the_study_list_says_a_study_has_ended_once_it_is_unblinded(client, clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=2)
    client.force_login(scene.pi)
    page = client.get("/studies/").content.decode()
    assert "ended, unblinded" in page and ">running<" not in page


def test_the_figures_name_metrics_visits_arms_and_scores_in_the_readers_language(client, clinic, media_root):  # noqa: F811
    scene = _finished_study(clinic, participants=3)
    scene.pi.language = "de"
    scene.pi.save()
    client.force_login(scene.pi)
    page = client.get(f"/studies/{scene.study.pk}/results/").content.decode()
    svgs = re.findall(r"<svg .*?</svg>", page[page.index('<div class="figures">') :], re.S)
    assert len(svgs) == 4
    words = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", svg) for svg in svgs))
    # what the endpoints table says, not the analysis' codes and English
    for code in ("spot_count", "cheek_left", "s3w6", "baseline", "pooled", "improved", "change,"):
        assert code not in words
    assert "Pigmentflecken (Anzahl) · Wange, links" in words
    assert "Woche 6 nach Sitzung 3" in words and "Ausgangswert" in words
    assert "A · Exosome serum" in words and "B · Vehicle" in words
    assert "Sehr stark verbessert" in words and "Keine Veränderung" in words
    assert "Zugeteilt" in words
    # the change figure's axis in the German number format ("-5,6", not "-5.6")
    ticks = re.findall(r'text-anchor="end" font-size="11">([^<]+)<', svgs[0])
    assert len(ticks) == 3 and all("," in tick and "." not in tick for tick in ticks), ticks
    # the endpoints table's methods in German too
    table = page[: page.index('<div class="figures">')]
    assert "Welch-t-Test" in table or "gepaarter t-Test" in table
