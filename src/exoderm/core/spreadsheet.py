"""CSV that spreadsheets and other clinical systems read: RFC 4180 (comma, CRLF, quoted where
needed), UTF-8, a header line, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal


def cell(value: object) -> str:
    """One cell: numbers as Python writes them (a minus sign there is no formula), booleans as
    in JSON, dates in ISO 8601, lists comma-separated, and text starting like a formula guarded
    with a quote (OWASP CSV injection)."""
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
    if text[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        text = "'" + text
    return text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The header line ``columns`` and the ``rows`` as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()
