"""Spreadsheets for people and other clinical systems: CSV (RFC 4180: comma, CRLF, quoted where
needed; UTF-8; a header line) and Excel's ``.xlsx`` with typed cells.

Formulas (OWASP "CSV injection"): a spreadsheet that opens a CSV runs a cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula, and a formula can call functions,
open links (``=HYPERLINK``) or, in old Excel, start programs (DDE). OWASP's advice is to prefix
such a cell with a quote, which stops that but shows the quote to anyone who reads the file
another way, and spoiled every phone number written as ``+49 …``. Here a text is quoted only when
it could do harm: when it starts like a formula (after leading spaces too, and in the full-width
forms) *and* holds anything but digits and the punctuation of numbers (spaces, ``+ - ( ) / . ,``).
Such a text — a phone number, ``-5`` — can at most be computed with; no function, cell
reference, link or command can be written without a letter or another sign. The ``.xlsx``
download needs no quote at all: its text cells are typed as text and never evaluated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

import xlsxwriter

# What a spreadsheet takes as the start of a formula (with NUL, as ASVS 1.2.10 lists it), also in
# the full-width forms of East Asian input.
FORMULA_START = frozenset("=+-@\t\r\x00\uff1d\uff0b\uff0d\uff20")
_NUMBER_PUNCTUATION_ONLY = re.compile(r"[\d\s+\-()/.,]*\d[\d\s+\-()/.,]*")

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Widths in characters: wide enough for a date with its time, not wider than a screen's third.
MIN_WIDTH = 8
MAX_WIDTH = 50


def formula_like(text: str) -> bool:
    """Whether a spreadsheet opening ``text`` in a CSV could run it as a harmful formula."""
    starts_like_formula = text[:1] in FORMULA_START or text.lstrip(" ")[:1] in FORMULA_START
    return starts_like_formula and not _NUMBER_PUNCTUATION_ONLY.fullmatch(text)


def cell(value: object) -> str:
    """One CSV cell: numbers as Python writes them (a minus sign there is no formula), booleans as
    in JSON, dates and times in ISO 8601 (times with their offset), lists comma-separated, and a
    text that could run as a formula guarded with a quote (module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list):
        text = ", ".join(map(str, value))
    elif isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if formula_like(text) else text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The header line ``columns`` and the ``rows`` as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


def xlsx_bytes(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, sheet: str, time_zone: ZoneInfo | None = None
) -> bytes:
    """The header row ``columns`` (bold, frozen, with a filter) and the ``rows`` as an ``.xlsx``
    workbook of one sheet named ``sheet``, every cell typed: text as text (never a formula, a link
    or a number), numbers as numbers, booleans as booleans, dates as dates, and times as date-times
    on the wall clock of ``time_zone`` (Excel has no offsets: say the zone in the column's name).
    Columns are as wide as their longest value, within ``MIN_WIDTH`` and ``MAX_WIDTH``."""
    out = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    with xlsxwriter.Workbook(out, options) as workbook:
        worksheet = workbook.add_worksheet(sheet[:31])  # Excel's limit for a sheet name
        header = workbook.add_format({"bold": True, "bottom": 1})
        formats = {
            dt.date: workbook.add_format({"num_format": "yyyy-mm-dd"}),
            dt.datetime: workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        widths = [len(name) for name in columns]
        for index, name in enumerate(columns):
            worksheet.write_string(0, index, name, header)
        row_count = 0
        for row_count, row in enumerate(rows, start=1):
            for index, value in enumerate(row):
                shown = _write(worksheet, row_count, index, value, formats, time_zone)
                widths[index] = max(widths[index], len(shown))
        worksheet.freeze_panes(1, 0)
        worksheet.autofilter(0, 0, row_count, len(columns) - 1)
        for index, width in enumerate(widths):
            worksheet.set_column(index, index, min(max(width, MIN_WIDTH), MAX_WIDTH) + 2)
    return out.getvalue()


def _write(
    worksheet: xlsxwriter.worksheet.Worksheet,
    row: int,
    column: int,
    value: object,
    formats: dict[type[dt.date], xlsxwriter.format.Format],
    time_zone: ZoneInfo | None,
) -> str:
    """Write one typed cell; the text it shows, for the column's width."""
    if value is None:
        return ""
    if isinstance(value, bool):
        worksheet.write_boolean(row, column, value)
        return str(value).upper()
    if isinstance(value, int | float | Decimal) and math.isfinite(value):
        worksheet.write_number(row, column, float(value))
        return str(value)
    if isinstance(value, dt.datetime):
        local = value.astimezone(time_zone) if time_zone is not None and value.tzinfo else value
        # to the second, as shown: a spreadsheet's fraction of a day would carry a rounded remainder
        local = local.replace(tzinfo=None, microsecond=0)
        worksheet.write_datetime(row, column, local, formats[dt.datetime])
        return local.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        worksheet.write_datetime(row, column, value, formats[dt.date])
        return value.isoformat()
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    worksheet.write_string(row, column, text)
    return max(text.splitlines() or [""], key=len)
