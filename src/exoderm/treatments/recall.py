"""Recall: every patient and session that received a lot, with contact details, in one query.

Read-only. Marking the lot recalled is :func:`exoderm.products.services.recall_lot`; callers
check ``Action.VIEW_IDENTITY`` (the rows name patients).

A recall must reach everyone, so a restricted record (after an erasure request) is still a row,
with ``restricted`` set and no names or contact details: the clinic admin reads it with a reason.
Applications in records erased for good are counted by :func:`erased_applications`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import astuple, dataclass, fields
from decimal import Decimal
from zoneinfo import ZoneInfo

from exoderm.core.spreadsheet import csv_text, xlsx_bytes
from exoderm.patients.models import ErasedApplication
from exoderm.products.models import Lot
from exoderm.treatments.models import ExosomeApplication


@dataclass(frozen=True)
class RecallRow:
    """One application of the lot: who received it, when, where on the body, and how to reach them."""

    patient_id: int
    patient_code: str
    given_name: str
    family_name: str
    date_of_birth: dt.date | None
    email: str
    phone: str
    address: str
    language: str
    session_id: int
    performed_at: dt.datetime
    clinician: str
    vial_serial: int
    volume_ml: Decimal
    areas: list[str]
    applied_at: dt.datetime
    restricted: bool


COLUMNS = [f.name for f in fields(RecallRow)]
_TIME_COLUMNS = ("performed_at", "applied_at")

_VALUES = {
    "patient_id": "session__patient_id",
    "patient_code": "session__patient__code",
    "given_name": "session__patient__identity__given_name",
    "family_name": "session__patient__identity__family_name",
    "date_of_birth": "session__patient__identity__date_of_birth",
    "email": "session__patient__identity__email",
    "phone": "session__patient__identity__phone",
    "address": "session__patient__identity__address",
    "language": "session__patient__identity__language",
    "session_id": "session_id",
    "performed_at": "session__performed_at",
    "clinician_first": "session__clinician__first_name",
    "clinician_last": "session__clinician__last_name",
    "clinician_username": "session__clinician__username",
    "vial_serial": "vial__serial",
    "volume_ml": "volume_ml",
    "areas": "areas",
    "applied_at": "applied_at",
    "restricted_at": "session__patient__restricted_at",
}

_IDENTIFYING = ("given_name", "family_name", "date_of_birth", "email", "phone", "address")


def affected_by_lot(lot: Lot) -> list[RecallRow]:
    """Every application of ``lot``, by session time, as rows with the patient's contact details.

    One query: the lot's applications (indexed by lot) joined to session, patient, identity
    (a patient without identity gives empty contact fields), clinician and vial.
    """
    rows = (
        ExosomeApplication.objects.filter(lot_id=lot.pk)
        .order_by("session__performed_at", "session_id", "applied_at", "id")
        .values_list(*_VALUES.values())
    )
    result = []
    for values in rows:
        row = dict(zip(_VALUES, values, strict=True))
        first, last, username = (
            row.pop("clinician_first"),
            row.pop("clinician_last"),
            row.pop("clinician_username"),
        )
        row["clinician"] = f"{first} {last}".strip() or username
        row["restricted"] = row.pop("restricted_at") is not None
        if row["restricted"]:
            row.update(dict.fromkeys(_IDENTIFYING))
        for name in ("given_name", "family_name", "email", "phone", "address", "language"):
            row[name] = row[name] or ""
        result.append(RecallRow(**row))
    return result


def erased_applications(lot: Lot) -> int:
    """How many applications of ``lot`` were in records erased for good after their retention."""
    return ErasedApplication.objects.filter(lot_id=lot.pk).count()


def _on_the_clinics_clock(rows: list[RecallRow], time_zone: ZoneInfo) -> list[tuple[object, ...]]:
    return [
        tuple(
            value.astimezone(time_zone) if isinstance(value, dt.datetime) else value for value in astuple(row)
        )
        for row in rows
    ]


def recall_csv(rows: list[RecallRow], *, time_zone: ZoneInfo) -> str:
    """The rows as RFC 4180 CSV (comma, CRLF, quoted where needed) with a header line; times on
    the clinic's clock (``time_zone``) with their offset, ``2026-10-01T11:00:00+02:00``."""
    return csv_text(COLUMNS, _on_the_clinics_clock(rows, time_zone))


def recall_xlsx(rows: list[RecallRow], *, time_zone: ZoneInfo) -> bytes:
    """The rows as an ``.xlsx`` sheet with typed cells (text never a formula); times are the
    clinic's wall clock, the zone named in their column's header."""
    columns = [f"{name} ({time_zone.key})" if name in _TIME_COLUMNS else name for name in COLUMNS]
    return xlsx_bytes(columns, (astuple(row) for row in rows), sheet="recall", time_zone=time_zone)
