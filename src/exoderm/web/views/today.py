"""The clinic's dashboard: what needs doing today, and the visits marked done or missed from it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from exoderm.booking import selectors as booking_selectors
from exoderm.booking.models import AppointmentStatus
from exoderm.clinics.models import Role, User
from exoderm.core.permissions import Action, can
from exoderm.courses import selectors as course_selectors
from exoderm.courses import services as course_services
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.courses.selectors import due_visits, group_by_patient_day, overdue_visits
from exoderm.patients.selectors import clinic_today
from exoderm.products import selectors as product_selectors
from exoderm.treatments import selectors as treatment_selectors
from exoderm.web.listing import listing
from exoderm.web.views import study
from exoderm.web.views.booking import status_text
from exoderm.web.views.common import clinic_of, page, user_of

LIMIT = 20
#: A line groups one patient's visits of one day; more than this in one request is not a line.
MAX_VISITS_PER_LINE = 10
#: How a visit line is marked from the page, by its ``mark`` parameter.
MARKS = {"done": VisitStatus.DONE, "missed": VisitStatus.MISSED}
#: What a line shows beside the patient: the planned time, the due window or how overdue it is.
LINE_DETAILS = ("time", "window", "overdue")
OVERDUE_SORTS = {"due": ("due_until", "planned_at", "pk"), "planned": ("planned_at", "pk")}


def _mine(request: HttpRequest) -> bool:
    """Whether the page is narrowed to "my patients" (a clinician's own; others have none)."""
    return request.GET.get("mine") == "1" and user_of(request).role == Role.CLINICIAN


def _narrowed(visits: QuerySet[Visit], user: User, mine: bool) -> QuerySet[Visit]:
    return course_selectors.of_clinicians_patients(visits, clinician=user) if mine else visits


@page(None)
def today(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    if not can(user, Action.VIEW_CLINICAL):
        # Researchers see no named patients; their data comes pseudonymized through the API.
        return render(request, "web/today_research.html", {"form": study.outcomes_form(request)})
    clinic = clinic_of(request)
    day = clinic_today(clinic)
    mine = _mine(request)
    appointments = _narrowed(course_selectors.planned_visits(clinic=clinic, day=day), user, mine)
    booked = booking_selectors.appointments(clinic=clinic, day=day, clinician=user if mine else None)
    booked = booked.exclude(status=AppointmentStatus.CANCELLED)
    shown = list(booked.select_related("patient__identity", "clinician", "room", "device")[:LIMIT])
    for appointment in shown:
        appointment.status_text = status_text(appointment)  # type: ignore[attr-defined]
    followups = _narrowed(
        due_visits(clinic=clinic, on=day).filter(kind=VisitKind.FOLLOW_UP), user, mine
    ).select_related("course__patient__identity")
    context = {
        "day": day,
        "mine": mine,
        "may_narrow": user.role == Role.CLINICIAN,
        "booked": shown,
        "booked_count": booked.count(),
        "waiting_count": booked.filter(status=AppointmentStatus.ARRIVED).count(),
        "appointments": group_by_patient_day(appointments[:LIMIT], time_zone=clinic.time_zone),
        "followups": group_by_patient_day(followups[:LIMIT], time_zone=clinic.time_zone),
        "overdue_count": _narrowed(overdue_visits(clinic=clinic, on=day), user, mine).count(),
        "attention": list(product_selectors.lots_needing_attention(clinic, day)[:LIMIT]),
        "quarantined": list(product_selectors.quarantined_lots(clinic)[:LIMIT]),
        "warnings": list(treatment_selectors.recent_warnings(clinic=clinic, now=timezone.now())[:LIMIT]),
        "expiry_horizon": product_selectors.EXPIRY_HORIZON_DAYS,
        "low_vials": product_selectors.LOW_VIALS,
    }
    return render(request, "web/today.html", context)


@page()
def overdue(request: HttpRequest) -> HttpResponse:
    """Every visit still planned after its due window closed, a page at a time, one line per
    patient and day: what the Today page only counts."""
    clinic = clinic_of(request)
    mine = _mine(request)
    visits = _narrowed(
        overdue_visits(clinic=clinic, on=clinic_today(clinic)), user_of(request), mine
    ).select_related("course__patient__identity")
    rows = listing(request, visits, sorts=OVERDUE_SORTS, default="due", keep=("mine",))
    context = {
        "listing": rows,
        "groups": group_by_patient_day(rows.rows, time_zone=clinic.time_zone),
        "mine": mine,
        "may_narrow": user_of(request).role == Role.CLINICIAN,
    }
    return render(request, "web/today/overdue.html", context)


@page(Action.EDIT_PATIENT)
def visit_line(request: HttpRequest) -> HttpResponse:
    """One patient's visits of one day, as a line of the Today page (HTMX).

    The query string names the visits (``visit``, repeated) and what the line shows beside the
    patient (``show``). Without ``mark`` the line is shown as it is; ``mark=done`` or
    ``mark=missed`` asks first (GET) and marks every visit of the line (POST, through the courses
    services: all or none).
    """
    clinic = clinic_of(request)
    ids = request.GET.getlist("visit")
    action = request.GET.get("mark", "")
    if not ids or len(ids) > MAX_VISITS_PER_LINE or (action and action not in MARKS):
        raise Http404
    visits = [course_selectors.visit(clinic=clinic, visit_id=pk) for pk in ids]
    groups = group_by_patient_day(visits, time_zone=clinic.time_zone)
    if len(groups) != 1:
        raise Http404  # a line is one patient's day
    detail = request.GET.get("show", "")
    context: dict[str, object] = {
        "group": groups[0],
        "show": detail if detail in LINE_DETAILS else "time",
        "today": clinic_today(clinic),
    }
    if action in MARKS and request.method == "POST":
        try:
            course_services.mark_visits(visits=visits, status=MARKS[action], by=user_of(request))
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
        else:
            context["marked"], context["marked_label"] = MARKS[action], VisitStatus(MARKS[action]).label
    elif action in MARKS:
        context["confirm"] = action
    return render(request, "web/today/_visit_line.html", context)
