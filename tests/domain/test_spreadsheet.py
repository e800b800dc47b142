"""Spreadsheets: CSV cells that never run as a harmful formula yet keep phone numbers readable,
and .xlsx workbooks whose cells are typed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import openpyxl
import pytest

from exoderm.core.spreadsheet import cell, csv_text, formula_like, xlsx_bytes


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil","x")',
        "=1+1",
        "+SUM(A1:A9)",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1)",
        "\t=1",
        "\r=1",
        "\x00=1",
        "   =1+1",  # leading spaces: some spreadsheets skip them
        "\uff1dSUM(1)",  # full-width equals sign
        "+49 30 1234567 ext. A",  # a letter: no longer only a number
    ],
)
def test_formulas_are_guarded_with_a_quote(text):
    assert formula_like(text)
    assert cell(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    ["+49 30 1234567", "+49 (0)30 123-45-67", "-5", "+1 212 555 0100", "0049/30/1234567", "Müller", ""],
)
def test_phone_numbers_and_plain_text_stay_as_they_are(text):
    assert not formula_like(text)
    assert cell(text) == text


def test_typed_values_become_cells():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert cell(None) == ""
    assert (cell(True), cell(False)) == ("true", "false")
    assert (cell(-3), cell(Decimal("0.50")), cell(-1.5)) == ("-3", "0.50", "-1.5")
    assert cell(["face", "neck"]) == "face, neck"
    assert cell(dt.date(1980, 5, 17)) == "1980-05-17"
    assert (
        cell(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC).astimezone(berlin)) == "2026-11-01T10:00:00+01:00"
    )


def test_csv_has_a_header_crlf_and_quotes_where_needed():
    text = csv_text(["name", "phone"], [["Jo, Ann", "+49 30 1234567"], ["=cmd", None]])
    assert text.startswith("name,phone\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "phone"],
        ["Jo, Ann", "+49 30 1234567"],
        ["'=cmd", ""],
    ]


def test_xlsx_types_every_cell_and_freezes_the_header():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    rows = [
        [
            "=1+1",
            "+49 30 1234567",
            3,
            Decimal("0.25"),
            True,
            dt.date(1980, 5, 17),
            dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC),
            ["a", "b"],
        ],
        [None, "", -1.5, float("nan"), False, None, None, []],
    ]
    columns = ["text", "phone", "count", "volume", "flag", "born", "at", "list"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(columns, rows, sheet="data", time_zone=berlin)))
    sheet = book["data"]
    assert [c.value for c in sheet[1]] == columns and all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:H3"
    first = sheet[2]
    assert [(c.value, c.data_type) for c in first[:5]] == [
        ("=1+1", "s"),  # text, never a formula
        ("+49 30 1234567", "s"),
        (3, "n"),
        (0.25, "n"),
        (True, "b"),
    ]
    assert first[5].is_date and first[5].value == dt.datetime(1980, 5, 17)
    assert first[6].is_date and first[6].value == dt.datetime(2026, 11, 1, 10, 0)  # Berlin's clock
    assert first[7].value == "a, b"
    second = sheet[3]
    assert second[0].value is None and second[2].value == -1.5
    assert (second[3].value, second[3].data_type) == ("nan", "s")  # Excel has no NaN
    assert 8 <= sheet.column_dimensions["A"].width <= 52
    assert sheet.column_dimensions["B"].width >= len("+49 30 1234567")
