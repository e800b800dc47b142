"""In Debian's Chromium: a consent signed with a drawn stroke on a tablet-wide page (820 px), and an
intake filled in on a phone through its one-time link. Screenshots: consent-signing.png, intake.png
in build/screenshots/."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from exoderm.consent import documents
from exoderm.consent.models import ConsentSignature
from exoderm.patients.models import Intake
from exoderm.patients.selectors import current_screening
from tests import factories
from tests._browser import shot
from tests.signin import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def draw(page, selector: str, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (fractions of the box), as a finger or a mouse draws it."""
    box = page.locator(selector).bounding_box()
    assert box is not None

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(point), steps=4)
    page.mouse.up()


SIGNATURE_STROKE = [(0.1 + 0.02 * i, 0.5 + (0.25 if i % 4 < 2 else -0.2)) for i in range(30)]


@pytest.mark.django_db(transaction=True)
def test_consent_signed_on_the_tablet_and_intake_on_a_phone(browser_page, live_server):
    page = browser_page
    url = live_server.url
    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    clinician = factories.UserFactory(clinic=clinic, role="clinician", first_name="Dana", last_name="Doctor")
    patient = factories.PatientFactory(
        clinic=clinic, identity__given_name="Jörg", identity__family_name="Größmann", identity__language="en"
    )
    template = factories.ConsentTemplateFactory(
        clinic=clinic,
        title_en="Consent to the exosome treatment",
        text_en=(
            "Exosomes are applied right after microneedling or laser resurfacing.\n\n"
            "Possible effects: redness and swelling for one to three days – rarely longer. "
            "I may withdraw this consent at any time."
        ),
    )

    page.set_viewport_size(TABLET)
    login_in_browser(page, url, clinician)
    page.goto(f"{url}/patients/{patient.pk}/")
    page.click("text=Sign on the tablet")
    page.click("a.button:has-text('Treatment')")
    page.wait_for_selector("[data-signature-pad] canvas")
    assert "Possible effects: redness and swelling" in page.inner_text(".consent-text")

    # a stroke, undone, then the signature
    draw(page, "[data-signature-pad] canvas", [(0.2, 0.5), (0.4, 0.6)])
    assert page.is_enabled("[data-pad-undo]")
    page.click("[data-pad-undo]")
    assert page.is_disabled("[data-pad-undo]")
    draw(page, "[data-signature-pad] canvas", SIGNATURE_STROKE)
    draw(page, "[data-signature-pad] canvas", [(0.72, 0.3), (0.75, 0.8), (0.85, 0.35)])
    page.fill("#id_device", "Tablet reception")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the signing page scrolls sideways at 820 px"
    submit = page.locator("button[type=submit]:has-text('Sign and agree')")
    box = submit.bounding_box()
    assert box is not None and box["x"] + box["width"] <= TABLET["width"]
    shot(page, "consent-signing")
    submit.click()
    page.wait_for_url(f"{url}/patients/{patient.pk}/")
    assert "Consent signed" in page.inner_text("main")
    page.check_clean()  # type: ignore[attr-defined]

    signature = ConsentSignature.objects.get(record__patient=patient)
    assert signature.text_sha256 == template.text_sha256("en")
    assert signature.witness == clinician
    assert signature.device.startswith("Tablet reception · Mozilla/5.0")
    drawn = np.asarray(Image.open(io.BytesIO(documents.signature_png(signature))).convert("RGBA"))
    ink = drawn[..., 3] > 64
    assert ink.sum() > documents.MIN_INK_PIXELS
    columns = np.flatnonzero(ink.any(axis=0))
    assert columns[-1] - columns[0] > drawn.shape[1] * 0.5  # the stroke ran across the pad
    assert page.locator("a:has-text('Signed PDF')").count() == 1

    # the intake link, made on the patient page
    page.click("text=Intake before the visit…")
    page.click("button[name=create]")
    link = page.inner_text(".intake-link").strip()
    assert link.startswith(f"{url}/intake/")
    assert page.locator("img.qr").count() == 1
    shot(page, "intake-link")

    phone = page.context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    elsewhere: list[str] = []

    def same_site_only(route):
        if route.request.url.startswith(url + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    phone.route("**/*", same_site_only)
    mobile = phone.new_page()
    mobile.goto(link)
    assert "Hello Jörg," in mobile.inner_text("main")
    assert "Größmann" not in mobile.content()
    for item in (
        "active_infection",
        "isotretinoin",
        "keloid",
        "anticoagulants",
        "acne_dermatitis",
        "malignancy",
    ):
        mobile.check(f"input[name={item}_present][value=no]")
    mobile.check("input[name=pregnancy_present][value=yes]")
    mobile.fill("#id_pregnancy_note", "breastfeeding until March")
    assert mobile.evaluate(NO_SIDEWAYS_SCROLL), "the intake page scrolls sideways on a phone"
    shot(mobile, "intake")
    mobile.click("button[type=submit]")
    assert "Thank you" in mobile.inner_text("main")
    mobile.goto(link)
    assert "already been sent" in mobile.inner_text("main")
    phone.close()
    assert elsewhere == []

    # the clinician reviews and confirms
    assert current_screening(patient=patient) == {}
    page.goto(f"{url}/patients/{patient.pk}/intake/")
    intake = Intake.objects.get(patient=patient)
    assert page.is_checked(f"#id_intake{intake.pk}-pregnancy_present_1")
    shot(page, "intake-review")
    page.click("button[name=confirm]")
    page.wait_for_url(f"{url}/patients/{patient.pk}/")
    screening = current_screening(patient=patient)
    assert screening["pregnancy"].present is True
    assert screening["pregnancy"].note == "breastfeeding until March"
    assert screening["keloid"].present is False
