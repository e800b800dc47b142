"""A whole clinic day in Chromium, in English and German, at desktop width and on a tablet (820 px).

The practice manager opens Today (the day's visits, the follow-ups due in one line, the overdue
count), adds a new patient, finds her again with the umlaut typed as "ue", books her
consultation on the appointment book's page and moves it by keyboard, makes her intake link and
has her consent signed on the tablet (a stroke drawn with the mouse). The clinician then treats a
regular patient: thaws a vial from the charting form, is refused by the protocol check until the
microneedling before the exosomes is charted, uploads a photo of the cheek; marks a follow-up
visit done on Today, finds the aftercare and the reminders queued in the outbox and recalls the
lot, whose patient list names both patients it treated.

On every page: nothing cut off at the right edge (``cut_off``), no English catalogue string left
on a German page, no foreign request, no CSP report, no script error (``check_clean``).
Screenshots: day-<step>-<lang>-<width>.png in build/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zoneinfo

import pytest
from django.utils import translation
from PIL import Image
from playwright.sync_api import expect

from exoderm.booking import services as booking_services
from exoderm.booking.calendar import ClinicCalendar
from exoderm.booking.models import Appointment
from exoderm.consent.models import ConsentKind, ConsentSignature
from exoderm.courses.models import VisitStatus
from exoderm.courses.selectors import overdue_visits
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.messaging.producers import run_producers
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.photos.models import Photo
from exoderm.products.models import Lot, LotStatus
from exoderm.skinlab.phantom import make_phantom
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests._browser import cut_off, shot
from tests.signin import login_in_browser
from tests.signing.test_browser import SIGNATURE_STROKE, draw
from tests.web.conftest import wall
from tests.web.test_browser import english_strings_left, visible_text
from tests.web.test_today import course_six_weeks_ago, todays_follow_ups

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Catalogue strings a German page shows as they are: a language is named in its own language (the
# switch, the patient's language), and German says "Code" too (the QR code of the intake link).
WORDS_ALSO_GERMAN = {"English", "Code"}
WIDTHS = {"desktop": 1280, "tablet": 820}
HEIGHT = {"desktop": 900, "tablet": 1180}


@pytest.fixture(autouse=True)
def own_keys_and_files(settings, tmp_path):
    """A master key and a photo store of the test's own: the signature and the photo are stored
    encrypted, as in production."""
    settings.EXODERM_MASTER_KEY = ""
    settings.EXODERM_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    settings.MEDIA_ROOT = tmp_path / "media"


def next_open_day(clinic, after: dt.date) -> dt.date:
    """The first weekday after ``after`` on which the clinic is open (no holiday, no closure)."""
    calendar = ClinicCalendar.of(clinic)
    day = after + dt.timedelta(days=1)
    while day.weekday() >= 5 or calendar.closed_because(day) is not None:
        day += dt.timedelta(days=1)
    return day


def skin_photo() -> dict:
    """A close-up of skin as the camera gives it (a phantom of the engine's: spots, pores, tone)."""
    rgb = make_phantom(shape=(360, 480), mm_per_px=0.05, seed=11, spots=20, wrinkles=0).rgb
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return {"name": "cheek.png", "mimeType": "image/png", "buffer": out.getvalue()}


class Walk:
    """The page, and the checks and screenshot every step of the walk ends with."""

    def __init__(self, page, url: str, language: str, width: str) -> None:
        self.page, self.url, self.language, self.width = page, url, language, width

    def go(self, path: str) -> None:
        self.page.goto(self.url + path)

    def done(self, step: str) -> None:
        self.page.wait_for_load_state()
        assert self.page.locator("html").get_attribute("lang") == self.language, step
        assert cut_off(self.page) == [], step
        if self.language == "de":
            shown = re.sub(r"https?://\S+", "", visible_text(self.page))  # links show their path
            left = set(english_strings_left(shown, shown)) - WORDS_ALSO_GERMAN
            assert left == set(), step
        self.page.check_clean()
        shot(self.page, f"day-{step}-{self.language}-{WIDTHS[self.width]}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_clinic_day(browser_page, live_server, language, width):
    page = browser_page
    page.set_viewport_size({"width": WIDTHS[width], "height": HEIGHT[width]})
    walk = Walk(page, live_server.url, language, width)

    # the clinic: open on weekdays, two rooms, a laser; a product whose lot treated a patient
    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    for weekday in range(6):
        factories.OpeningHoursFactory(clinic=clinic, weekday=weekday, starts=dt.time(7), ends=dt.time(20))
    manager = factories.UserFactory(
        clinic=clinic, role="assistant", first_name="Mara", last_name="Lindner", language=language
    )
    clinician = factories.UserFactory(
        clinic=clinic, role="clinician", first_name="Dana", last_name="Adler", language=language
    )
    room = factories.RoomFactory(clinic=clinic, name="Raum 1")
    factories.RoomFactory(clinic=clinic, name="Raum 2")
    factories.DeviceFactory(clinic=clinic, name="Fraxel", kind="laser")
    factories.ConsentTemplateFactory(
        clinic=clinic,
        title_en="Consent to the exosome treatment",
        title_de="Einwilligung in die Exosomen-Behandlung",
        text_en="Exosomes are applied right after microneedling or laser resurfacing. Possible effects: "
        "redness and swelling for one to three days.",
        text_de="Exosomen werden direkt nach Microneedling oder Laser aufgetragen. Mögliche Folgen: Rötung "
        "und Schwellung für ein bis drei Tage.",
    )
    photography = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY)
    # a course begun six weeks ago: two follow-ups due today (one line), three visits overdue
    course = course_six_weeks_ago(clinician)
    # the clinic names its course templates in its own language, as any record it writes
    course.template.name = "Exosomen 3 × 4 Wochen"
    course.template.save(update_fields=["name"])
    # today's treatment: a regular patient, consented and screened; the lot treated another before
    regular = factories.PatientFactory(
        clinic=clinic, identity__given_name="Anna", identity__family_name="Schröder"
    )
    factories.give_treatment_consent(regular, recorded_by=manager)
    factories.screen_patient(regular, recorded_by=clinician)
    factories.ConsentRecordFactory(patient=regular, template=photography, recorded_by=manager)
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinic, name="ExoGel"))
    factories.VialFactory.create_batch(4, lot=lot)
    factories.ExosomeApplicationFactory(
        session__patient=factories.PatientFactory(clinic=clinic, identity__family_name="Recallia"),
        session__clinician=clinician,
        lot=lot,
    )
    open_day = next_open_day(clinic, clinic_today(clinic))
    booking_services.book_appointment(
        patient=regular,
        kind="treatment",
        starts_at=dt.datetime.combine(open_day, dt.time(9), tzinfo=zoneinfo.ZoneInfo(clinic.time_zone)),
        clinician=clinician,
        room=room,
        by=manager,
    )

    # morning: Today shows the day's visits, the follow-ups due in one line, the overdue count
    login_in_browser(page, walk.url, manager)
    appointments = page.locator("section[aria-labelledby=h-visits]")
    followups = page.locator("section[aria-labelledby=h-followups]")
    expect(appointments).to_contain_text(course.patient.code)
    assert followups.locator(".visit-line").count() == 1
    expect(followups).to_contain_text(course.patient.code)
    overdue = overdue_visits(clinic=clinic).count()
    assert overdue == 3
    expect(page.locator("section[aria-labelledby=h-overdue] .overdue-count")).to_contain_text(str(overdue))
    walk.done("today")

    # a new patient: created, then found with the umlaut typed as "ue"
    walk.go("/patients/new/")
    page.fill("#id_given_name", "Jörg")
    page.fill("#id_family_name", "Müller")
    page.fill("#id_date_of_birth", "1984-03-14")
    page.fill("#id_email", "joerg.mueller@example.org")
    page.fill("#id_phone", "+49 30 5550123")
    page.select_option("#id_language", language)
    # the skin's classes are chosen, never taken from a preselected first choice
    assert page.input_value("#id_fitzpatrick") == "" and page.input_value("#id_glogau") == ""
    page.select_option("#id_fitzpatrick", "3")
    page.select_option("#id_glogau", "2")
    walk.done("patient-new")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/patients/\d+/$"))
    patient = Patient.objects.get(identity__family_name="Müller")
    walk.go("/patients/")
    page.fill("#id_q", "Mueller")
    expect(page.locator("#patient-results")).to_contain_text("Müller")
    walk.done("patient-search")

    # the appointment book's day: her consultation booked by the page, then moved by keyboard
    walk.go(f"/booking/day/?date={open_day}")
    page.locator(".pagehead a.button[href$='/booking/appointments/new/']").click()
    page.wait_for_selector("#id_patient")
    page.select_option("#id_patient", str(patient.pk))
    page.select_option("#id_kind", "consultation")
    page.fill("#id_starts_at", f"{open_day}T10:00")
    page.select_option("#id_clinician", str(clinician.pk))
    page.select_option("#id_room", str(room.pk))
    walk.done("booking-new")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/booking/day/\?date={open_day}$"))
    consultation = Appointment.objects.get(patient=patient)
    local_start = consultation.starts_at.astimezone(zoneinfo.ZoneInfo(clinic.time_zone))
    assert (local_start.date(), local_start.time()) == (open_day, dt.time(10))
    block = page.locator(f"#appointment-{consultation.pk}")
    block.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".bk-wrap .notice-success")
    consultation.refresh_from_db()
    assert consultation.starts_at - local_start == dt.timedelta(minutes=30)
    walk.done("booking-day")

    # before the visit: the intake link, and the consent signed on the tablet
    walk.go(f"/patients/{patient.pk}/intake/")
    page.click("button[name=create]")
    assert page.inner_text(".intake-link").strip().startswith(f"{walk.url}/intake/")
    walk.done("intake-link")
    walk.go(f"/patients/{patient.pk}/consents/tablet/")
    page.click(f"a.button[href='?kind={ConsentKind.TREATMENT}']")
    page.wait_for_selector("[data-signature-pad] canvas")
    page.locator("[data-signature-pad] canvas").scroll_into_view_if_needed()
    draw(page, "[data-signature-pad] canvas", SIGNATURE_STROKE)
    page.fill("#id_device", "Tablet")
    walk.done("consent-signing")
    page.locator("main form button[type=submit]:not([data-pad-undo]):not([data-pad-clear])").click()
    page.wait_for_url(f"{walk.url}/patients/{patient.pk}/")
    assert ConsentSignature.objects.filter(record__patient=patient, witness=manager).exists()

    # the clinician's part of the day
    page.click(".usermenu summary")
    page.click(".usermenu form[action='/logout/'] button[type=submit]")
    page.wait_for_load_state()
    login_in_browser(page, walk.url, clinician)

    # the treatment of the regular patient, charted at its end: a vial thawed from the charting
    # form, then the session; the protocol check refuses the exosomes until the microneedling
    # before them is charted
    started = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=40)
    walk.go(f"/sessions/new/?patient={regular.pk}")
    page.select_option("#id_applications-0-lot", str(lot.pk))
    page.locator(".lot-status button[hx-post]").click()
    expect(page.locator(".lot-status .countdown").first).to_be_visible()
    assert lot.vials.filter(state="thawed").count() == 1
    page.fill("#id_performed_at", wall(started, clinic))
    page.fill("#id_applications-0-volume_ml", "2.0")
    page.check('input[name="applications-0-areas"][value="face"]')
    # applied now, in the minute the vial was thawed or after
    page.fill("#id_applications-0-applied_at", wall(dt.datetime.now(dt.UTC), clinic))
    save = page.locator("form .actions button[type=submit]")
    save.click()
    page.wait_for_load_state()
    refusal = page.locator('fieldset.application [data-rule="exosome-requires-barrier-disruption"]')
    expect(refusal).to_have_count(1)
    assert not TreatmentSession.objects.filter(patient=regular).exists()
    walk.done("charting-refused")
    page.select_option("#id_procedures-0-kind", "microneedling")
    page.check('input[name="procedures-0-areas"][value="face"]')
    page.fill("#id_procedures-0-started_at", wall(started, clinic))
    page.fill("#id_procedures-0-ended_at", wall(started + dt.timedelta(minutes=20), clinic))
    page.fill("#id_procedures-0-needle_depth_mm", "1.0")
    page.fill("#id_procedures-0-passes", "3")
    walk.done("charting")
    save.click()
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    assert TreatmentSession.objects.filter(patient=regular).count() == 1
    expect(page.locator("main")).to_contain_text("Schröder")
    walk.done("session")

    # a photo of the treated cheek
    walk.go(f"/photos/patient/{regular.pk}/")
    page.select_option("#id_view", "close_up")
    page.select_option("#id_area", "cheek_left")
    page.select_option("#id_timepoint", "session")
    page.fill("#id_mm_per_px", "0.05")
    with page.expect_response(lambda r: r.url.endswith("/check") and r.request.method == "POST"):
        page.set_input_files("#id_file", skin_photo())
    page.locator("#capture-form button[type=submit]").click()
    page.wait_for_url(f"{walk.url}/photos/patient/{regular.pk}/")
    assert Photo.objects.filter(patient=regular).count() == 1
    walk.done("photo")

    # the follow-up visit of the course patient, marked done on Today
    walk.go("/")
    line = page.locator("section[aria-labelledby=h-followups] .visit-line")
    line.locator("button[hx-get*='mark=done']").click()
    line.locator("button[hx-post*='mark=done']").click()
    expect(page.locator("section[aria-labelledby=h-followups] .visit-line-marked")).to_have_count(1)
    assert {visit.status for visit in todays_follow_ups(course)} == {VisitStatus.DONE}
    walk.done("followup-done")

    # the worker's round: the aftercare of the treatment, reminders of what lies ahead, in the outbox
    run_producers()
    aftercare_queued = OutboxMessage.objects.filter(
        patient=regular, kind=MessageKind.AFTERCARE_MICRONEEDLING
    ).count()
    assert aftercare_queued >= 1
    walk.go("/messages/")
    with translation.override(language):
        aftercare = str(MessageKind.AFTERCARE_MICRONEEDLING.label)
    expect(page.locator("main tbody tr", has_text="Schröder").filter(has_text=aftercare)).to_have_count(
        aftercare_queued
    )
    walk.done("outbox")

    # the supplier recalls the lot: the patients it treated, and the notices to them
    walk.go(f"/lots/{lot.pk}/recall/")
    page.fill("#id_reason", "Supplier notice R-2026-11")
    page.click("button.danger")
    page.wait_for_url(re.compile(r".*/affected/$"))
    assert Lot.objects.get(pk=lot.pk).status == LotStatus.RECALLED
    affected = page.inner_text("main")
    assert "Schröder" in affected and "Recallia" in affected
    walk.done("recall")
