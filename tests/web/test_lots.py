"""Lots: receive, release, the temperature upload with its automatic quarantine, vials, recall."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zoneinfo

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.patients.selectors import clinic_today
from exoderm.products.models import Lot, LotEvent, LotStatus, TemperatureReading, Vial, VialState
from tests import factories
from tests.signin import login_with_mfa
from tests.web.conftest import logger_csv


def upload_and_save(client, lot, upload, **options):
    """The two steps of a temperature upload: the file, then the confirmation of its preview."""
    content = upload.read()
    upload.seek(0)
    preview = client.post(reverse("lot-temperatures", args=[lot.pk]), {"file": upload})
    assert preview.status_code == 200 and not TemperatureReading.objects.filter(lot=lot).exists()
    return client.post(
        reverse("lot-temperatures", args=[lot.pk]),
        {"action": "confirm", "sha256": hashlib.sha256(content).hexdigest()},
        **options,
    )


def receive(client, product, *, number, expires_in_days, **changes):
    return client.post(
        reverse("lot-receive"),
        {
            "product": product.pk,
            "number": number,
            "expires_on": (timezone.localdate() + dt.timedelta(days=expires_in_days)).isoformat(),
            "vials_received": 4,
            # Noon of the clinic's yesterday: a wall-clock time no clock change makes ambiguous.
            "received_at": f"{clinic_today(product.clinic) - dt.timedelta(days=1)}T12:00",
            "logger_interval_minutes": 15,
            **changes,
        },
    )


@pytest.mark.django_db
def test_receive_then_release_a_lot(client, clinician):
    product = factories.ProductFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    response = receive(client, product, number="A-17", expires_in_days=200)
    lot = Lot.objects.get(number="A-17")
    assert response.status_code == 302 and lot.status == LotStatus.QUARANTINED
    assert lot.vials.count() == 4
    response = client.post(reverse("lot-release", args=[lot.pk]), {"reason": ""})
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


@pytest.mark.django_db
def test_a_receive_error_keeps_what_was_typed(client, clinician):
    product = factories.ProductFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    response = receive(client, product, number="B-99", expires_in_days=-1)
    html = response.content.decode()
    assert response.status_code == 200 and "The lot has already expired." in html
    assert 'value="B-99"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"received_at": "0001-01-01T00:00"}, "The lot cannot have been received before 01 Jan 2000"),
        ({"received_at": "1900-01-01T00:00"}, "The lot cannot have been received before 01 Jan 2000"),
        ({"expires_on": "9999-12-31"}, "lies beyond any product&#x27;s shelf life from this receipt"),
    ],
)
def test_an_implausible_receipt_or_expiry_is_refused_on_its_field(client, clinician, changes, message):
    product = factories.ProductFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    response = receive(client, product, number="T-1", expires_in_days=200, **changes)
    assert response.status_code == 200
    field = next(iter(changes))
    assert message in response.content.decode()
    assert list(response.context["form"].errors) == [field]
    assert not (Lot.objects.exists() or LotEvent.objects.exists() or Vial.objects.exists())


@pytest.mark.django_db
def test_the_cold_chain_reason_is_worded_for_whoever_reads_it(client, clinician):
    """Uploaded in German, shown in English and German: the clinic's wall clock (the file says
    10:15+01:00), localized numbers, the singular for one reading."""
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinician.clinic))
    clinician.language = "de"
    clinician.save()
    client.force_login(clinician)
    berlin = zoneinfo.ZoneInfo(clinician.clinic.time_zone)
    local = dt.datetime.combine(
        clinic_today(lot.product.clinic) - dt.timedelta(days=1), dt.time(10, 15), berlin
    )
    upload = SimpleUploadedFile("log.csv", f"recorded_at,celsius\n{local.isoformat()},-8.5\n".encode())
    response = upload_and_save(client, lot, upload, follow=True)
    german = f"Kühlkette: 1 Messwert außerhalb von -25,0 bis -15,0 °C (am {local:%d.%m.%Y} 10:15: -8,50 °C)."
    page = response.content.decode()
    assert "1 Messwert gespeichert, 0 bereits bekannt." in page
    assert page.count(german) == 2  # the notice and the status history
    assert german in client.get(reverse("today")).content.decode()
    clinician.language = "en"
    clinician.save()
    english = f"Cold chain: 1 reading outside -25.0 to -15.0 °C (at {local:%d %b %Y}, 10:15: -8.50 °C)."
    assert client.get(reverse("lot", args=[lot.pk])).content.decode().count(english) == 2
    assert english in client.get(reverse("today")).content.decode()


@pytest.mark.django_db
def test_temperature_upload_with_an_excursion_quarantines_and_charts(client, clinician):
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinician.clinic))
    client.force_login(clinician)
    upload = SimpleUploadedFile(
        "log.csv", logger_csv(timezone.now() - dt.timedelta(hours=3), count=8, hot={5})
    )
    response = upload_and_save(client, lot, upload)
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    html = client.get(reverse("lot", args=[lot.pk])).content.decode()
    assert '<svg class="chart"' in html and html.count('class="excursion"') == 1
    assert 'class="range"' in html


@pytest.mark.django_db
def test_a_bad_csv_is_refused_with_its_lines(client, clinician):
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinician.clinic))
    client.force_login(clinician)
    upload = SimpleUploadedFile("log.csv", b"recorded_at,celsius\n2026-01-01T08:00:00+01:00,cold\n")
    response = client.post(reverse("lot-temperatures", args=[lot.pk]), {"file": upload})
    assert response.status_code == 200
    assert "Line 2" in response.content.decode()


@pytest.mark.django_db
def test_thaw_a_vial_starts_the_countdown_and_discard_asks_first(client, clinician):
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinician.clinic))
    vial = factories.VialFactory(lot=lot)
    client.force_login(clinician)
    client.post(reverse("vial-action", args=[lot.pk, vial.pk, "thaw"]))
    vial.refresh_from_db()
    assert vial.state == VialState.THAWED
    assert "data-countdown-until" in client.get(reverse("lot", args=[lot.pk])).content.decode()
    confirm = client.get(reverse("vial-action", args=[lot.pk, vial.pk, "discard"]))
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    vial.refresh_from_db()
    assert vial.state == VialState.THAWED
    client.post(reverse("vial-action", args=[lot.pk, vial.pk, "discard"]))
    vial.refresh_from_db()
    assert vial.state == VialState.DISCARDED


@pytest.mark.django_db
def test_recall_confirms_then_lists_the_patients_and_downloads_csv(client, clinician):
    application = factories.ExosomeApplicationFactory(
        session__patient=factories.PatientFactory(clinic=clinician.clinic, identity__family_name="Recallme"),
        session__clinician=clinician,
    )
    lot = application.lot
    client.force_login(clinician)
    confirm = client.get(reverse("lot-recall", args=[lot.pk]))
    assert confirm.status_code == 200
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    response = client.post(reverse("lot-recall", args=[lot.pk]), {"reason": "Manufacturer recall"})
    assert response["Location"] == reverse("lot-affected", args=[lot.pk])
    lot.refresh_from_db()
    assert lot.status == LotStatus.RECALLED
    page = client.get(response["Location"]).content.decode()
    assert "Recallme" in page and "+49 30 1234567" in page
    csv = client.get(reverse("lot-affected", args=[lot.pk]), {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert "Recallme" in csv.content.decode() and ",+49 30 1234567," in csv.content.decode()
    assert "?format=xlsx" in page
    xlsx = client.get(reverse("lot-affected", args=[lot.pk]), {"format": "xlsx"})
    assert xlsx["Content-Type"] == XLSX_CONTENT_TYPE
    assert f'filename="recall-{lot.number}.xlsx"' in xlsx["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header, values = ([c.value for c in row] for row in sheet.iter_rows(max_row=2))
    row = dict(zip(header, values, strict=True))
    assert (row["family_name"], row["phone"]) == ("Recallme", "+49 30 1234567")
    clinic_zone = lot.product.clinic.time_zone
    performed = application.session.performed_at.astimezone(zoneinfo.ZoneInfo(clinic_zone))
    assert row[f"performed_at ({clinic_zone})"] == performed.replace(tzinfo=None, microsecond=0)


@pytest.mark.django_db
def test_clinic_admin_changes_a_product(client, clinic_admin):
    product = factories.ProductFactory(clinic=clinic_admin.clinic, use_by_minutes=120)
    login_with_mfa(client, clinic_admin)
    url = reverse("product-edit", args=[product.pk])
    page = client.get(url).content.decode()
    assert f'value="{product.name}"' in page
    form = {
        "name": product.name,
        "manufacturer": product.manufacturer,
        "source": product.source,
        "storage_form": product.storage_form,
        "storage_min_c": "-25.0",
        "storage_max_c": "-15.0",
        "use_by_minutes": "90",
        "max_freeze_thaw_cycles": "1",
        "volume_min_ml": "1.00",
        "volume_max_ml": "3.00",
        "vial_volume_ml": "5.00",
    }
    assert client.post(url, form).status_code == 302
    product.refresh_from_db()
    assert product.use_by_minutes == 90
    refused = client.post(url, form | {"storage_max_c": "-30.0"})
    assert refused.status_code == 200 and "must lie above the minimum" in refused.content.decode()
    clinic_admin.language = "de"
    clinic_admin.save()
    refused = client.post(url, form | {"storage_min_c": "2", "storage_max_c": "8", "volume_min_ml": "0"})
    assert refused.context["form"].errors == {
        "storage_max_c": [
            "Ein tiefgekühltes Produkt taut über 0 °C auf: Sein Lagermaximum darf nicht darüber liegen. "
            "Für ein gekühltes, aber nicht gefrorenes Produkt wählen Sie eine andere Lagerform."
        ],
        "volume_min_ml": ["Dieser Wert muss größer oder gleich 0,01 sein."],
    }


# The cells of a table that are cut off: their text, or the cell itself by the box it scrolls in.
CLIPPED = """
table => [...table.querySelectorAll('th, td')]
  .filter(cell => {
    const box = cell.getBoundingClientRect();
    const frame = cell.closest('.tablewrap, .card').getBoundingClientRect();
    return cell.scrollWidth > cell.clientWidth || box.right > frame.right || box.left < frame.left;
  })
  .map(cell => cell.innerText)
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_expiring_lots_fit_their_card_on_the_german_today_page(browser_page, live_server):
    """At 1280 px the card "Chargen, die bald verfallen" shows every column whole."""
    clinic = factories.ClinicFactory()
    user = factories.UserFactory(clinic=clinic, role="clinician", language="de")
    product = factories.ProductFactory(clinic=clinic, name="ExoCord Serum")
    factories.LotFactory(
        product=product,
        number="EC-2026-0733",
        vials_received=12,
        expires_on=timezone.localdate() + dt.timedelta(days=20),
    )
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    table = page.locator('section[aria-labelledby="h-attention"] table')
    assert table.locator("thead th").last.inner_text() == "Verbleibende Fläschchen"
    assert table.locator("tbody td").last.inner_text() == "12"
    assert table.evaluate(CLIPPED) == []
    page.check_clean()
