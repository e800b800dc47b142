"""Cold chain: logger CSV and JSON batches, excursions and gaps quarantine the lot, all-or-nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from tests import factories

from exoderm.products import coldchain, selectors, services, wording
from exoderm.products.models import LotEvent, LotStatus, ReasonCode, TemperatureReading

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def csv_of(*values, start=T0, minutes=15, header=True):
    """A logger CSV with one reading every ``minutes`` from ``start``."""
    lines = ["recorded_at,celsius"] if header else []
    lines += [f"{(start + dt.timedelta(minutes=minutes * i)).isoformat()},{v}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def lot(clinic):
    product = factories.ProductFactory(
        clinic=clinic, storage_min_c=Decimal("-25"), storage_max_c=Decimal("-15")
    )
    return factories.LotFactory(product=product, status=LotStatus.RELEASED, logger_interval_minutes=15)


def ingest(lot, text, by):
    return services.ingest_temperatures(lot=lot, readings=coldchain.parse_csv(text.encode()), by=by)


# --- parsing ------------------------------------------------------------------------------------


def test_csv_with_header_bom_offsets_and_z():
    text = "\ufefftime;temp\n2026-11-01T09:00:00+01:00;-20,5\n\n2026-11-01T08:15:00Z;-20,4\n"
    readings = coldchain.parse_csv(text.encode())
    assert [(r.recorded_at, r.celsius) for r in readings] == [
        (T0, Decimal("-20.50")),
        (T0 + dt.timedelta(minutes=15), Decimal("-20.40")),
    ]


def test_csv_without_header():
    assert len(coldchain.parse_csv(csv_of("-20", "-21", header=False))) == 2


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("2026-11-01T08:30:00+00:00,cold", "not a number"),
        ("2026-13-01T08:30:00+00:00,-20", "not an ISO 8601 timestamp"),
        ("2026-11-01T08:30:00,-20", "no UTC offset"),
        ("2026-11-01T08:30:00+00:00", "expected 2 columns"),
        ("2026-11-01T08:30:00+00:00,-20,55", "expected 2 columns"),
        ("2026-11-01T08:30:00+00:00,-400", "not a possible temperature"),
        ("2026-11-01T08:00:00+00:00,-20", "repeats the timestamp"),
    ],
)
def test_a_bad_line_refuses_the_file_and_names_the_line(lot, clinician, bad_line, message):
    text = csv_of("-20", "-20") + bad_line + "\n"
    with pytest.raises(ValidationError) as error:
        ingest(lot, text, clinician)
    (text_of_error,) = error.value.message_dict["file"]
    assert text_of_error.startswith("Line 4:")
    assert message in text_of_error
    assert not TemperatureReading.objects.filter(lot=lot).exists()
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_every_bad_line_is_reported():
    text = "2026-11-01T08:00:00+00:00,x\n2026-11-01T08:15:00+00:00,-20\n2026-11-01T08:30:00,y\n"
    with pytest.raises(ValidationError) as error:
        coldchain.parse_csv(text)
    assert [m.split(":")[0] for m in error.value.message_dict["file"]] == ["Line 1", "Line 3"]


def test_a_file_of_errors_reports_the_first_twenty_and_the_rest_as_a_count():
    with pytest.raises(ValidationError) as error:
        coldchain.parse_csv("".join(f"2026-11-01T08:{i:02d}:00+00:00,x\n" for i in range(25)))
    messages = error.value.message_dict["file"]
    assert len(messages) == 21
    assert messages[19].startswith("Line 20:") and messages[20] == "… and 5 more errors."


def test_one_error_beyond_the_twenty_is_counted_in_the_singular():
    with translation.override("de"), pytest.raises(ValidationError) as error:
        coldchain.parse_csv("".join(f"2026-11-01T08:{i:02d}:00+00:00,x\n" for i in range(21)))
    assert error.value.message_dict["file"][-1] == "… und 1 weiterer Fehler."


def test_an_empty_file_and_a_non_utf8_file_are_refused():
    with pytest.raises(ValidationError, match="no readings"):
        coldchain.parse_csv(b"recorded_at,celsius\n")
    with pytest.raises(ValidationError, match="not UTF-8"):
        coldchain.parse_csv("2026-11-01T08:00:00+00:00,-20\n".encode("utf-16"))


def test_json_batch_refuses_naive_timestamps_by_position():
    with pytest.raises(ValidationError) as error:
        coldchain.parse_batch([(T0, Decimal("-20")), (dt.datetime(2026, 11, 1, 8, 15), Decimal("-20"))])
    (message,) = error.value.message_dict["readings"]
    assert message.startswith("Reading 2:") and "no UTC offset" in message


# --- the check ----------------------------------------------------------------------------------


def test_clean_log_keeps_the_lot_released(lot, clinician):
    result = ingest(lot, csv_of("-20", "-19.5", "-24.9", "-15"), clinician)
    assert (result.stored, result.duplicates, result.quarantined) == (4, 0, False)
    assert not result.check
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


@pytest.mark.parametrize("value", ["-14.9", "-25.1"])
def test_excursion_above_or_below_range_quarantines_with_reason_and_readings(lot, clinician, value):
    result = ingest(lot, csv_of("-20", value, "-20"), clinician)
    assert result.quarantined and result.status == LotStatus.QUARANTINED
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    assert lot.status_changed_by is None  # the system, not the uploader
    assert lot.status_reason_code == ReasonCode.COLD_CHAIN
    assert lot.status_reason.startswith(
        "Cold chain: 1 reading outside -25.0 to -15.0 °C (at 01 Nov 2026, 09:15:"
    )
    event = LotEvent.objects.get(lot=lot, to_status=LotStatus.QUARANTINED)
    assert event.from_status == LotStatus.RELEASED
    assert event.details["excursions"] == [
        {
            "recorded_at": (T0 + dt.timedelta(minutes=15)).isoformat(),
            "celsius": str(Decimal(value).quantize(Decimal("0.01"))),
        }
    ]
    assert event.details["gaps"] == []


def test_gap_longer_than_twice_the_interval_quarantines(lot, clinician):
    text = csv_of("-20", "-20") + f"{(T0 + dt.timedelta(minutes=15 + 31)).isoformat()},-20\n"
    result = ingest(lot, text, clinician)
    assert result.quarantined
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    assert lot.status_reason == (
        "Cold chain: 1 gap in the log longer than 30 minutes (from 01 Nov 2026, 09:15 to 01 Nov 2026, 09:46)."
    )
    event = lot.events.get(to_status=LotStatus.QUARANTINED)
    assert event.details["gaps"] == [
        {
            "start": (T0 + dt.timedelta(minutes=15)).isoformat(),
            "end": (T0 + dt.timedelta(minutes=46)).isoformat(),
            "minutes": 31.0,
        }
    ]


def test_the_reason_is_worded_for_each_reader_on_the_clinics_clock(lot, clinician):
    """A German upload stores no German text: each reader gets the reason in their language, the
    times on the clinic's wall clock (Berlin, UTC+1 in November), the numbers in their format."""
    text = csv_of("-20", "-8.5", "-9", start=T0) + f"{(T0 + dt.timedelta(hours=2)).isoformat()},-20\n"
    with translation.override("de"):
        ingest(lot, text, clinician)
    lot = selectors.lot(lot.product.clinic, lot.pk)
    event = selectors.lot_events(lot).first()
    assert (lot.status_reason_code, event.reason_code) == (ReasonCode.COLD_CHAIN, ReasonCode.COLD_CHAIN)
    with translation.override("de"):
        assert (
            wording.lot_reason(lot)
            == wording.event_reason(event)
            == (
                "Kühlkette: 2 Messwerte außerhalb von -25,0 bis -15,0 °C "
                "(erster am 01.11.2026 09:15: -8,50 °C); "
                "1 Lücke im Protokoll länger als 30 Minuten (von 01.11.2026 09:30 bis 01.11.2026 11:00)."
            )
        )
    with translation.override("en"):
        assert wording.lot_reason(lot) == (
            "Cold chain: 2 readings outside -25.0 to -15.0 °C (first at 01 Nov 2026, 09:15: -8.50 °C); "
            "1 gap in the log longer than 30 minutes (from 01 Nov 2026, 09:30 to 01 Nov 2026, 11:00)."
        )


