"""Pages for adverse events and the healing curve: record and correct an event of a patient, the
clinic's list of open and serious events (with its CSV), and a session's healing curve per side.

The patient page shows its events through ``web/safety/patient_section.html`` (template tag
``adverse_events_section`` in ``web/templatetags/safety.py``).
"""

from __future__ import annotations

import zoneinfo
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.clinics.models import Clinic
from exoderm.core.permissions import Action, can
from exoderm.core.text import NOTE
from exoderm.patients import selectors as patient_selectors
from exoderm.patients.models import Patient
from exoderm.photos.selectors import HEALING_METRICS, METRICS
from exoderm.records.selectors import history_of
from exoderm.safety import healing, selectors, services, spreadsheet
from exoderm.safety.models import Grade, Relatedness, Side, Term
from exoderm.treatments import selectors as session_selectors
from exoderm.treatments.models import TreatmentSession
from exoderm.web.forms import DateInput, reason_field, text_field
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

BLANK: list[tuple[str, Any]] = [("", "—")]


class AdverseEventForm(forms.Form):
    """An adverse event as a person enters it; the service checks it (dates, seriousness, session)."""

    term = forms.ChoiceField(label=gettext_lazy("Term"), choices=Term.choices)
    description = text_field(
        label=gettext_lazy("Description"),
        max_length=NOTE,
        rows=2,
        required=False,
        help_text=gettext_lazy("Required for the term “other”."),
    )
    side = forms.ChoiceField(label=gettext_lazy("Side"), choices=Side.choices, initial=Side.WHOLE)
    session = forms.TypedChoiceField(
        label=gettext_lazy("After the session"), required=False, coerce=int, empty_value=None
    )
    onset = forms.DateField(label=gettext_lazy("Onset"), widget=DateInput())
    resolved_on = forms.DateField(label=gettext_lazy("Resolved on"), required=False, widget=DateInput())
    severity = forms.TypedChoiceField(
        label=gettext_lazy("Severity (CTCAE grade)"), choices=Grade.choices, coerce=int
    )
    related_to_procedure = forms.ChoiceField(
        label=gettext_lazy("Related to the procedure"), choices=BLANK + Relatedness.choices
    )
    related_to_product = forms.ChoiceField(
        label=gettext_lazy("Related to the product"), choices=BLANK + Relatedness.choices
    )
    serious = forms.BooleanField(label=gettext_lazy("Serious adverse event"), required=False)
    report_date = forms.DateField(
        label=gettext_lazy("Reported on"),
        required=False,
        widget=DateInput(),
        help_text=gettext_lazy("Required for a serious event."),
    )

    def __init__(self, *args: Any, sessions: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["session"].choices = BLANK + [  # type: ignore[attr-defined]
            (s.pk, formats.date_format(timezone.localtime(s.performed_at), "SHORT_DATETIME_FORMAT"))
            for s in sessions
        ]


class AdverseEventCorrectionForm(AdverseEventForm):
    reason = reason_field()


def patient_sessions(patient: Patient) -> Any:
    """The patient's sessions an event can follow, newest first."""
    return (
        session_selectors.sessions_with_counts(clinic=patient.clinic)
        .filter(patient=patient)
        .order_by("-performed_at")
    )


def _session(clinic: Clinic, session_id: int | None) -> TreatmentSession | None:
    return None if session_id is None else session_selectors.session_detail(clinic=clinic, pk=session_id)


def _event_values(form: forms.Form, clinic: Clinic) -> dict[str, Any]:
    values = dict(form.cleaned_data)
    values["session"] = _session(clinic, values.get("session"))
    return values


@page(Action.RECORD_ADVERSE_EVENT)
def adverse_event_new(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    patient = patient_selectors.patient_detail(clinic=clinic, patient_id=pk)
    form = AdverseEventForm(
        request.POST or None,
        sessions=patient_sessions(patient),
        initial={"onset": patient_selectors.clinic_today(clinic)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            values = _event_values(form, clinic)
            services.record_adverse_event(user=user_of(request), patient=patient, **values)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Adverse event recorded."))
            return redirect(reverse("patient", args=[patient.pk]) + "#adverse-events")
    context = {
        "form": form,
        "title": _("Record an adverse event of %(code)s") % {"code": patient.code},
        "cancel_url": reverse("patient", args=[patient.pk]),
        "submit_label": _("Record the adverse event"),
    }
    return render(request, "web/safety/form.html", context, status=422 if form.errors else 200)


@page(Action.CORRECT_ADVERSE_EVENT)
def adverse_event_correct(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    event = selectors.adverse_event_of(clinic=clinic, event_id=pk)
    initial = {name: getattr(event, name) for name in services.CORRECTABLE_FIELDS if name != "session"}
    initial["session"] = event.session_id
    sessions = patient_sessions(event.patient)
    form = AdverseEventCorrectionForm(request.POST or None, sessions=sessions, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = _event_values(form, clinic)
        reason = values.pop("reason")
        try:
            services.update_adverse_event(user=user_of(request), event=event, reason=reason, **values)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Corrected; the version before stays readable below."))
            return redirect(request.path)
    context = {
        "form": form,
        "title": _("Correct the adverse event “%(term)s” of %(code)s")
        % {"term": event.get_term_display(), "code": event.patient.code},
        "cancel_url": reverse("patient", args=[event.patient_id]) + "#adverse-events",
        "submit_label": _("Save the correction"),
        "revisions": history_of(clinic=clinic, obj=event),
    }
    return render(request, "web/safety/form.html", context, status=422 if form.errors else 200)


class EventFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            ("open", gettext_lazy("Open")),
            ("resolved", gettext_lazy("Resolved")),
            ("all", gettext_lazy("All")),
        ],
    )
    serious = forms.ChoiceField(
        label=gettext_lazy("Serious"),
        required=False,
        choices=[
            ("", gettext_lazy("Any")),
            ("yes", gettext_lazy("Serious only")),
            ("no", gettext_lazy("Not serious")),
        ],
    )
    term = forms.ChoiceField(label=gettext_lazy("Term"), required=False, choices=BLANK + Term.choices)


SORTS = {
    "onset": ("onset", "id"),
    "patient": ("patient__code", "-onset", "id"),
    "severity": ("severity", "-onset", "id"),
}


@page()
def adverse_event_list(request: HttpRequest) -> HttpResponse:
    """The clinic's adverse events; open ones unless the filter says otherwise; ``?format=csv``
    downloads the filtered list."""
    clinic = clinic_of(request)
    form = EventFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    status = filters.get("status") or "open"
    events = selectors.clinic_adverse_events(
        clinic=clinic,
        resolved={"open": False, "resolved": True}.get(status),
        serious={"yes": True, "no": False}.get(filters.get("serious") or ""),
        term=filters.get("term") or "",
    )
    download = request.GET.get("format")
    if download in {"csv", "xlsx"}:
        time_zone = zoneinfo.ZoneInfo(clinic.time_zone)
        content, content_type = spreadsheet.events_file(events, kind=download, time_zone=time_zone)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="adverse-events.{download}"'
        return response
    keep = ("status", "serious", "term")
    filters = {k: request.GET[k] for k in keep if request.GET.get(k)}
    context = {
        "form": form,
        "listing": listing(request, events, sorts=SORTS, default="-onset", keep=keep),
        "csv_query": "?" + urlencode({**filters, "format": "csv"}),
        "xlsx_query": "?" + urlencode({**filters, "format": "xlsx"}),
        "may_correct": can(user_of(request), Action.CORRECT_ADVERSE_EVENT),
    }
    return render(request, "web/safety/list.html", context)


@page()
def session_healing(request: HttpRequest, pk: int) -> HttpResponse:
    """The healing curve per side after one session, for either redness metric."""
    session = session_selectors.session_detail(clinic=clinic_of(request), pk=pk)
    metric = request.GET.get("metric", "red_area_pct")
    if metric not in HEALING_METRICS:
        metric = "red_area_pct"
    context = {
        "session": session,
        "healing": healing.session_healing(session=session, metric=metric),
        "metrics": [(key, METRICS[key][0]) for key in HEALING_METRICS],
        "events": selectors.adverse_events_of(patients=[session.patient]).filter(session=session),
        "may_correct": can(user_of(request), Action.CORRECT_ADVERSE_EVENT),
    }
    return render(request, "web/safety/healing.html", context)
