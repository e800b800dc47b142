"""The clinic's adverse events as a download: CSV and its ``.xlsx`` twin (``exoderm.core.spreadsheet``),
codes as stored (not translated) so that other systems can read them, columns always in this order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE, csv_text, xlsx_bytes
from exoderm.safety.models import AdverseEvent

COLUMNS = (
    "id",
    "patient_code",
    "session_id",
    "term",
    "description",
    "side",
    "onset",
    "resolved_on",
    "severity_ctcae",
    "serious",
    "report_date",
    "related_to_procedure",
    "related_to_product",
    "recorded_by",
    "recorded_at",
)
_TIME_COLUMNS = ("recorded_at",)


def _rows(events: Iterable[AdverseEvent], time_zone: ZoneInfo) -> list[tuple[object, ...]]:
    """One row of :data:`COLUMNS` per event, its time on the clinic's clock."""
    rows: list[tuple[object, ...]] = []
    for event in events:
        recorded_at: dt.datetime = event.recorded_at.astimezone(time_zone)
        rows.append(
            (
                event.pk,
                event.patient.code,
                event.session_id,
                event.term,
                event.description,
                event.side,
                event.onset,
                event.resolved_on,
                event.severity,
                event.serious,
                event.report_date,
                event.related_to_procedure,
                event.related_to_product,
                event.recorded_by.display_name,
                recorded_at,
            )
        )
    return rows


def events_csv(events: Iterable[AdverseEvent], *, time_zone: ZoneInfo) -> str:
    """RFC 4180 CSV with a header line; the time recorded on the clinic's clock with its offset."""
    return csv_text(COLUMNS, _rows(events, time_zone))


def events_xlsx(events: Iterable[AdverseEvent], *, time_zone: ZoneInfo) -> bytes:
    """The rows of :func:`events_csv` as a workbook with typed cells (text never a formula); the
    time recorded on the clinic's wall clock, the zone named in its column's header."""
    columns = [f"{name} ({time_zone.key})" if name in _TIME_COLUMNS else name for name in COLUMNS]
    return xlsx_bytes(columns, _rows(events, time_zone), sheet="adverse events", time_zone=time_zone)


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_CONTENT_TYPE}


def events_file(events: Iterable[AdverseEvent], *, kind: str, time_zone: ZoneInfo) -> tuple[str | bytes, str]:
    """The download of ``kind`` (``csv`` or ``xlsx``): its content and content type."""
    if kind == "csv":
        return events_csv(events, time_zone=time_zone), CONTENT_TYPES[kind]
    return events_xlsx(events, time_zone=time_zone), CONTENT_TYPES[kind]
