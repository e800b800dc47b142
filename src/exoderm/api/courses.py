"""Course and consent templates, visits (due, overdue, changes) and the visit calendar.

Mounted at /api/v1/. Course and consent templates are readable by every role of the clinic
and written by clinic administrators; visits name patients (by code), so researchers get 403.
"""

import datetime as dt
import zoneinfo
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from exoderm.api.pagination import Page
from exoderm.api.types import Document, Id, Text
from exoderm.clinics.models import Clinic, User
from exoderm.consent import selectors as consent_selectors
from exoderm.consent import services as consent_services
from exoderm.consent.models import ConsentTemplate
from exoderm.core.permissions import Action, require
from exoderm.courses import selectors, services
from exoderm.courses.ics import CONTENT_TYPE as ICS_CONTENT_TYPE
from exoderm.courses.models import CourseTemplate, Visit

router = Router(tags=["courses"])


def current_user(request: HttpRequest, action: Action | None = None) -> User:
    """The authenticated clinic user of the request, checked for ``action`` if given."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User) and user.clinic is not None, "the bearer token names a clinic user"
    if action is not None:
        require(user, action)
    return user


def user_clinic(request: HttpRequest, action: Action | None = None) -> Clinic:
    clinic = current_user(request, action).clinic
    assert clinic is not None
    return clinic


class CourseTemplateIn(Schema):
    name: Text
    session_count: int
    interval_weeks: int
    followup_weeks: list[int] = Field(default_factory=list)
    window_days: int = 3


class CourseTemplateOut(Schema):
    id: int
    name: str
    session_count: int
    interval_weeks: int
    followup_weeks: list[int]
    window_days: int


class ConsentTemplateIn(Schema):
    kind: Text
    title_de: Text
    title_en: Text
    text_de: Document
    text_en: Document


class ConsentTemplateOut(Schema):
    id: int
    kind: str
    version: int
    title_de: str
    title_en: str
    text_de: str
    text_en: str
    created_at: dt.datetime


class VisitOut(Schema):
    id: int
    course_id: Id
    patient_id: Id
    patient_code: str
    clinician_id: Id
    kind: str
    session_number: int
    weeks_after_session: int | None
    planned_at: dt.datetime
    planned_local: dt.datetime = Field(description="planned_at on the clinic's wall clock, with offset")
    due_from: dt.date
    due_until: dt.date
    status: str

    @staticmethod
    def resolve_patient_id(obj: Visit) -> int:
        return obj.course.patient_id

    @staticmethod
    def resolve_patient_code(obj: Visit) -> str:
        return obj.course.patient.code

    @staticmethod
    def resolve_clinician_id(obj: Visit) -> int:
        return obj.course.clinician_id

    @staticmethod
    def resolve_planned_local(obj: Visit) -> dt.datetime:
        return obj.planned_at.astimezone(zoneinfo.ZoneInfo(obj.course.patient.clinic.time_zone))


class RescheduleIn(Schema):
    planned_at: dt.datetime


class FeedOut(Schema):
    token: str
    path: str


@router.get("/course-templates", response=list[CourseTemplateOut])
@paginate(Page)
def list_course_templates(request: HttpRequest) -> Any:
    return selectors.course_templates(clinic=user_clinic(request))


@router.post("/course-templates", response={201: CourseTemplateOut})
def create_course_template(request: HttpRequest, payload: CourseTemplateIn) -> Any:
    user = current_user(request)
    template = services.create_course_template(clinic=user_clinic(request), by=user, **payload.dict())
    return Status(201, template)


@router.get("/course-templates/{template_id}", response=CourseTemplateOut)
def get_course_template(request: HttpRequest, template_id: Id) -> CourseTemplate:
    return selectors.course_template(clinic=user_clinic(request), template_id=template_id)


@router.get("/consent-templates", response=list[ConsentTemplateOut])
@paginate(Page)
def list_consent_templates(request: HttpRequest, kind: Text | None = None) -> Any:
    return consent_selectors.templates(clinic=user_clinic(request), kind=kind)


@router.post("/consent-templates", response={201: ConsentTemplateOut})
def create_consent_template(request: HttpRequest, payload: ConsentTemplateIn) -> Any:
    user = current_user(request)
    template = consent_services.create_template(clinic=user_clinic(request), by=user, **payload.dict())
    return Status(201, template)


@router.get("/consent-templates/{template_id}", response=ConsentTemplateOut)
def get_consent_template(request: HttpRequest, template_id: Id) -> ConsentTemplate:
    return consent_selectors.template(clinic=user_clinic(request), template_id=template_id)


@router.get("/visits", response=list[VisitOut])
@paginate(Page)
def list_visits(
    request: HttpRequest,
    due: Literal["today", "overdue"] = "today",
    on: dt.date | None = None,
    clinician_id: Id | None = None,
) -> Any:
    """Planned visits due on ``on`` (default today in the clinic) or overdue by then."""
    clinic = user_clinic(request, Action.VIEW_CLINICAL)
    clinician = None if clinician_id is None else selectors.clinician_of(clinic=clinic, user_id=clinician_id)
    pick = selectors.due_visits if due == "today" else selectors.overdue_visits
    return pick(clinic=clinic, on=on, clinician=clinician)


@router.get("/visits.ics", response={200: None})
def my_calendar(request: HttpRequest) -> HttpResponse:
    """The requesting user's planned visits as iCalendar (RFC 5545)."""
    user = current_user(request, Action.VIEW_CLINICAL)
    return HttpResponse(services.calendar_for(user), content_type=ICS_CONTENT_TYPE)


@router.post("/calendar-feed", response={201: FeedOut})
def issue_calendar_feed(request: HttpRequest) -> Any:
    """A new secret feed address for calendar apps; the previous address stops working."""
    token = services.issue_calendar_feed(user=current_user(request))
    return Status(201, {"token": token, "path": f"/calendar/{token}.ics"})


@router.delete("/calendar-feed", response={204: None})
def revoke_calendar_feed(request: HttpRequest) -> Any:
    services.revoke_calendar_feed(user=current_user(request))
    return Status(204, None)


@router.get("/visits/{visit_id}", response=VisitOut)
def get_visit(request: HttpRequest, visit_id: Id) -> Visit:
    return selectors.visit(clinic=user_clinic(request, Action.VIEW_CLINICAL), visit_id=visit_id)


@router.post("/visits/{visit_id}/reschedule", response=VisitOut)
def reschedule_visit(request: HttpRequest, visit_id: Id, payload: RescheduleIn) -> Visit:
    user = current_user(request)
    found = selectors.visit(clinic=user_clinic(request), visit_id=visit_id)
    return services.reschedule_visit(visit=found, planned_at=payload.planned_at, by=user)


def _change_visit(request: HttpRequest, visit_id: Id, change: Any) -> Visit:
    user = current_user(request)
    found = selectors.visit(clinic=user_clinic(request), visit_id=visit_id)
    return change(visit=found, by=user)


@router.post("/visits/{visit_id}/missed", response=VisitOut)
def mark_missed(request: HttpRequest, visit_id: Id) -> Visit:
    return _change_visit(request, visit_id, services.mark_missed)


@router.post("/visits/{visit_id}/cancel", response=VisitOut)
def cancel_visit(request: HttpRequest, visit_id: Id) -> Visit:
    return _change_visit(request, visit_id, services.cancel_visit)


@router.post("/visits/{visit_id}/done", response=VisitOut)
def mark_done(request: HttpRequest, visit_id: Id) -> Visit:
    return _change_visit(request, visit_id, services.mark_done)
