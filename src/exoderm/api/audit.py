"""The clinic's audit trail for its admins (/api/v1/audit, /api/v1/audit.csv); reading it is
recorded like any other read (exoderm.audit.reads).

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from exoderm.api.courses import current_user
from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.sessions import Id
from exoderm.audit import selectors
from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.core.spreadsheet import csv_text
from exoderm.studies.blinding import TrailChanges, trail_changes_for

router = Router(tags=["audit"])


def _trail_changes(request: HttpRequest) -> TrailChanges:
    """How the requesting user may read events' changes (a blinded reader: allocation records
    without values), worked out once per request."""
    if not hasattr(request, "exoderm_trail_changes"):
        request.exoderm_trail_changes = trail_changes_for(user=current_user(request))  # type: ignore[attr-defined]
    return request.exoderm_trail_changes  # type: ignore[attr-defined]


class AuditQuery(Schema):
    patient: Id | None = Field(None, description="id of a patient: events about this patient")
    user: Id | None = Field(None, description="id of a user: what this user did")
    action: AuditAction | None = None
    since: dt.datetime | None = Field(None, description="from this time on (ISO 8601; UTC if no offset)")
    until: dt.datetime | None = Field(None, description="before this time")

    def to_filter(self) -> selectors.AuditFilter:
        def aware(value: dt.datetime | None) -> dt.datetime | None:
            if value is None or timezone.is_aware(value):
                return value
            return value.replace(tzinfo=dt.UTC)

        return selectors.AuditFilter(
            patient=self.patient,
            user=self.user,
            action=self.action,
            since=aware(self.since),
            until=aware(self.until),
        )


class AuditEventOut(Schema):
    id: int
    at: dt.datetime
    action: str
    channel: str = Field(description="web, api, cli or worker")
    user_id: int | None
    username: str
    role: str
    object_type: str = Field(description="app.model of the record, or what a list showed")
    object_id: str
    patient_id: int | None
    changes: dict[str, Any] = Field(
        description="for writes: per field {old, new}; secrets, and a study's allocation for a reader "
        "blinded to it, only {changed: true}"
    )
    route: str = Field(description="for reads: the URL route")
    query: dict[str, Any] = Field(description="for reads: the query parameters")
    ip: str
    user_agent: str
    request_id: str
    hash: str

    @staticmethod
    def resolve_changes(obj: AuditEvent, context: dict[str, Any]) -> dict[str, Any]:
        return _trail_changes(context["request"])(obj.object_type, obj.patient_id, obj.changes)


@router.get("/audit", response={200: list[AuditEventOut], 403: Problem}, summary="Audit trail")
@paginate(Page)
def audit_events(request: HttpRequest, filters: Query[AuditQuery]) -> Any:
    """Who wrote and read what in the clinic, newest first (clinic admins only)."""
    return selectors.events(by=current_user(request), filters=filters.to_filter())


_CSV_RESPONSE = {
    "description": "CSV, columns: " + ", ".join(selectors.CSV_COLUMNS),
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.get(
    "/audit.csv",
    response={200: None, 403: Problem},
    summary="Audit trail as CSV",
    openapi_extra={"responses": {200: _CSV_RESPONSE}},
)
def audit_csv(request: HttpRequest, filters: Query[AuditQuery]) -> HttpResponse:
    """All events of ``/audit`` (same filters, not paginated) as CSV (RFC 4180, UTF-8)."""
    found = selectors.events(by=current_user(request), filters=filters.to_filter())
    response = HttpResponse(
        csv_text(selectors.CSV_COLUMNS, selectors.csv_rows(found, shown=_trail_changes(request))),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response
