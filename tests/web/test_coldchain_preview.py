"""Temperature upload in two steps: what was read is shown, and only a confirmation saves it."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from exoderm.products.models import LotEvent, LotStatus, TemperatureReading
from tests import factories

SAMPLES = Path(__file__).parent.parent / "domain" / "data" / "loggers"
ELPRO = (SAMPLES / "elpro_ecolog.csv").read_bytes()
TESTO = (SAMPLES / "testo_comsoft.csv").read_bytes()


@pytest.fixture
def lot(clinician):
    product = factories.ProductFactory(
        clinic=clinician.clinic, storage_min_c=Decimal("-25"), storage_max_c=Decimal("-15")
    )
    # A 5-minute logger: the ELPRO sample's readings every 10 minutes are within twice the interval,
    # its missing reading (20 minutes) is a gap.
    return factories.LotFactory(product=product, status=LotStatus.RELEASED, logger_interval_minutes=5)


@pytest.fixture
def client_of(client, clinician):
    client.force_login(clinician)
    return client


def upload(client, lot, content: bytes, name: str = "logger.csv"):
    return client.post(
        reverse("lot-temperatures", args=[lot.pk]), {"file": SimpleUploadedFile(name, content)}
    )


def confirm(client, lot, content: bytes, **extra):
    data = {"action": "confirm", "sha256": hashlib.sha256(content).hexdigest(), **extra}
    return client.post(reverse("lot-temperatures", args=[lot.pk]), data)


@pytest.mark.django_db
def test_the_preview_shows_what_was_read_and_saves_nothing(client_of, lot):
    response = upload(client_of, lot, ELPRO)
    html = response.content.decode()
    assert response.status_code == 200
    assert not TemperatureReading.objects.exists()
    assert "5 readings (5 new, 0 already stored)" in html
    # The first and last reading in the clinic's time (Berlin, UTC+1 in November).
    assert "<dt>First</dt><dd>02 Nov 2026, 08:00</dd>" in html
    assert "<dt>Last</dt><dd>02 Nov 2026, 08:50</dd>" in html
    assert "10 min between readings" in html
    assert "-21.20 °C … -14.60 °C" in html
    assert "Table header in line 7: time from “Timestamp”, temperature from “T1 [°C]”" in html
    assert "Times without UTC offset, read as the clinic&#x27;s time (Europe/Berlin)" in html
    assert "Line 10: no reading (the logger wrote &#x27;---&#x27;)" in html
    assert "Lines 15–18: after the table" in html
    assert "Saving puts the lot into quarantine" in html
    assert "1 reading outside -25.0 … -15.0 °C" in html
    assert "02 Nov 2026, 08:40: -14.60 °C" in html
    assert "1 gap in the log" in html and "02 Nov 2026, 08:10 – 02 Nov 2026, 08:30 (20 min)" in html
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


@pytest.mark.django_db
def test_confirming_saves_the_previewed_readings_and_runs_the_check(client_of, lot):
    upload(client_of, lot, ELPRO)
    response = confirm(client_of, lot, ELPRO)
    assert response.status_code == 302 and response.url == reverse("lot", args=[lot.pk])
    assert TemperatureReading.objects.filter(lot=lot).count() == 5
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    # Confirmed once: a second confirmation finds nothing waiting and saves nothing again.
    again = confirm(client_of, lot, ELPRO)
    assert again.status_code == 302 and again.url == reverse("lot-temperatures", args=[lot.pk])
    assert LotEvent.objects.filter(lot=lot, to_status=LotStatus.QUARANTINED).count() == 1


@pytest.mark.django_db
def test_discarding_saves_nothing_and_forgets_the_file(client_of, lot):
    upload(client_of, lot, TESTO)
    response = client_of.post(reverse("lot-temperatures", args=[lot.pk]), {"action": "discard"})
    assert response.status_code == 200  # an unknown action is just the upload form again
    response = client_of.post(reverse("lot-temperatures", args=[lot.pk]), {"action": "cancel"})
    assert response.status_code == 302
    assert confirm(client_of, lot, TESTO).url == reverse("lot-temperatures", args=[lot.pk])
    assert not TemperatureReading.objects.exists()


@pytest.mark.django_db
def test_a_file_sent_with_the_confirmation_is_ignored(client_of, lot):
    """The confirmation saves the file the server kept, never one that comes with it."""
    upload(client_of, lot, TESTO)
    slipped = SimpleUploadedFile("other.csv", ELPRO)
    response = confirm(client_of, lot, TESTO, file=slipped)
    assert response.status_code == 302
    stored = TemperatureReading.objects.filter(lot=lot).order_by("recorded_at")
    assert [r.celsius for r in stored][:2] == [Decimal("-20.40"), Decimal("-20.50")]
    assert stored.count() == 8


@pytest.mark.django_db
def test_a_confirmation_of_an_older_preview_does_not_save_the_newer_file(client_of, lot):
    upload(client_of, lot, TESTO)
    upload(client_of, lot, ELPRO)  # in another tab, say
    response = confirm(client_of, lot, TESTO)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Another file was uploaded for this lot since the preview you confirmed" in html
    assert "5 readings (5 new, 0 already stored)" in html  # the newer file, shown to check
    assert not TemperatureReading.objects.exists()
    forged = confirm(client_of, lot, b"not what was uploaded")
    assert forged.status_code == 200 and not TemperatureReading.objects.exists()


@pytest.mark.django_db
def test_the_upload_of_another_lot_cannot_be_confirmed_here(client_of, lot, clinician):
    other = factories.LotFactory(product=lot.product, status=LotStatus.RELEASED)
    upload(client_of, other, TESTO)
    response = confirm(client_of, lot, TESTO)
    assert response.url == reverse("lot-temperatures", args=[lot.pk])
    assert not TemperatureReading.objects.exists()


@pytest.mark.django_db
def test_a_file_that_cannot_be_read_is_refused_at_once_with_its_lines(client_of, lot):
    response = upload(client_of, lot, "Datum/Zeit;Temperatur [°C]\n29.03.2026 02:30;-20\n".encode())
    html = response.content.decode()
    assert response.status_code == 200 and "Line 2: 2026-03-29 02:30 does not exist" in html
    assert f"temperature-upload:{lot.pk}" not in client_of.session


@pytest.mark.django_db
def test_readings_that_cannot_be_stored_are_shown_and_offer_no_save(client_of, lot):
    TemperatureReading.objects.create(lot=lot, recorded_at="2026-10-04T06:00:00Z", celsius=Decimal("-19"))
    html = upload(client_of, lot, TESTO).content.decode()
    assert "Line 9: -20.40 °C differs from the stored -19.00 °C" in html
    assert 'value="confirm"' not in html


@pytest.mark.django_db
def test_an_oversized_file_is_refused_before_it_is_read(client_of, lot, settings):
    settings.TEMPERATURE_UPLOAD_MAX_BYTES = 100
    response = upload(client_of, lot, TESTO)
    assert "The file is larger than 100" in response.content.decode()
    assert f"temperature-upload:{lot.pk}" not in client_of.session


@pytest.mark.django_db
def test_a_researcher_cannot_upload(client, researcher, lot):
    client.force_login(researcher)
    assert upload(client, lot, TESTO).status_code == 403


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_upload_check_and_save_in_the_browser_at_tablet_width(browser_page, live_server):
    """A Testo export on an 820 px tablet: the preview shows it whole, then saving stores it."""
    clinic = factories.ClinicFactory()
    user = factories.UserFactory(clinic=clinic, role="assistant")
    product = factories.ProductFactory(
        clinic=clinic, storage_min_c=Decimal("-25"), storage_max_c=Decimal("-15")
    )
    lot = factories.LotFactory(product=product, status=LotStatus.RELEASED, logger_interval_minutes=15)
    page = browser_page
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(f"{live_server.url}/lots/{lot.pk}/")
    page.set_input_files("#id_file", {"name": "testo.csv", "mimeType": "text/csv", "buffer": TESTO})
    page.click("text=Upload the readings")
    page.wait_for_load_state()
    assert "8 readings (8 new, 0 already stored)" in page.inner_text("#upload-summary")
    assert "Decimal comma" in page.inner_text("#upload-format")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not TemperatureReading.objects.exists()
    page.click("button[value=confirm]")
    page.wait_for_url(f"{live_server.url}/lots/{lot.pk}/")
    assert "8 readings stored, 0 already known." in page.inner_text("main")
    assert TemperatureReading.objects.filter(lot=lot).count() == 8
    page.check_clean()