def test_a_gap_of_exactly_twice_the_interval_is_tolerated(lot, clinician):
    text = csv_of("-20") + f"{(T0 + dt.timedelta(minutes=30)).isoformat()},-20\n"
    assert not ingest(lot, text, clinician).quarantined


def test_gap_across_two_uploads_is_found_in_the_whole_log(lot, clinician):
    ingest(lot, csv_of("-20", "-20"), clinician)
    ingest(lot, csv_of("-20", "-20", start=T0 + dt.timedelta(hours=2)), clinician)
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED


def test_identical_reupload_is_idempotent(lot, clinician):
    text = csv_of("-20", "-10", "-20")
    ingest(lot, text, clinician)
    again = ingest(lot, text, clinician)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, False)
    assert TemperatureReading.objects.filter(lot=lot).count() == 3
    assert lot.events.filter(to_status=LotStatus.QUARANTINED).count() == 1


def test_a_different_value_for_a_stored_instant_refuses_the_upload(lot, clinician):
    ingest(lot, csv_of("-20", "-20"), clinician)
    with pytest.raises(ValidationError, match="differs from the stored"):
        ingest(lot, csv_of("-20", "-21", "-20"), clinician)
    assert TemperatureReading.objects.filter(lot=lot).count() == 2


def test_released_again_after_excursion_stays_released_on_reupload_but_not_on_new_excursion(lot, clinician):
    text = csv_of("-20", "-10", "-20")
    ingest(lot, text, clinician)
    services.release_lot(
        lot=lot, by=clinician, reason="Manufacturer confirms stability for 15 min at -10 °C."
    )
    assert not ingest(lot, text, clinician).quarantined
    assert ingest(lot, csv_of("-20", "-5", start=T0 + dt.timedelta(minutes=45)), clinician).quarantined


