"""Recall: every patient and session that received a lot, with contacts, in one query; CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests import factories

from exoderm.products import services
from exoderm.products.models import LotStatus
from exoderm.treatments.recall import COLUMNS, affected_by_lot, recall_csv, recall_xlsx

T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture
def lot(clinic):
    return factories.LotFactory(product__clinic=clinic)


def session(patient, at):
    return factories.TreatmentSessionFactory(patient=patient, performed_at=at)


def test_affected_rows_cover_every_application_in_one_query(clinic, lot):
    first = factories.PatientFactory(
        clinic=clinic, identity__given_name="Anna", identity__email="anna@example.org"
    )
    second = factories.PatientFactory(clinic=clinic)
    late = session(first, T0 + dt.timedelta(days=30))
    early = session(second, T0)
    factories.ExosomeApplicationFactory(session=late, lot=lot, areas=["face"])
    factories.ExosomeApplicationFactory(session=late, lot=lot, areas=["neck"])
    factories.ExosomeApplicationFactory(session=early, lot=lot)
    factories.ExosomeApplicationFactory(session=session(first, T0))  # another lot
    with CaptureQueriesContext(connection) as queries:
        rows = affected_by_lot(lot)
    assert len(queries) == 1
    assert [(r.session_id, r.areas) for r in rows] == [
        (early.pk, ["face"]),
        (late.pk, ["face"]),
        (late.pk, ["neck"]),
    ]
    anna = rows[1]
    assert (anna.patient_id, anna.patient_code, anna.given_name, anna.email) == (
        first.pk,
        first.code,
        "Anna",
        "anna@example.org",
    )
    assert (anna.phone, anna.language) == ("+49 30 1234567", "de")
    assert anna.date_of_birth == dt.date(1980, 5, 17)
    assert anna.clinician == late.clinician.get_full_name()


def test_patient_without_identity_still_listed(clinic, lot):
    patient = factories.PatientFactory(clinic=clinic, identity=None)
    factories.ExosomeApplicationFactory(session=session(patient, T0), lot=lot)
    (row,) = affected_by_lot(lot)
    assert (row.patient_code, row.given_name, row.email, row.date_of_birth) == (patient.code, "", "", None)


def test_recall_marks_the_lot_once(lot, clinician):
    services.recall_lot(lot=lot, reason="Manufacturer notice 2026-11", by=clinician)
    services.recall_lot(lot=lot, reason="again", by=clinician)
    lot.refresh_from_db()
    assert lot.status == LotStatus.RECALLED and lot.status_reason == "Manufacturer notice 2026-11"
    assert lot.events.filter(to_status=LotStatus.RECALLED).count() == 1


def test_assistant_cannot_recall(lot, assistant):
    with pytest.raises(PermissionDenied):
        services.recall_lot(lot=lot, reason="x", by=assistant)


def test_csv_has_a_header_quotes_and_defuses_formulas(clinic, lot):
    patient = factories.PatientFactory(
        clinic=clinic,
        identity__family_name='=HYPERLINK("http://evil")',
        identity__given_name="Jo, Ann",
        identity__address="Hauptstraße 1\n10115 Berlin",
    )
    factories.ExosomeApplicationFactory(session=session(patient, T0), lot=lot, areas=["face", "neck"])
    text = recall_csv(affected_by_lot(lot), time_zone=BERLIN)
    assert "\r\n" in text
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == COLUMNS
    record = dict(zip(header, row, strict=True))
    assert record["family_name"] == '\'=HYPERLINK("http://evil")'
    assert record["given_name"] == "Jo, Ann"
    assert record["areas"] == "face, neck"
    assert record["performed_at"] == "2026-10-01T11:00:00+02:00"  # the clinic's clock, with its offset
    assert record["phone"] == "+49 30 1234567"  # a phone number is no formula: no quote
    assert record["address"] == "Hauptstraße 1\n10115 Berlin"  # quoted, the newline kept


def test_csv_times_follow_the_clinics_clock_across_the_change_to_winter_time(clinic, lot):
    patient = factories.PatientFactory(clinic=clinic)
    # 25 October 2026: 00:30 UTC is 02:30 summer time, 01:30 UTC is 02:30 winter time
    for at in (
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),
    ):
        factories.ExosomeApplicationFactory(session=session(patient, at), lot=lot, applied_at=at)
    rows = list(csv.DictReader(io.StringIO(recall_csv(affected_by_lot(lot), time_zone=BERLIN))))
    assert [row["performed_at"] for row in rows] == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
    assert [row["applied_at"] for row in rows] == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]


def test_xlsx_has_typed_cells_a_frozen_header_and_no_formula(clinic, lot):
    patient = factories.PatientFactory(
        clinic=clinic,
        identity__family_name='=HYPERLINK("http://evil")',
        identity__phone="+49 30 1234567",
        identity__date_of_birth=dt.date(1980, 5, 17),
    )
    application = factories.ExosomeApplicationFactory(
        session=session(patient, T0), lot=lot, areas=["face", "neck"], volume_ml=Decimal("0.50")
    )
    workbook = openpyxl.load_workbook(io.BytesIO(recall_xlsx(affected_by_lot(lot), time_zone=BERLIN)))
    sheet = workbook.active
    header = [c.value for c in sheet[1]]
    assert header == [
        f"{name} (Europe/Berlin)" if name in ("performed_at", "applied_at") else name for name in COLUMNS
    ]
    assert sheet.freeze_panes == "A2"
    cells = {name: c for name, c in zip(COLUMNS, sheet[2], strict=True)}
    assert (cells["family_name"].value, cells["family_name"].data_type) == ('=HYPERLINK("http://evil")', "s")
    assert (cells["phone"].value, cells["phone"].data_type) == ("+49 30 1234567", "s")
    assert (cells["patient_id"].value, cells["patient_id"].data_type) == (patient.pk, "n")
    assert (cells["volume_ml"].value, cells["volume_ml"].data_type) == (0.5, "n")
    assert cells["date_of_birth"].is_date and cells["date_of_birth"].value == dt.datetime(1980, 5, 17)
    assert cells["performed_at"].is_date and cells["performed_at"].value == dt.datetime(2026, 10, 1, 11, 0)
    local_applied = application.applied_at.astimezone(BERLIN).replace(tzinfo=None, microsecond=0)
    assert cells["applied_at"].value == local_applied
    assert (cells["areas"].value, cells["restricted"].value) == ("face, neck", False)
    assert sheet.column_dimensions["F"].width > len("email")  # as wide as the address in it
