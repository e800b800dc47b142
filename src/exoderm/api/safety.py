"""Adverse events and the healing curve (/api/v1/patients/{id}/adverse-events, /api/v1/adverse-events,
/api/v1/sessions/{id}/healing-curve).

Everything here concerns identified patients: researchers get 403 on every endpoint. Another
clinic's patient, event or session id is a 404.
"""

import datetime as dt
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from exoderm.api.courses import current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.revisions import REASON_DESCRIPTION, RevisionOut
from exoderm.api.types import Id, Note, Text
from exoderm.core.permissions import Action
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.patients import selectors as patient_selectors
from exoderm.patients.models import Patient
from exoderm.photos.selectors import HEALING_METRICS
from exoderm.records.selectors import revisions_of
from exoderm.safety import healing, selectors, services, spreadsheet
from exoderm.safety.models import AdverseEvent, Grade, Relatedness, Side, Term
from exoderm.treatments import selectors as session_selectors
from exoderm.treatments.models import TreatmentSession

router = Router(tags=["safety"])

_TERMS = ", ".join(Term.values)
_RELATEDNESS = ", ".join(Relatedness.values)
_SIDES = ", ".join(Side.values)
_NULLABLE = frozenset({"session", "resolved_on", "report_date"})


class AdverseEventIn(Schema):
    term: Text = Field(description=f"one of {_TERMS}; other needs a description")
    onset: dt.date = Field(description="the day it began, on the clinic's calendar; not in the future")
    severity: int = Field(description="CTCAE grade 1 (mild) to 5 (death)")
    serious: bool = Field(description="a serious adverse event; needs report_date")
    related_to_procedure: Text = Field(description=f"one of {_RELATEDNESS}")
    related_to_product: Text = Field(description=f"one of {_RELATEDNESS}")
    side: Text = Field(Side.WHOLE, description=f"one of {_SIDES} (the patient's own left and right)")
    session: Id | None = Field(None, description="the patient's session the event follows")
    resolved_on: dt.date | None = Field(None, description="not before the onset, not in the future")
    report_date: dt.date | None = Field(None, description="the day a serious event was reported")
    description: Note = ""


class AdverseEventPatch(Schema):
    """The fields to correct; a field left out keeps its value. Like :class:`PatchSchema`, a null is
    refused, except for ``session``, ``resolved_on`` and ``report_date``, which it clears (no
    session, not resolved, not reported)."""

    term: Text | SkipJsonSchema[None] = None
    onset: dt.date | SkipJsonSchema[None] = None
    severity: int | SkipJsonSchema[None] = None
    serious: bool | SkipJsonSchema[None] = None
    related_to_procedure: Text | SkipJsonSchema[None] = None
    related_to_product: Text | SkipJsonSchema[None] = None
    side: Text | SkipJsonSchema[None] = None
    session: Id | None = None
    resolved_on: dt.date | None = None
    report_date: dt.date | None = None
    description: Note | SkipJsonSchema[None] = None
    reason: Note = Field(description=REASON_DESCRIPTION)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in _NULLABLE:
            raise PydanticCustomError(
                "null_refused", _("Give a value, or leave the field out to keep its value.")
            )
        return value


class AdverseEventOut(Schema):
    id: int
    patient: int = Field(alias="patient_id")
    patient_code: str = Field(alias="patient.code")
    session: int | None = Field(alias="session_id")
    term: str
    term_label: str
    description: str
    side: str
    onset: dt.date
    resolved_on: dt.date | None
    open: bool = Field(alias="is_open", description="not resolved yet")
    severity: int = Field(description="CTCAE grade 1-5")
    severity_label: str
    serious: bool
    report_date: dt.date | None
    related_to_procedure: str
    related_to_product: str
    recorded_by: str
    recorded_at: dt.datetime

    @staticmethod
    def resolve_term_label(obj: AdverseEvent) -> str:
        return str(obj.get_term_display())

    @staticmethod
    def resolve_severity_label(obj: AdverseEvent) -> str:
        return str(Grade(obj.severity).label)

    @staticmethod
    def resolve_recorded_by(obj: AdverseEvent) -> str:
        return obj.recorded_by.display_name


class SideHealingPointOut(Schema):
    days: float = Field(description="days since the session")
    value: float
    photo_id: int
    beyond_noise: bool | None = Field(
        description="changed beyond the measurement noise against the reference photo; null: not judged"
    )


class SideCurveOut(Schema):
    side: str
    view: str
    area: str
    regions: list[str]
    reference: SideHealingPointOut | None = Field(
        description="the last photo of the series before the session"
    )
    points: list[SideHealingPointOut]
    peak: SideHealingPointOut | None
    half_level: float | None = Field(description="half of the peak's excess over the reference")
    days_to_half: float | None = Field(description="days until back to half the peak; null: not yet")


class SessionHealingOut(Schema):
    session_id: int
    performed_at: dt.datetime
    metric: str
    window_days: float
    sides: dict[str, SideCurveOut] = Field(description="face_left, face_right: those with photos after it")


def _patient(request: HttpRequest, patient_id: Id) -> Patient:
    clinic = user_clinic(request, Action.VIEW_CLINICAL)
    return patient_selectors.patient_detail(clinic=clinic, patient_id=patient_id)


def _session(request: HttpRequest, session_id: int | None) -> TreatmentSession | None:
    if session_id is None:
        return None
    return session_selectors.session_detail(clinic=user_clinic(request, Action.VIEW_CLINICAL), pk=session_id)


