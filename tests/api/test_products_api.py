"""The products, lots, temperatures and recall endpoints: happy paths, errors, roles, isolation."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from tests import factories

from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.products.models import Lot, LotStatus, TemperatureReading

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def logger_csv(*values, start=T0):
    lines = ["recorded_at,celsius"]
    lines += [f"{(start + dt.timedelta(minutes=15 * i)).isoformat()},{v}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


PRODUCT = {
    "name": "ExoSkin",
    "source": "umbilical_cord_msc",
    "storage_form": "frozen",
    "storage_min_c": -25,
    "storage_max_c": -15,
    "use_by_minutes": 60,
    "max_freeze_thaw_cycles": 1,
    "volume_min_ml": 1,
    "volume_max_ml": 3,
}


@pytest.fixture
def lot(clinic):
    return factories.LotFactory(product__clinic=clinic, vials_received=2)


@pytest.fixture
def foreign_lot(other_clinic):
    lot = factories.LotFactory(product__clinic=other_clinic, status=LotStatus.QUARANTINED)
    factories.VialFactory(lot=lot, serial=1)
    return lot


def test_products_create_list_get_patch(api_as, clinic_admin):
    api = api_as(clinic_admin)
    created = api.post("/products", PRODUCT)
    assert created.status_code == 201, created.content
    product = created.json()
    assert api.get("/products").json()["items"] == [product]
    assert api.get(f"/products/{product['id']}").json() == product
    patched = api.patch(f"/products/{product['id']}", {"use_by_minutes": 90})
    assert patched.status_code == 200 and patched.json()["use_by_minutes"] == 90


def test_product_errors_are_422_problems(api_as, clinic_admin, clinician):
    bad = api_as(clinic_admin).post("/products", {**PRODUCT, "storage_min_c": -10, "storage_max_c": -20})
    assert bad.status_code == 422
    assert bad["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["storage_max_c"]
    assert api_as(clinician).post("/products", PRODUCT).status_code == 403


def test_receive_release_and_detail(api_as, clinic, assistant, clinician):
    product = factories.ProductFactory(clinic=clinic)
    body = {"product": product.pk, "number": "A-1", "expires_on": "2030-01-01", "vials_received": 3}
    received = api_as(assistant).post("/lots", body)
    assert received.status_code == 201, received.content
    lot = received.json()
    assert (lot["status"], lot["vials_received"], lot["vials_used"], lot["vials_left"]) == (
        "quarantined",
        3,
        0,
        3,
    )
    duplicate = api_as(assistant).post("/lots", body)
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["field"] == "number"

    assert api_as(assistant).post(f"/lots/{lot['id']}/release", {}).status_code == 403
    released = api_as(clinician).post(f"/lots/{lot['id']}/release", {})
    assert released.status_code == 200, released.content
    detail = released.json()
    assert detail["status"] == "released"
    assert detail["status_changed_by"] == clinician.get_full_name()
    assert [(e["to_status"], e["by"]) for e in detail["events"]] == [
        ("released", clinician.get_full_name()),
        ("quarantined", assistant.get_full_name()),
    ]


def test_lot_list_filters_and_pages(api_as, clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    factories.LotFactory(product=product, status=LotStatus.QUARANTINED)
    factories.LotFactory(product=product)
    factories.LotFactory(product__clinic=clinic)
    api = api_as(assistant)
    assert api.get("/lots").json()["count"] == 3
    assert api.get("/lots", {"status": "quarantined"}).json()["count"] == 1
    assert api.get("/lots", {"product": product.pk}).json()["count"] == 2
    assert len(api.get("/lots", {"limit": 1}).json()["items"]) == 1
    assert api.get("/lots", {"status": "frozen"}).status_code == 422
    assert api.get("/lots", {"product": 10**30}).status_code == 422


def test_vial_thaw_via_api(api_as, lot, assistant):
    vial = factories.VialFactory(lot=lot, serial=1)
    thawed = api_as(assistant).post(f"/lots/{lot.pk}/vials/{vial.pk}/thaw", {})
    assert thawed.status_code == 200, thawed.content
    assert (thawed.json()["state"], thawed.json()["freeze_thaw_cycles"]) == ("thawed", 1)
    again = api_as(assistant).post(f"/lots/{lot.pk}/vials/{vial.pk}/thaw", {})
    assert again.status_code == 422
    assert api_as(assistant).get(f"/lots/{lot.pk}/vials").json()["items"][0]["state"] == "thawed"
    assert api_as(assistant).post(f"/lots/{lot.pk}/vials/{vial.pk}/refreeze", {}).json()["state"] == "stored"
    assert (
        api_as(assistant).post(f"/lots/{lot.pk}/vials/{vial.pk}/discard", {}).json()["state"] == "discarded"
    )
    assert api_as(assistant).post(f"/lots/{lot.pk}/vials/{vial.pk}/reconstitute", {}).status_code == 422
    counts = api_as(assistant).get(f"/lots/{lot.pk}").json()
    assert (counts["vials_used"], counts["vials_discarded"], counts["vials_left"]) == (1, 1, 1)


def test_manual_quarantine_via_api(api_as, lot, assistant):
    response = api_as(assistant).post(f"/lots/{lot.pk}/quarantine", {"reason": "Freezer door open"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == (
        "quarantined",
        "Freezer door open",
    )


# --- temperatures -------------------------------------------------------------------------------


def test_json_batch_excursion_quarantines_and_shows_readings(api_as, lot, assistant):
    readings = [
        {"recorded_at": (T0 + dt.timedelta(minutes=15 * i)).isoformat(), "celsius": c}
        for i, c in enumerate([-20, -8.5, -20])
    ]
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", {"readings": readings})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["stored"], body["quarantined"], body["status"]) == (3, True, "quarantined")
    assert [float(e["celsius"]) for e in body["excursions"]] == [-8.5]
    log = api_as(assistant).get(f"/lots/{lot.pk}/temperatures").json()
    assert len(log["readings"]) == 3 and len(log["excursions"]) == 1
    detail = api_as(assistant).get(f"/lots/{lot.pk}").json()
    assert detail["status_reason"].startswith("Cold chain:")
    assert detail["events"][0]["details"]["excursions"][0]["celsius"] == "-8.50"


def test_csv_body_gap_quarantines(api_as, lot, assistant):
    text = logger_csv(-20) + f"{(T0 + dt.timedelta(hours=1)).isoformat()},-20\n"
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", text, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["gaps"][0]["minutes"] == 60
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED


def test_csv_multipart_upload(api_as, lot, assistant):
    upload = SimpleUploadedFile("log.csv", logger_csv(-20, -21).encode(), content_type="text/csv")
    response = api_as(assistant).client.post(
        f"/api/v1/lots/{lot.pk}/temperatures", {"file": upload}, headers=api_as(assistant).headers
    )
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 2 and not response.json()["quarantined"]


def test_malformed_csv_names_the_line_and_stores_nothing(api_as, lot, assistant):
    text = logger_csv(-20, -20) + "2026-11-01T09:00:00,-20\n"
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", text, content_type="text/csv")
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"].startswith("Line 4:")
    assert not TemperatureReading.objects.exists()


def test_reupload_is_idempotent_and_a_changed_value_is_refused(api_as, lot, assistant):
    api = api_as(assistant)
    path = f"/lots/{lot.pk}/temperatures"
    assert api.post(path, logger_csv(-20, -21), content_type="text/csv").json()["stored"] == 2
    again = api.post(path, logger_csv(-20, -21, -22), content_type="text/csv").json()
    assert (again["stored"], again["duplicates"]) == (1, 2)
    changed = api.post(path, logger_csv(-20, -19), content_type="text/csv")
    assert changed.status_code == 422 and "Line 3:" in changed.json()["detail"]
    window = api.get(path, {"since": (T0 + dt.timedelta(minutes=15)).isoformat()}).json()
    assert [float(r["celsius"]) for r in window["readings"]] == [-21, -22]


def test_malformed_json_batch_is_422(api_as, lot, assistant):
    api = api_as(assistant)
    missing = api.post(f"/lots/{lot.pk}/temperatures", {"readings": [{"celsius": -20}]})
    assert missing.status_code == 422
    naive = api.post(
        f"/lots/{lot.pk}/temperatures", {"readings": [{"recorded_at": "2026-11-01T08:00", "celsius": 1}]}
    )
    assert naive.status_code == 422 and "no UTC offset" in naive.json()["detail"]
    other = api.post(f"/lots/{lot.pk}/temperatures", "x", content_type="text/plain")
    assert other.status_code == 415
    assert not TemperatureReading.objects.exists()


# --- recall -------------------------------------------------------------------------------------


def test_recall_returns_patients_with_contacts_and_csv(api_as, clinic, lot, clinician, assistant):
    patient = factories.PatientFactory(clinic=clinic, identity__email="anna@example.org")
    application = factories.ExosomeApplicationFactory(session__patient=patient, lot=lot)
    assert api_as(assistant).post(f"/lots/{lot.pk}/recall", {"reason": "x"}).status_code == 403
    assert api_as(clinician).get(f"/lots/{lot.pk}/recall.csv").status_code == 422  # not recalled yet

    response = api_as(clinician).post(f"/lots/{lot.pk}/recall", {"reason": "Manufacturer notice"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lot"]["status"] == "recalled"
    (row,) = body["affected"]
    assert (row["patient_id"], row["session_id"], row["email"]) == (
        patient.pk,
        application.session_id,
        "anna@example.org",
    )
    assert Lot.objects.get(pk=lot.pk).status == LotStatus.RECALLED

    assert api_as(clinician).get(f"/lots/{lot.pk}/recall").json() == body
    download = api_as(clinician).get(f"/lots/{lot.pk}/recall.csv")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert f'filename="recall-{lot.number}.csv"' in download["Content-Disposition"]
    records = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [(r["patient_code"], r["email"]) for r in records] == [(patient.code, "anna@example.org")]

    workbook = api_as(clinician).get(f"/lots/{lot.pk}/recall.xlsx")
    assert workbook.status_code == 200 and workbook["Content-Type"] == XLSX_CONTENT_TYPE
    assert f'filename="recall-{lot.number}.xlsx"' in workbook["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    header, values = ([c.value for c in row] for row in sheet.iter_rows(max_row=2))
    assert dict(zip(header, values, strict=True))["email"] == "anna@example.org"


def test_researcher_cannot_release_or_recall(api_as, lot, researcher):
    api = api_as(researcher)
    assert api.post(f"/lots/{lot.pk}/release", {}).status_code == 403
    assert api.post(f"/lots/{lot.pk}/recall", {"reason": "x"}).status_code == 403


# --- clinic isolation ---------------------------------------------------------------------------


def foreign_calls(lot):
    vial = lot.vials.get()
    base = f"/lots/{lot.pk}"
    return [
        ("get", f"/products/{lot.product_id}", None),
        ("patch", f"/products/{lot.product_id}", {"use_by_minutes": 5}),
        (
            "post",
            "/lots",
            {"product": lot.product_id, "number": "X", "expires_on": "2030-01-01", "vials_received": 1},
        ),
        ("get", base, None),
        ("post", f"{base}/release", {"reason": "x"}),
        ("post", f"{base}/quarantine", {"reason": "x"}),
        ("get", f"{base}/vials", None),
        *[
            ("post", f"{base}/vials/{vial.pk}/{action}", {})
            for action in ("thaw", "reconstitute", "refreeze", "discard")
        ],
        ("get", f"{base}/temperatures", None),
        ("post", f"{base}/temperatures", {"readings": [{"recorded_at": T0.isoformat(), "celsius": -20}]}),
        ("post", f"{base}/recall", {"reason": "x"}),
        ("get", f"{base}/recall", None),
        ("get", f"{base}/recall.csv", None),
        ("get", f"{base}/recall.xlsx", None),
    ]


def test_every_endpoint_answers_404_for_another_clinics_ids(api_as, clinic_admin, clinician, foreign_lot):
    for user in (clinic_admin, clinician):
        api = api_as(user)
        for method, path, data in foreign_calls(foreign_lot):
            response = getattr(api, method)(path, data)
            assert response.status_code == 404, (user.role, method, path, response.content)
            assert response["Content-Type"] == "application/problem+json"
    foreign_lot.refresh_from_db()
    assert foreign_lot.status == LotStatus.QUARANTINED
    assert not foreign_lot.temperatures.exists()
    assert foreign_lot.vials.get().state == "stored"
    assert not Lot.objects.filter(number="X").exists()


def test_a_vial_of_another_lot_is_404(api_as, lot, foreign_lot, assistant):
    own_vial = factories.VialFactory(lot=lot, serial=1)
    other_lot = factories.LotFactory(product=lot.product)
    assert api_as(assistant).post(f"/lots/{other_lot.pk}/vials/{own_vial.pk}/thaw", {}).status_code == 404


def test_lists_show_only_the_own_clinic(api_as, clinic_admin, foreign_lot):
    api = api_as(clinic_admin)
    assert api.get("/products").json()["count"] == 0
    assert api.get("/lots").json()["count"] == 0


# --- implausible dates, contradictory storage, reasons in the reader's language -------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"received_at": "0001-01-01T00:00:00+00:00"}, "received_at"),
        ({"received_at": "0001-01-01T00:00:00+01:00"}, "received_at"),
        ({"received_at": "1900-01-01T12:00:00+01:00"}, "received_at"),
        ({"expires_on": "9999-12-31"}, "expires_on"),
    ],
)
def test_implausible_receipt_and_expiry_are_422_and_store_nothing(api_as, clinic, assistant, changes, field):
    product = factories.ProductFactory(clinic=clinic)
    body = {"product": product.pk, "number": "X-1", "expires_on": "2030-01-01", "vials_received": 3}
    response = api_as(assistant).post("/lots", {**body, **changes})
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Lot.objects.exists()


def test_a_frozen_product_kept_at_2_to_8_degrees_is_refused(api_as, clinic_admin):
    response = api_as(clinic_admin).post(
        "/products", {**PRODUCT, "storage_min_c": 2, "storage_max_c": 8}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "storage_max_c" and "Ein tiefgekühltes Produkt" in error["message"]


def test_a_limit_in_a_german_error_has_a_decimal_comma(api_as, clinic_admin):
    response = api_as(clinic_admin).post(
        "/products", {**PRODUCT, "volume_min_ml": 0}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "Dieser Wert muss größer oder gleich 0,01 sein."


def test_the_cold_chain_reason_comes_as_code_and_in_the_requests_language(api_as, lot, assistant):
    readings = [
        {"recorded_at": (T0 + dt.timedelta(minutes=15 * i)).isoformat(), "celsius": c}
        for i, c in enumerate([-20, -8.5])
    ]
    german = {"Accept-Language": "de"}
    assert (
        api_as(assistant)
        .post(f"/lots/{lot.pk}/temperatures", {"readings": readings}, headers=german)
        .json()["quarantined"]
    )
    expected = "Kühlkette: 1 Messwert außerhalb von -25,0 bis -15,0 °C (am 01.11.2026 09:15: -8,50 °C)."
    detail = api_as(assistant).get(f"/lots/{lot.pk}", headers=german).json()
    assert (detail["status_reason"], detail["events"][0]["reason"]) == (expected, expected)
    assert detail["status_reason_code"] == detail["events"][0]["reason_code"] == "cold_chain"
    assert detail["status_reason_params"]["first_excursion"] == {
        "recorded_at": (T0 + dt.timedelta(minutes=15)).isoformat(),
        "celsius": "-8.50",
    }
    english = api_as(assistant).get(f"/lots/{lot.pk}", headers={"Accept-Language": "en"}).json()
    assert english["status_reason"] == (
        "Cold chain: 1 reading outside -25.0 to -15.0 °C (at 01 Nov 2026, 09:15: -8.50 °C)."
    )
