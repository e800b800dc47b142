"""Logger exports as logger software writes them: the table found between a header block and a
summary, German and English headers, separators, date orders, decimal commas, °F, and local times
in the clinic's zone around both clock changes.

The sample files in ``data/loggers/`` are reconstructed from the vendors' manuals and typical exports
(Testo ComSoft and Saveris, ELPRO ELIOShub/ECOLOG, LogTag Analyzer), not copies of real exports.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from exoderm.products import coldchain

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SAMPLES = Path(__file__).parent / "data" / "loggers"


def read(name: str, **options) -> coldchain.LoggerFile:
    return coldchain.read_logger_file((SAMPLES / name).read_bytes(), time_zone=BERLIN, **options)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def skipped(found: coldchain.LoggerFile) -> list[tuple[int, int, str]]:
    return [(s.first, s.last, s.reason) for s in found.skipped]


def refusal(content: str, **options) -> list[str]:
    with pytest.raises(ValidationError) as error:
        coldchain.read_logger_file(content, **{"time_zone": BERLIN, **options})
    return error.value.message_dict["file"]


def test_testo_comsoft_windows_text_with_decimal_comma_and_a_summary():
    found = read("testo_comsoft.csv")
    assert [r.celsius for r in found.readings] == [
        Decimal(v) for v in ("-20.4", "-20.5", "-20.3", "-19.8", "-20.1", "-20.9", "-20.6", "-20.2")
    ]
    # 04.10.2026 08:00 in Berlin is summer time, UTC+2.
    assert found.readings[0].recorded_at == utc("2026-10-04T06:00")
    assert found.readings[-1].recorded_at == utc("2026-10-04T07:45")
    assert found.readings[0].where == "Line 9"
    fmt = found.format
    assert (fmt.encoding, fmt.separator, fmt.header_line) == ("Windows-1252", ";", 8)
    assert (fmt.time_column, fmt.temperature_column) == ("Datum/Zeit", "Temperatur [°C]")
    assert (fmt.date_style, fmt.decimal_comma, fmt.fahrenheit) == ("dd.mm.yyyy", True, False)
    assert fmt.time_zone == "Europe/Berlin"
    assert skipped(found) == [
        (1, 7, "before the table"),
        (8, 8, "the table's header"),
        (18, 21, "after the table"),
    ]


def test_testo_saveris_separate_date_and_time_columns_across_the_autumn_clock_change():
    """01:30 to 03:15 on the night the clocks go back: 02:00-02:45 twice, the second pass after
    the first, every reading 15 minutes after the one before in UTC."""
    found = read("testo_saveris.csv", interval_minutes=15)
    instants = [r.recorded_at for r in found.readings]
    assert instants == [utc("2026-10-24T23:30") + dt.timedelta(minutes=15 * i) for i in range(12)]
    assert found.format.repeated_hour_readings == 8
    assert found.format.time_column == "Datum + Uhrzeit"
    assert skipped(found) == [
        (1, 4, "before the table"),
        (6, 6, "the table's header"),
        (20, 20, "after the table"),
    ]


def test_the_repeated_hour_is_also_placed_from_the_files_own_interval():
    assert len(read("testo_saveris.csv").readings) == 12


def test_elpro_missing_reading_is_skipped_and_reported_leaving_a_gap():
    found = read("elpro_ecolog.csv")
    assert [r.recorded_at for r in found.readings] == [
        utc("2026-11-02T07:00"),
        utc("2026-11-02T07:10"),
        utc("2026-11-02T07:30"),
        utc("2026-11-02T07:40"),
        utc("2026-11-02T07:50"),
    ]
    assert found.readings[3].celsius == Decimal("-14.60")
    assert (found.format.temperature_column, found.format.decimal_comma) == ("T1 [°C]", False)
    assert (10, 10, "no reading (the logger wrote '---')") in skipped(found)
    assert skipped(found)[-1] == (15, 18, "after the table")
    gaps = coldchain.check(
        [(r.recorded_at, r.celsius) for r in found.readings],
        minimum=Decimal("-25"),
        maximum=Decimal("-15"),
        interval_minutes=10,
    )
    assert [g.minutes for g in gaps.gaps] == [] and len(gaps.excursions) == 1


def test_logtag_comma_csv_with_day_first_slashed_dates():
    found = read("logtag_dmy.csv")
    assert found.format.date_style == "dd/mm/yyyy" and found.format.separator == ","
    assert found.readings[0].recorded_at == utc("2026-11-14T21:00")
    assert found.readings[-1].recorded_at == utc("2026-11-14T23:30")
    assert [str(r.celsius) for r in found.readings] == ["4.20", "4.40", "4.10", "3.90", "4.00", "4.30"]


def test_logtag_fahrenheit_is_converted_to_celsius():
    found = read("logtag_iso_fahrenheit.csv")
    assert found.format.fahrenheit and found.format.date_style == "yyyy-mm-dd"
    assert [r.celsius for r in found.readings] == [
        Decimal(v) for v in ("-20.00", "-20.50", "-19.50", "-15.00")
    ]
    assert found.readings[0].recorded_at == utc("2026-11-20T08:00")
    assert "Degrees Fahrenheit, converted to degrees Celsius" in found.format.description()


def test_the_hour_repeated_in_autumn_is_refused_when_the_readings_do_not_tell_which():
    """Hourly readings and one 02:30: the first or the second 02:30, a reading is missing either way."""
    text = "Datum/Zeit;Temperatur [°C]\n25.10.2026 01:30;-20\n25.10.2026 02:30;-20\n25.10.2026 03:30;-20\n"
    (message,) = refusal(text, interval_minutes=60)
    assert message.startswith("Line 3: 2026-10-25 02:30 happened twice on the clinic's clock (Europe/Berlin")
    assert "export the log with UTC offsets" in message


def test_a_repeated_hour_out_of_order_is_refused():
    text = "Datum/Zeit;Temperatur [°C]\n25.10.2026 02:30;-20\n25.10.2026 02:15;-20\n25.10.2026 03:00;-20\n"
    messages = refusal(text, interval_minutes=15)
    assert messages[0].startswith("Line 2: 2026-10-25 02:30 happened twice")


def test_the_skipped_spring_hour_is_refused_naming_the_line():
    text = "Datum/Zeit;Temperatur [°C]\n29.03.2026 01:45;-20\n29.03.2026 02:00;-20\n29.03.2026 03:00;-20\n"
    (message,) = refusal(text)
    assert message.startswith("Line 3: 2026-03-29 02:00 does not exist on the clinic's clock (Europe/Berlin")


def test_spring_readings_around_the_skipped_hour_are_fifteen_minutes_apart():
    text = "Datum/Zeit;Temperatur [°C]\n29.03.2026 01:45;-20\n29.03.2026 03:00;-20\n"
    found = coldchain.read_logger_file(text, time_zone=BERLIN)
    assert [r.recorded_at for r in found.readings] == [utc("2026-03-29T00:45"), utc("2026-03-29T01:00")]


def test_iso_with_offsets_stays_accepted_and_needs_no_time_zone():
    found = coldchain.read_logger_file("recorded_at,celsius\n2026-10-25T02:30:00+01:00,-20.5\n")
    assert found.readings[0].recorded_at == utc("2026-10-25T01:30") and found.format.time_zone == ""
    assert found.format.date_style == "ISO 8601"


def test_local_times_without_the_clinics_zone_are_refused():
    with pytest.raises(ValidationError, match="has no UTC offset"):
        coldchain.read_logger_file("Datum/Zeit;Temperatur [°C]\n01.11.2026 08:00;-20\n")


def test_a_file_mixing_times_with_and_without_offsets_is_refused():
    text = "Date/Time,Temperature\n2026-11-01T08:00:00+01:00,-20\n2026-11-01 08:15:00,-20\n"
    (message,) = refusal(text)
    assert message.startswith("Line 3: the time has no UTC offset, but Line 2 has one")


@pytest.mark.parametrize(
    ("dates", "style", "first"),
    [
        (("11/30/2026 08:00 AM", "11/30/2026 08:15 AM"), "mm/dd/yyyy", "2026-11-30T07:00"),
        (("30/11/2026 08:00", "30/11/2026 08:15"), "dd/mm/yyyy", "2026-11-30T07:00"),
        # No day above 12: only one order keeps consecutive readings less than a day apart (15
        # minutes across midnight, not from the 11th of one month to the 11th of the next).
        (("05/11/2026 23:45", "06/11/2026 00:00"), "dd/mm/yyyy", "2026-11-05T22:45"),
        (("11/05/2026 11:45 PM", "11/06/2026 12:00 AM"), "mm/dd/yyyy", "2026-11-05T22:45"),
    ],
)
def test_the_order_of_slashed_dates_is_told_by_a_day_above_twelve_or_by_the_readings_order(
    dates, style, first
):
    text = "Date,Temperature (°C)\n" + "".join(f"{d},-20\n" for d in dates)
    found = coldchain.read_logger_file(text, time_zone=BERLIN)
    assert found.format.date_style == style
    assert found.readings[0].recorded_at == utc(first)


def test_slashed_dates_that_read_both_ways_are_refused():
    (message,) = refusal("Date,Temperature (°C)\n01/11/2026 08:00,-20\n01/11/2026 08:15,-20\n")
    assert "can be read as day/month/year or as month/day/year" in message and "01/11/2026" in message


def test_tab_separated_with_a_unicode_minus_and_the_unit_in_the_cell():
    found = coldchain.read_logger_file(
        "Zeit\tTemperatur\n01.11.2026 08:00:00\t\u221220,5 °C\n", time_zone=BERLIN
    )
    assert found.format.separator == "\t" and found.readings[0].celsius == Decimal("-20.50")


def test_a_line_in_the_middle_of_the_table_that_is_no_reading_refuses_the_file():
    text = "Datum/Zeit;Temperatur [°C]\n01.11.2026 08:00;-20\nStromausfall\n01.11.2026 08:30;-20\n"
    assert refusal(text) == ["Line 3: not a reading, inside the table."]


def test_a_row_with_more_columns_than_the_header_is_refused():
    text = "Datum/Zeit;Temperatur [°C]\n01.11.2026 08:00;-20;-21\n"
    assert refusal(text) == ["Line 2: expected 2 columns like the header line, found 3."]


def test_a_fahrenheit_reading_beyond_any_possible_temperature_is_refused():
    (message,) = refusal("Date/Time,Temperature (°F)\n2026-11-01 08:00,-500\n")
    assert message.startswith("Line 2:") and "is not a possible temperature" in message


def test_a_header_without_readings_is_refused():
    assert refusal("Titel\nDatum/Zeit;Temperatur [°C]\nMinimum;-20\n") == ["The file holds no readings."]


def test_a_fast_logger_across_the_autumn_change_keeps_every_reading_in_order():
    """Every 10 seconds through the night the clocks go back: 720 readings in the repeated hour."""
    start = utc("2026-10-24T23:50")
    instants = [start + dt.timedelta(seconds=10 * i) for i in range(6 * 60 * 2 + 6 * 20)]
    lines = [f"{at.astimezone(BERLIN):%d.%m.%Y %H:%M:%S};-20,0" for at in instants]
    found = coldchain.read_logger_file("Datum/Zeit;Temperatur [°C]\n" + "\n".join(lines), time_zone=BERLIN)
    assert [r.recorded_at for r in found.readings] == instants
    assert found.format.repeated_hour_readings == 720


def test_a_letter_f_in_a_celsius_header_is_no_fahrenheit():
    text = "Zeit;Temp f. Tiefkühler [°C]\n01.11.2026 08:00;-20\n"
    found = coldchain.read_logger_file(text, time_zone=BERLIN)
    assert not found.format.fahrenheit and found.readings[0].celsius == Decimal("-20.00")
