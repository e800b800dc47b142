"""The API reads logger exports as the page does, and previews an upload without storing it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from tests import factories

from exoderm.products.models import LotStatus, TemperatureReading

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent.parent / "domain" / "data" / "loggers"


@pytest.fixture
def lot(clinic):
    product = factories.ProductFactory(
        clinic=clinic, storage_min_c=Decimal("-25"), storage_max_c=Decimal("-15")
    )
    return factories.LotFactory(product=product, status=LotStatus.RELEASED, logger_interval_minutes=15)


def preview_csv(api, lot, content: bytes):
    return api.post(f"/lots/{lot.pk}/temperatures/preview", content, content_type="text/csv")


def test_preview_of_a_testo_export_stores_nothing(api_as, lot, assistant):
    content = (SAMPLES / "testo_comsoft.csv").read_bytes()
    response = api_as(assistant).post(
        f"/lots/{lot.pk}/temperatures/preview", content, content_type="text/csv"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["readings"], body["new"], body["known"]) == (8, 8, 0)
    assert body["first"] == "2026-10-04T06:00:00Z" and body["last"] == "2026-10-04T07:45:00Z"
    assert (body["lowest"], body["highest"]) == ("-20.90", "-19.80")
    assert body["interval_minutes"] == 15
    assert body["format"]["encoding"] == "Windows-1252" and body["format"]["decimal_comma"]
    assert body["format"]["time_zone"] == "Europe/Berlin"
    assert body["skipped"][0] == {"first": 1, "last": 7, "reason": "before the table"}
    assert body["excursions"] == [] and body["gaps"] == [] and body["refusals"] == []
    assert body["would_quarantine"] is False
    assert not TemperatureReading.objects.exists()


def test_preview_of_a_multipart_upload_names_the_excursions_it_would_add(api_as, lot, assistant):
    api = api_as(assistant)
    content = (SAMPLES / "elpro_ecolog.csv").read_bytes()
    upload = SimpleUploadedFile("elpro.csv", content, content_type="text/csv")
    response = api.client.post(
        f"/api/v1/lots/{lot.pk}/temperatures/preview", {"file": upload}, headers=api.headers
    )
    body = response.json()
    assert body["excursions"] == [{"recorded_at": "2026-11-02T07:40:00Z", "celsius": "-14.60"}]
    assert body["would_quarantine"] is True
    assert body["skipped"][2]["reason"] == "no reading (the logger wrote '---')"
    assert body["refusals"] == [] and not TemperatureReading.objects.exists()


def test_preview_lists_what_would_refuse_the_upload(api_as, lot, assistant):
    TemperatureReading.objects.create(lot=lot, recorded_at="2026-10-04T06:00:00Z", celsius=Decimal("-19"))
    content = (SAMPLES / "testo_comsoft.csv").read_bytes()
    body = (
        api_as(assistant)
        .post(f"/lots/{lot.pk}/temperatures/preview", content, content_type="text/csv")
        .json()
    )
    assert (body["new"], body["known"]) == (7, 1)
    assert body["refusals"] == [
        "Line 9: -20.40 °C differs from the stored -19.00 °C at 2026-10-04 06:00:00+00:00."
    ]


def test_the_upload_stores_a_logger_export_read_in_the_clinics_time(api_as, lot, assistant):
    content = (SAMPLES / "testo_saveris.csv").read_bytes()
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", content, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 12 and response.json()["gaps"] == []
    instants = list(TemperatureReading.objects.order_by("recorded_at").values_list("recorded_at", flat=True))
    assert len(set(instants)) == 12


def test_an_ambiguous_repeated_hour_is_422_naming_the_line(api_as, lot, assistant):
    text = "Datum/Zeit;Temperatur [°C]\n25.10.2026 01:30;-20\n25.10.2026 02:30;-20\n25.10.2026 03:30;-20\n"
    lot.logger_interval_minutes = 60
    lot.save()
    for path in (f"/lots/{lot.pk}/temperatures", f"/lots/{lot.pk}/temperatures/preview"):
        response = api_as(assistant).post(path, text.encode(), content_type="text/csv")
        assert response.status_code == 422
        assert response.json()["errors"][0]["message"].startswith("Line 3: 2026-10-25 02:30 happened twice")
    assert not TemperatureReading.objects.exists()


def test_a_json_batch_preview_has_no_format(api_as, lot, assistant):
    readings = [{"recorded_at": "2026-11-01T08:00:00+01:00", "celsius": -20}]
    body = api_as(assistant).post(f"/lots/{lot.pk}/temperatures/preview", {"readings": readings}).json()
    assert body["format"] is None and body["readings"] == 1 and body["skipped"] == []


def test_researchers_cannot_preview_and_other_clinics_lots_are_404(api_as, lot, researcher, other_clinic):
    content = (SAMPLES / "testo_comsoft.csv").read_bytes()
    path = f"/lots/{lot.pk}/temperatures/preview"
    assert api_as(researcher).post(path, content, content_type="text/csv").status_code == 403
    stranger = factories.UserFactory(clinic=other_clinic, role="assistant")
    assert api_as(stranger).post(path, content, content_type="text/csv").status_code == 404
