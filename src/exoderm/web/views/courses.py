"""Courses: the clinic's course templates, enrolling a patient, the visit calendar and its .ics feed."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from exoderm.clinics import selectors as clinic_selectors
from exoderm.clinics.models import Role
from exoderm.core.clock import too_early, too_far_ahead
from exoderm.core.errors import RuleViolations
from exoderm.core.permissions import Action, can
from exoderm.courses import ics, selectors, services
from exoderm.courses.models import Visit
from exoderm.patients import selectors as patient_selectors
from exoderm.web.forms import CourseTemplateForm, EnrolForm, RescheduleForm
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

TEMPLATE_SORTS = {
    "name": ("name", "pk"),
    "sessions": ("session_count", "name", "pk"),
    "interval": ("interval_weeks", "name", "pk"),
}
CALENDAR_DAYS = 14
ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


@page()
def course_list(request: HttpRequest) -> HttpResponse:
    templates = listing(
        request, selectors.course_templates(clinic=clinic_of(request)), sorts=TEMPLATE_SORTS, default="name"
    )
    return render(
        request,
        "web/courses/list.html",
        {"listing": templates, "may_manage": can(user_of(request), Action.MANAGE_CLINIC)},
    )


@page(Action.MANAGE_CLINIC)
def course_template_new(request: HttpRequest) -> HttpResponse:
    form = CourseTemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.create_course_template(
                clinic=clinic_of(request), by=user_of(request), **form.cleaned_data
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Course template %(name)s added.") % {"name": template.name})
            return redirect("courses")
    return render(request, "web/courses/template_new.html", {"form": form})


@page(Action.EDIT_PATIENT)
def enrol(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    patient = patient_selectors.patient_detail(clinic=clinic, patient_id=pk)
    user = user_of(request)
    clinicians = (
        clinic_selectors.clinic_users(clinic=clinic)
        .filter(role=Role.CLINICIAN, is_active=True)
        .order_by("last_name")
    )
    form = EnrolForm(
        request.POST or None,
        templates=selectors.course_templates(clinic=clinic),
        clinicians=clinicians,
        initial={"clinician": user.pk if user.role == Role.CLINICIAN else None},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.enroll(
                patient=patient,
                template=data["template"],
                clinician=data["clinician"],
                starts_at=data["starts_at"],
                by=user,
            )
        except ValidationError as error:
            add_errors(form, error, fields={"template_id": "template", "clinician_id": "clinician"})
        except RuleViolations as refused:
            for violation in refused.violations:
                form.add_error(None, violation.message)
        else:
            messages.success(request, _("Enrolled; the visits are planned."))
            return redirect("patient", patient.pk)
    return render(request, "web/courses/enrol.html", {"form": form, "patient": patient})


@page()
def calendar(request: HttpRequest) -> HttpResponse:
    """The clinic's planned visits two weeks at a time, by day, and the user's .ics subscription."""
    clinic = clinic_of(request)
    today = patient_selectors.clinic_today(clinic)
    try:
        start = dt.date.fromisoformat(request.GET.get("from", ""))
    except ValueError:
        start = today
    if too_early(start) or too_far_ahead(start):  # the years 0001 and 9999 overflow the page's arithmetic
        messages.warning(
            request,
            _("No visit can be planned on %(date)s; the calendar shows the two weeks from today instead.")
            % {"date": formats.date_format(start, "SHORT_DATE_FORMAT")},
        )
        start = today
    visits = selectors.planned_visits(clinic=clinic, day=start, days=CALENDAR_DAYS)
    days: dict[dt.date, list[Visit]] = {}
    for visit in visits:
        days.setdefault(localtime(visit.planned_at).date(), []).append(visit)
    context = {
        "days": days,
        "feed_url": request.session.pop("calendar_feed_url", ""),
        "start": start,
        "end": start + dt.timedelta(days=CALENDAR_DAYS - 1),
        "previous": (start - dt.timedelta(days=CALENDAR_DAYS)).isoformat(),
        "next": (start + dt.timedelta(days=CALENDAR_DAYS)).isoformat(),
        "is_today": start == today,
    }
    return render(request, "web/courses/calendar.html", context)


@page()
def calendar_subscribe(request: HttpRequest) -> HttpResponse:
    """Issue a new secret feed address (the old one stops working, so it asks first) and show it once."""
    if request.method != "POST":
        return render(
            request,
            "web/confirm.html",
            {
                "title": _("New subscription address"),
                "question": _(
                    "A new address replaces your current one: calendars subscribed to the old address "
                    "stop receiving your visits."
                ),
                "button": _("Create a new address"),
                "button_class": "primary",
                "cancel_url": reverse("calendar"),
            },
        )
    token = services.issue_calendar_feed(user=user_of(request))
    request.session["calendar_feed_url"] = request.build_absolute_uri(reverse("calendar-feed", args=[token]))
    return redirect("calendar")


@page()
def calendar_download(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(services.calendar_for(user_of(request)), content_type=ICS_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="exoderm-visits.ics"'
    return response


@page(Action.EDIT_PATIENT)
def visit_change(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Reschedule a planned visit, or mark it done, missed or cancelled (each after a confirmation page)."""
    clinic = clinic_of(request)
    visit = selectors.visit(clinic=clinic, visit_id=pk)
    patient_url = reverse("patient", args=[visit.course.patient_id])
    questions = {
        "done": (_("Mark the visit done?"), _("Mark done"), services.mark_done),
        "missed": (_("Mark the visit missed?"), _("Mark missed"), services.mark_missed),
        "cancel": (_("Cancel the visit?"), _("Cancel the visit"), services.cancel_visit),
    }
    if action == "reschedule":
        form = RescheduleForm(request.POST or None, initial={"planned_at": localtime(visit.planned_at)})
        if request.method == "POST" and form.is_valid():
            try:
                services.reschedule_visit(
                    visit=visit, planned_at=form.cleaned_data["planned_at"], by=user_of(request)
                )
            except ValidationError as error:
                add_errors(form, error)
            else:
                messages.success(request, _("Visit moved."))
                return redirect(patient_url)
        return render(
            request, "web/courses/reschedule.html", {"form": form, "visit": visit, "cancel_url": patient_url}
        )
    if action not in questions:
        return redirect(patient_url)
    title, button, service = questions[action]
    error_text = ""
    if request.method == "POST":
        try:
            service(visit=visit, by=user_of(request))
        except ValidationError as error:
            error_text = " ".join(error.messages)
        else:
            messages.success(request, _("Visit changed."))
            return redirect(patient_url)
    return render(
        request,
        "web/courses/visit_confirm.html",
        {
            "title": title,
            "visit": visit,
            "button": button,
            "button_class": "primary" if action == "done" else "danger",
            "cancel_url": patient_url,
            "error": error_text,
        },
    )


@login_not_required
@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The secret-address iCalendar feed: calendar apps fetch it without a login."""
    body = services.feed_for_token(token)
    if body is None:
        raise Http404
    response = HttpResponse(body, content_type=ics.CONTENT_TYPE)
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="exoderm-visits.ics"'
    return response
