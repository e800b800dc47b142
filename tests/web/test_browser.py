"""End to end in Debian's Chromium against a live server: log in, chart, cold chain, recall, German.

Every page is watched (``browser_page``, tests/conftest.py): a request to another host fails the
test (and is blocked), and so does any Content-Security-Policy violation. Screenshots of the pages
land in build/screenshots/ (make screenshots publishes them in docs/screenshots/).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone

from exoderm.products.models import Lot, LotStatus
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests._browser import cut_off, scrolls_sideways, shot
from tests.signin import login_in_browser
from tests.web.conftest import logger_csv, wall

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def visible_text(page) -> str:
    """The text of the navigation and the page body (the language switch names both languages).

    Recorded text (a lot's status reason, an acknowledged warning) stays in the language it was
    recorded in; the pages mark it ``.recorded`` and it is left out here.
    """
    text = page.inner_text(".mainnav") + "\n" + page.inner_text(".usermenu") + "\n" + page.inner_text("main")
    for recorded in page.locator(".recorded").all_inner_texts():
        text = text.replace(recorded, "")
    return text


UNLABELLED = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !el.closest('[aria-hidden=true]'))
  .filter(el => el.labels.length === 0)
  .filter(el => !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id)
"""


def english_strings_left(english: str, german: str) -> list[str]:
    """Catalogue strings shown on the English page that the German page still shows in English."""
    from django.utils.translation import trans_real

    catalog = trans_real.translation("de")._catalog
    found = []
    for msgid, msgstr in catalog.items():
        if not isinstance(msgid, str) or not msgid or msgid == msgstr or "%" in msgid or "{" in msgid:
            continue
        if len(msgid) < 4 or not re.search(r"[a-z]{3}", msgid):
            continue
        pattern = r"(?<![\w-])" + re.escape(msgid) + r"(?![\w-])"
        if re.search(pattern, english) and re.search(pattern, german):
            found.append(msgid)
    return found


@pytest.mark.django_db(transaction=True)
def test_the_clinic_day_in_the_browser(browser_page, live_server):
    page = browser_page
    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    scene = factories.SessionScene(clinic)
    scene.clinician.first_name, scene.clinician.last_name = "Dana", "Doctor"
    scene.clinician.save()
    factories.ExosomeApplicationFactory(
        session__patient=factories.PatientFactory(clinic=clinic, identity__family_name="Recallia"),
        session__clinician=scene.clinician,
        lot=scene.lot,
    )
    factories.CourseTemplateFactory(clinic=clinic, name="Exosome 3 × 4 weeks")
    url = live_server.url

    # log in
    page.goto(url + "/")
    assert "/login/" in page.url
    shot(page, "login")
    page.fill("#id_username", scene.clinician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    assert page.locator("h1").first.inner_text().startswith("Today")
    shot(page, "today")
    page.check_clean()

    # chart a session without a procedure: refused, the message next to the application
    page.goto(f"{url}/sessions/new/?patient={scene.patient.pk}")
    page.fill("#id_notes", "Erstbehandlung, gut vertragen")
    page.select_option("#id_applications-0-lot", str(scene.lot.pk))
    page.locator(".lot-status .countdown").first.wait_for()
    page.fill("#id_applications-0-volume_ml", "2.0")
    page.check('input[name="applications-0-areas"][value="face"]')
    page.fill("#id_applications-0-applied_at", wall(scene.at + dt.timedelta(minutes=25), clinic))
    page.fill("#id_performed_at", wall(scene.at, clinic))
    page.get_by_role("button", name="Save the session").click()
    page.wait_for_load_state()
    message = page.locator('fieldset.application [data-rule="exosome-requires-barrier-disruption"]')
    assert message.count() == 1 and "barrier-disrupting procedure" in message.inner_text()
    assert page.input_value("#id_applications-0-volume_ml") == "2.0"
    assert page.input_value("#id_notes") == "Erstbehandlung, gut vertragen"
    assert page.is_checked('input[name="applications-0-areas"][value="face"]')
    assert not TreatmentSession.objects.filter(patient=scene.patient).exists()
    shot(page, "charting-refused")

    # fix it: add the microneedling before, and save
    page.select_option("#id_procedures-0-kind", "microneedling")
    page.check('input[name="procedures-0-areas"][value="face"]')
    page.fill("#id_procedures-0-started_at", wall(scene.at, clinic))
    page.fill("#id_procedures-0-ended_at", wall(scene.at + dt.timedelta(minutes=20), clinic))
    page.locator(".window-hint .hint").first.wait_for()
    page.fill("#id_procedures-0-needle_depth_mm", "1.0")
    page.fill("#id_procedures-0-passes", "3")
    shot(page, "charting")
    page.get_by_role("button", name="Save the session").click()
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    assert TreatmentSession.objects.filter(patient=scene.patient).count() == 1
    shot(page, "session")
    page.check_clean()

    # upload a temperature log with an excursion: the lot goes into quarantine
    page.goto(f"{url}/lots/{scene.lot.pk}/")
    page.set_input_files(
        "#id_file",
        {
            "name": "logger.csv",
            "mimeType": "text/csv",
            "buffer": logger_csv(
                timezone.now() - dt.timedelta(hours=8), count=24, hot={14, 15}, hot_celsius="-9.5"
            ),
        },
    )
    page.click("text=Upload the readings")
    page.wait_for_load_state()
    # what was read comes first; nothing is saved before the confirmation
    assert "24 readings (24 new, 0 already stored)" in page.inner_text("#upload-summary")
    assert page.locator("#upload-excursions li").count() == 2
    page.click("button[value=confirm]")
    page.wait_for_load_state()
    assert page.locator("h1 .badge-quarantined").count() == 1
    assert page.locator("svg.chart circle.excursion").count() == 2
    assert Lot.objects.get(pk=scene.lot.pk).status == LotStatus.QUARANTINED
    shot(page, "lot-quarantined")
    page.check_clean()

    # recall the lot: a confirmation, then the affected patients and the CSV
    page.click("text=Recall…")
    page.wait_for_url(re.compile(r".*/recall/$"))
    shot(page, "recall-confirm")
    page.fill("#id_reason", "Supplier notice R-2026-11")
    page.click("button.danger")
    page.wait_for_url(re.compile(r".*/affected/$"))
    assert "Recallia" in page.inner_text("main")
    shot(page, "recall-affected")
    with page.expect_download() as download_info:
        page.click("text=Download CSV")
    download = download_info.value
    content = Path(download.path()).read_text()
    assert content.startswith("patient_id,") and "Recallia" in content
    page.check_clean()

    # patient search as you type: HTMX swaps the results without a page load
    page.goto(url + "/patients/")
    page.fill("#id_q", "Recall")
    from playwright.sync_api import expect

    expect(page.locator("#patient-results")).not_to_contain_text("Mustermann")
    expect(page.locator("#patient-results")).to_contain_text("Recallia")
    assert page.url.endswith("?q=Recall")
    shot(page, "patients-search")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Search")).to_be_focused()
    page.check_clean()

    # the other pages, for the record
    for path, name in [
        ("/patients/", "patients"),
        (f"/patients/{scene.patient.pk}/", "patient"),
        ("/sessions/", "sessions"),
        ("/lots/", "lots"),
        ("/products/", "products"),
        ("/courses/", "courses"),
        ("/courses/calendar/", "calendar"),
    ]:
        page.goto(url + path)
        shot(page, name)
    page.check_clean()

    # switch to German: the pages of this walk show no English catalogue string
    walk = [
        "/",
        f"/sessions/new/?patient={scene.patient.pk}",
        f"/lots/{scene.lot.pk}/",
        f"/lots/{scene.lot.pk}/affected/",
        f"/patients/{scene.patient.pk}/",
        "/patients/",
        "/lots/",
    ]
    english = {}
    for path in walk:
        page.goto(url + path)
        english[path] = visible_text(page)
    page.click('button[name="language"][value="de"]')
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "de"
    for path in walk:
        page.goto(url + path)
        german = visible_text(page)
        assert english_strings_left(english[path], german) == [], path
    page.goto(url + "/")
    shot(page, "today-de")
    page.goto(f"{url}/sessions/new/?patient={scene.patient.pk}")
    shot(page, "charting-de")
    page.check_clean()


@pytest.mark.django_db(transaction=True)
def test_every_page_of_the_demo_clinic_in_english_and_german(browser_page, live_server):
    """The demo clinic's pages: clean (no foreign request, no CSP report), fully German, on record,
    and nothing wider than a tablet held upright (768 × 1024)."""
    from exoderm.demo import USERS, seed_demo
    from exoderm.patients.models import Patient
    from exoderm.treatments.models import ExosomeApplication

    seed_demo()
    page = browser_page
    url = live_server.url
    username, password = next((u[0], u[1]) for u in USERS if u[2] == "clinician")
    patient = Patient.objects.filter(courses__isnull=False).order_by("pk").first()
    application = ExosomeApplication.objects.select_related("session").order_by("pk").first()
    lot = Lot.objects.filter(temperatures__isnull=False).distinct().order_by("pk").first()
    assert patient and application and lot
    pages = {
        "demo-today": "/",
        "demo-patients": "/patients/",
        "demo-patient": f"/patients/{patient.pk}/",
        "demo-screening": f"/patients/{patient.pk}/screening/",
        "demo-sessions": "/sessions/",
        "demo-session": f"/sessions/{application.session_id}/",
        "demo-charting": f"/sessions/new/?patient={patient.pk}",
        "demo-lots": "/lots/",
        "demo-lot": f"/lots/{lot.pk}/",
        "demo-affected": f"/lots/{application.lot_id}/affected/",
        "demo-products": "/products/",
        "demo-courses": "/courses/",
        "demo-calendar": "/courses/calendar/",
        "demo-enrol": f"/patients/{patient.pk}/enrol/",
        "demo-receive": "/lots/receive/",
        "demo-adverse-events": "/adverse-events/",
        "demo-messages": "/messages/",
        "demo-studies": "/studies/",
    }
    page.goto(url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(url + "/")
    # The demo clinician works in German; the walk starts in English, saved on the user.
    page.click('button[name="language"][value="en"]')
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    english = {}
    for name, path in pages.items():
        page.goto(url + path)
        assert page.locator("main h1").count() >= 1, path
        english[name] = visible_text(page)
        assert page.evaluate(UNLABELLED) == [], path
        shot(page, name)
        page.check_clean()
    # thaw the next vial of a released lot from the charting form: the countdown appears in place
    from playwright.sync_api import expect

    usable = Lot.objects.filter(status=LotStatus.RELEASED, vials__state="stored").distinct().first()
    assert usable is not None
    page.goto(url + pages["demo-charting"])
    page.select_option("#id_applications-0-lot", str(usable.pk))
    thaw = page.locator(".lot-status button[hx-post]")
    thaw.wait_for()
    thaw.click()
    expect(page.locator(".lot-status .countdown").first).to_be_visible()
    assert usable.vials.filter(state="thawed").exists()
    page.check_clean()

    page.click('button[name="language"][value="de"]')
    page.wait_for_load_state()
    assert "Today" in english["demo-today"]
    for name, path in pages.items():
        page.goto(url + path)
        german = visible_text(page)
        assert "Heute" in german
        assert english_strings_left(english[name], german) == [], path
        if name in {"demo-today", "demo-lot", "demo-patient"}:
            shot(page, name + "-de")
        page.check_clean()
    # "Korrigieren …" stays on one line: its ellipsis once wrapped alone under the word
    page.goto(url + pages["demo-patient"])
    row_links = page.locator("td.row-actions a")
    assert row_links.count() >= 1  # the screening's answers and the consents
    assert row_links.evaluate_all("links => links.every(link => link.getClientRects().length === 1)")
    # the visit calendar's days line up: each day's patients and clinicians in the same columns
    page.goto(url + pages["demo-calendar"])
    starts = page.locator("table.calendar-day").evaluate_all(
        "tables => tables.map(t => [...t.rows[0].cells].map(c => Math.round(c.getBoundingClientRect().left)))"
    )
    assert len(starts) >= 2 and all(columns == starts[0] for columns in starts), starts
    # nor does "E-Mail" break at its hyphen in the outbox's channel column
    page.goto(url + pages["demo-messages"])
    channels = page.locator("td.nowrap")
    assert channels.count() >= 1
    assert channels.evaluate_all(
        "cells => cells.every(cell => { const text = document.createRange(); text.selectNodeContents(cell);"
        " return text.getClientRects().length === 1; })"
    )
    # A tablet held upright: wide tables scroll in their frame, the page itself never sideways (a
    # row's visually hidden link names once widened it), and the patient's facts are not clipped.
    page.set_viewport_size({"width": 768, "height": 1024})
    one_line = "b => b.getBoundingClientRect().height < 2 * parseFloat(getComputedStyle(b).lineHeight)"
    for path in pages.values():
        page.goto(url + path)
        assert cut_off(page) == [], path
        assert scrolls_sideways(page) == [], path  # a wide table scrolls in its frame, not its card
        # a status pill stays whole ("In Quarantäne" once broke in two in the lots' status column)
        assert page.locator(".badge").evaluate_all(f"badges => badges.every({one_line})"), path
    page.goto(url + pages["demo-patient"])
    identity = page.locator("section[aria-labelledby=h-identity]")
    assert identity.evaluate("card => card.scrollWidth <= card.clientWidth")
    shot(page, "demo-patient-de-768")
    # held across (1024 px) the identity shares the row with the screening: a long e-mail address
    # breaks instead of being clipped at the card's edge
    page.set_viewport_size({"width": 1024, "height": 768})
    page.evaluate(
        "document.querySelector('section[aria-labelledby=h-identity] dd:nth-of-type(3)').textContent ="
        " 'katharina.schneider-mustermann8@example.org'"
    )
    assert identity.evaluate("card => card.scrollWidth <= card.clientWidth")
    # every other role's main pages (its menu) at 768 px too, with the admin's message template and
    # its preview, the study's results and the confirmation before a resend: only tables scroll
    from exoderm.clinics.models import User
    from exoderm.messaging.models import OutboxMessage
    from exoderm.studies.models import Study

    study = Study.objects.order_by("pk").last()
    assert study is not None
    message = OutboxMessage.objects.order_by("pk").first()
    assert message is not None
    more = {
        "admin": ["/messages/templates/visit_reminder/email/de/", f"/studies/{study.pk}/results/"],
        "assistant": [f"/messages/{message.pk}/resend/"],
        "rater": [f"/studies/{study.pk}/rate/"],
    }
    page.set_viewport_size({"width": 768, "height": 1024})
    for username, password, *_rest in USERS:
        if username == "clinician":
            continue
        page.context.clear_cookies()
        login_in_browser(page, url, User.objects.get(username=username), password=password)
        menu = page.locator(".mainnav a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        for path in ["/", *menu, *more.get(username, [])]:
            page.goto(url + path)
            assert (cut_off(page), scrolls_sideways(page)) == ([], []), (username, path)