def test_excursion_of_a_new_quarantined_lot_is_recorded_so_release_needs_a_reason(clinic, clinician):
    product = factories.ProductFactory(clinic=clinic)
    lot = services.receive_lot(
        product=product, number="Q1", expires_on=dt.date(2030, 1, 1), vials_received=2, by=clinician
    )
    result = ingest(lot, csv_of("-20", "0"), clinician)
    assert result.quarantined and result.status == LotStatus.QUARANTINED
    with pytest.raises(ValidationError) as error:
        services.release_lot(lot=lot, by=clinician)
    assert "reason" in error.value.message_dict


def test_recalled_lot_stores_readings_but_keeps_its_status(lot, clinician):
    services.recall_lot(lot=lot, reason="Manufacturer recall", by=clinician)
    result = ingest(lot, csv_of("-20", "0"), clinician)
    assert result.stored == 2 and not result.quarantined and result.status == LotStatus.RECALLED


def test_readings_from_the_future_are_refused(lot, clinician):
    from django.utils import timezone

    start = timezone.now() - dt.timedelta(minutes=5)
    with pytest.raises(ValidationError) as error:
        ingest(lot, csv_of("-20", "-20", start=start, minutes=60), clinician)
    (message,) = error.value.message_dict["readings"]
    assert message.startswith("Line 3:") and "lies in the future" in message
    assert not TemperatureReading.objects.exists()


def test_researcher_cannot_upload(lot, researcher):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        ingest(lot, csv_of("-20"), researcher)