def _event(request: HttpRequest, event_id: Id) -> AdverseEvent:
    return selectors.adverse_event_of(clinic=user_clinic(request, Action.VIEW_CLINICAL), event_id=event_id)


@router.get("/patients/{patient_id}/adverse-events", response=list[AdverseEventOut])
@paginate(Page)
def list_patient_events(request: HttpRequest, patient_id: Id) -> Any:
    """The patient's adverse events, newest onset first."""
    return selectors.adverse_events_of(patients=[_patient(request, patient_id)])


@router.post("/patients/{patient_id}/adverse-events", response={201: AdverseEventOut})
def record_event(request: HttpRequest, patient_id: Id, payload: AdverseEventIn) -> Any:
    """Record an adverse event (clinical staff). Refused with 422 naming each field: an unknown term,
    grade, relatedness or side; a date in the future; resolution or report before the onset; an onset
    before the session's day; a session of another patient; a serious event without report date; the
    term ``other`` without a description."""
    user = current_user(request, Action.RECORD_ADVERSE_EVENT)
    data = payload.dict()
    session = _session(request, data.pop("session"))
    patient = _patient(request, patient_id)
    event = services.record_adverse_event(user=user, patient=patient, session=session, **data)
    return Status(201, _event(request, event.pk))


@router.get("/adverse-events", response=list[AdverseEventOut])
@paginate(Page)
def list_events(
    request: HttpRequest,
    resolved: bool | None = None,
    serious: bool | None = None,
    term: Text = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Any:
    """The clinic's adverse events, newest onset first: ``resolved=false`` the open ones, by
    seriousness, term and onset between ``since`` and ``until`` (both included)."""
    return _clinic_events(request, resolved, serious, term, since, until)


def _clinic_events(
    request: HttpRequest,
    resolved: bool | None,
    serious: bool | None,
    term: str,
    since: dt.date | None,
    until: dt.date | None,
) -> Any:
    return selectors.clinic_adverse_events(
        clinic=user_clinic(request, Action.VIEW_CLINICAL),
        resolved=resolved,
        serious=serious,
        term=term,
        since=since,
        until=until,
    )


def _download(request: HttpRequest, events: Any, kind: str) -> HttpResponse:
    time_zone = zoneinfo.ZoneInfo(user_clinic(request).time_zone)
    content, content_type = spreadsheet.events_file(events, kind=kind, time_zone=time_zone)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="adverse-events.{kind}"'
    return response


@router.get(
    "/adverse-events.csv",
    openapi_extra={
        "responses": {200: {"description": "OK", "content": {"text/csv": {"schema": {"type": "string"}}}}}
    },
)
def events_csv(
    request: HttpRequest,
    resolved: bool | None = None,
    serious: bool | None = None,
    term: Text = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> HttpResponse:
    """The events of ``GET /adverse-events`` (same filters, all rows) as CSV (RFC 4180, UTF-8, a
    header line, columns always in the same order; codes as stored; the time recorded on the
    clinic's clock with its offset)."""
    return _download(request, _clinic_events(request, resolved, serious, term, since, until), "csv")


@router.get(
    "/adverse-events.xlsx",
    openapi_extra={
        "responses": {
            200: {
                "description": "OK",
                "content": {XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def events_xlsx(
    request: HttpRequest,
    resolved: bool | None = None,
    serious: bool | None = None,
    term: Text = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> HttpResponse:
    """The rows of ``adverse-events.csv`` as an Excel workbook with typed cells (text is never a
    formula); the time recorded on the clinic's wall clock, the zone named in the column header."""
    return _download(request, _clinic_events(request, resolved, serious, term, since, until), "xlsx")


@router.get("/adverse-events/{event_id}", response=AdverseEventOut)
def get_event(request: HttpRequest, event_id: Id) -> AdverseEvent:
    return _event(request, event_id)


@router.patch("/adverse-events/{event_id}", response=AdverseEventOut)
def correct_event(request: HttpRequest, event_id: Id, payload: AdverseEventPatch) -> AdverseEvent:
    """Correct an event (clinicians and clinic admins) with a ``reason``: the checks of a new event
    apply; the old version stays readable under ``/revisions``."""
    user = current_user(request, Action.CORRECT_ADVERSE_EVENT)
    event = _event(request, event_id)
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason")
    if "session" in changes:
        changes["session"] = _session(request, changes["session"])
    services.update_adverse_event(user=user, event=event, reason=reason, **changes)
    return _event(request, event_id)


@router.get("/adverse-events/{event_id}/revisions", response=list[RevisionOut])
@paginate(Page)
def event_revisions(request: HttpRequest, event_id: Id) -> Any:
    """The corrections of the event, newest first, each with the version before it."""
    event = _event(request, event_id)
    return revisions_of(clinic=event.patient.clinic, obj=event)


@router.get("/sessions/{session_id}/healing-curve", response=SessionHealingOut)
def healing_curve(request: HttpRequest, session_id: Id, metric: Text = "red_area_pct") -> Any:
    """Redness per half of the face in the days after the session, from the analysed photos taken
    then (``metric``: red_area_pct or a_excess_mean), with the days until it was back to half its
    peak (null while it is not yet)."""
    session = _session(request, session_id)
    assert session is not None
    if metric not in HEALING_METRICS:
        choices = ", ".join(HEALING_METRICS)
        raise ValidationError({"metric": _("Choose one of: %(choices)s.") % {"choices": choices}})
    return healing.session_healing(session=session, metric=metric)
