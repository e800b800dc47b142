"""The session form's patient picker: sorted by name, "Family, Given (code, born)", filtered as you
type (exoderm.js, in Chromium), and the patient list's search by phone, e-mail and birth date."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from tests import factories
from tests.signin import login_with_mfa


def _option_texts(html: str) -> list[str]:
    select = re.search(r'<select name="patient"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None
    return [text.strip() for text in re.findall(r"<option value=\"\d+\"[^>]*>([^<]*)</option>", select[1])]


@pytest.mark.django_db
def test_the_picker_lists_open_records_by_folded_name_with_code_and_birth_date(client, clinician):
    clinic = clinician.clinic
    zimmer = factories.PatientFactory(
        clinic=clinic, identity__given_name="Anna", identity__family_name="Zimmer"
    )
    mueller = factories.PatientFactory(
        clinic=clinic,
        identity__given_name="Jürgen",
        identity__family_name="Müller",
        identity__date_of_birth=dt.date(1975, 3, 9),
    )
    abel = factories.PatientFactory(clinic=clinic, identity__given_name="Eva", identity__family_name="Abel")
    factories.PatientFactory(identity__family_name="Fremd")  # another clinic
    client.force_login(clinician)
    html = client.get(reverse("session-new")).content.decode()
    assert _option_texts(html) == [
        f"Abel, Eva ({abel.code}, 17 May 1980)",
        f"Müller, Jürgen ({mueller.code}, 09 Mar 1975)",
        f"Zimmer, Anna ({zimmer.code}, 17 May 1980)",
    ]
    assert 'data-filter="Filter by name, code or date of birth"' in html


@pytest.mark.django_db
def test_the_patient_list_finds_by_phone_email_and_birth_date(client, clinic_admin):
    clinic = clinic_admin.clinic
    factories.PatientFactory(
        clinic=clinic,
        identity__family_name="Gesucht",
        identity__phone="0171 2345678",
        identity__email="Gesucht@Example.org",
        identity__date_of_birth=dt.date(1990, 1, 31),
    )
    factories.PatientFactory(clinic=clinic, identity__family_name="Andere", identity__phone="030 999999")
    login_with_mfa(client, clinic_admin)
    for query in ("+49 171 234 56 78", "gesucht@example.org", "31.01.1990", "1990-01-31", "GESUCHT"):
        html = client.get(reverse("patients"), {"q": query}).content.decode()
        assert "Gesucht" in html and "Andere" not in html, query


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_typing_filters_the_picker_and_enter_picks_the_first_match(browser_page, live_server):
    from playwright.sync_api import expect

    page = browser_page
    clinic = factories.ClinicFactory()
    clinician = factories.UserFactory(clinic=clinic, role="clinician")
    mueller = factories.PatientFactory(clinic=clinic, identity__family_name="Müller")
    factories.PatientFactory(clinic=clinic, identity__family_name="Bauer")
    factories.PatientFactory(clinic=clinic, identity__family_name="Barth")
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", clinician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/sessions/new/")

    box = page.get_by_role("searchbox", name="Filter by name, code or date of birth")
    box.focus()
    page.keyboard.type("Mueller")
    shown = page.locator("#id_patient option:not([hidden]):not([value=''])")
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("Müller")
    page.keyboard.press("Enter")  # picks the match and moves to the list; the form is not sent
    expect(page.locator("#id_patient")).to_be_focused()
    expect(page.locator("#id_patient")).to_have_value(str(mueller.pk))
    assert page.url.endswith("/sessions/new/")

    box.fill("")
    box.focus()
    page.keyboard.type("bau")  # Bauer, not Barth
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("Bauer")
    page.check_clean()
