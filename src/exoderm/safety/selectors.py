"""Reads of adverse events, always of patients the caller already holds within one clinic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.patients.selectors import open_records
from exoderm.safety.models import AdverseEvent

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic
    from exoderm.patients.models import Patient


def adverse_events_of(
    *, patients: QuerySet[Patient] | Iterable[Patient], since: dt.date | None = None
) -> QuerySet[AdverseEvent]:
    """The adverse events of ``patients`` (a queryset or a list), newest onset first, with their
    session and who recorded them; with ``since`` only those with an onset on or after that day.

    Restricted records (an erasure request) are left out, as from every list. The caller chose
    the patients within its clinic (:func:`exoderm.core.access.in_clinic`).
    """
    events = open_records(AdverseEvent.objects.filter(patient__in=patients)).select_related(
        "patient", "session", "recorded_by"
    )
    if since is not None:
        events = events.filter(onset__gte=since)
    return events.order_by("-onset", "-id")


def adverse_event_of(*, clinic: Clinic, event_id: Any) -> AdverseEvent:
    """One event of the clinic (``NotFound`` for another clinic's id or a restricted record's)."""
    events = open_records(AdverseEvent.objects.select_related("patient__clinic", "session", "recorded_by"))
    return get_in_clinic(events, clinic, event_id)


def clinic_adverse_events(
    *,
    clinic: Clinic,
    resolved: bool | None = None,
    serious: bool | None = None,
    term: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[AdverseEvent]:
    """The clinic's adverse events, newest onset first: by whether they are ``resolved``
    (``False``: the open ones), by seriousness, term and onset between ``since`` and ``until``
    (both included); a filter left at None or empty lets every event through."""
    events = open_records(in_clinic(AdverseEvent, clinic)).select_related("patient", "session", "recorded_by")
    if resolved is not None:
        events = events.filter(resolved_on__isnull=not resolved)
    if serious is not None:
        events = events.filter(serious=serious)
    if term:
        events = events.filter(term=term)
    if since is not None:
        events = events.filter(onset__gte=since)
    if until is not None:
        events = events.filter(onset__lte=until)
    return events.order_by("-onset", "-id")


#: The columns of the clinic's adverse-event download, always in this order.
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


def adverse_event_rows(events: Iterable[AdverseEvent]) -> list[tuple[object, ...]]:
    """One row of :data:`COLUMNS` per event: codes as stored (not translated), for other systems."""
    return [
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
            event.recorded_at,
        )
        for event in events
    ]
