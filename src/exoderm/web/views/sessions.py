"""Sessions: the list, one session's record, and the charting form with its live protocol hints."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exoderm.core.access import NotFound
from exoderm.core.errors import RuleViolations
from exoderm.core.permissions import Action
from exoderm.patients import selectors as patient_selectors
from exoderm.products import selectors as product_selectors
from exoderm.products.models import LotStatus
from exoderm.records.selectors import history_of
from exoderm.studies.blinding import concealed_applications, concealed_warnings, conceals_lots
from exoderm.treatments import selectors
from exoderm.treatments.models import TreatmentSession
from exoderm.treatments.protocol import WARN
from exoderm.treatments.services import correct_session, record_session
from exoderm.web.charting import (
    MAX_ROWS,
    ApplicationFormSet,
    ProcedureFormSet,
    SessionCorrectionForm,
    SessionForm,
    application_initial,
    html_name,
    procedure_initial,
)
from exoderm.web.forms import datetime_field, now_local
from exoderm.web.listing import listing
from exoderm.web.views.common import clinic_of, page, user_of

SORTS = {
    "performed": ("performed_at", "id"),
    "patient": ("patient__code", "-performed_at", "id"),
    "clinician": ("clinician__last_name", "-performed_at", "id"),
}


@dataclass(frozen=True)
class Issue:
    """A message shown next to an input: a blocking rule, a warning, or an input error."""

    message: str
    severity: str  # "block", "warn" or "error"
    rule: str = ""


@page()
def session_list(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    sessions = selectors.sessions_with_counts(clinic=clinic)
    patient = None
    if request.GET.get("patient"):
        patient = patient_selectors.patient_detail(clinic=clinic, patient_id=request.GET["patient"])
        sessions = sessions.filter(patient=patient)
    context = {
        "listing": listing(request, sessions, sorts=SORTS, default="-performed", keep=("patient",)),
        "patient": patient,
    }
    return render(request, "web/sessions/list.html", context)


@page()
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    session = selectors.session_detail(clinic=clinic, pk=pk)
    user = user_of(request)
    concealed = conceals_lots(session=session, user=user)
    context = {
        "session": session,
        "applications": concealed_applications(session=session, user=user),
        "warnings": concealed_warnings(session=session, user=user),
        "lots_concealed": concealed,
        # a correction's old version names the lots: kept from whoever is blinded for the study
        "revisions": [] if concealed else history_of(clinic=clinic, obj=session),
    }
    return render(request, "web/sessions/detail.html", context)


def _lots(clinic: Any, *, keep: Collection[int] = ()) -> Any:
    """The lots a session could name: everything not used up, so that a blocked lot is explained,
    and the lots of ``keep`` (a corrected session's own, perhaps used up since)."""
    return product_selectors.lots(clinic).exclude(Q(status=LotStatus.DEPLETED) & ~Q(pk__in=keep))


@page(Action.CHART_SESSION)
def session_new(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    user = user_of(request)
    initial = {"patient": request.GET.get("patient"), "performed_at": now_local()}

    def save(chart: dict[str, Any]) -> TreatmentSession:
        return record_session(patient=chart.pop("patient"), clinician=user, **chart)

    return _chart_page(
        request,
        form_class=SessionForm,
        form_kwargs={"patients": patient_selectors.patient_choices(clinic=clinic), "initial": initial},
        lots=_lots(clinic),
        save=save,
        saved_text=_("Session recorded."),
        context={},
    )


@page(Action.CHART_SESSION)
def session_correct(request: HttpRequest, pk: int) -> HttpResponse:
    """The session's chart as a form, prefilled; saved as a correction with its reason."""
    clinic = clinic_of(request)
    session = selectors.session_detail(clinic=clinic, pk=pk)
    if conceals_lots(session=session, user=user_of(request)):
        raise PermissionDenied(
            _("This session was charted from a study kit: its lots are concealed from you, so only the "
              "study's unblinded coordinator can correct it.")
        )  # fmt: skip
    lots_used = {a.lot_id for a in session.applications.all()}

    def save(chart: dict[str, Any]) -> TreatmentSession:
        chart.pop("patient")
        return correct_session(session=session, by=user_of(request), **chart)

    return _chart_page(
        request,
        form_class=SessionCorrectionForm,
        form_kwargs={
            "patients": patient_selectors.patient_choices(clinic=clinic).filter(pk=session.patient_id),
            "initial": {
                "patient": session.patient_id,
                "performed_at": session.performed_at,
                "notes": session.notes,
            },
        },
        lots=_lots(clinic, keep=lots_used),
        save=save,
        saved_text=_("Session corrected; the version before stays readable below."),
        context={"correcting": session},
        procedure_initial=[procedure_initial(p) for p in session.procedures.all()],
        application_initial=[application_initial(a) for a in session.applications.all()],
    )


def _chart_page(
    request: HttpRequest,
    *,
    form_class: type[SessionForm],
    form_kwargs: dict[str, Any],
    lots: Any,
    save: Callable[[dict[str, Any]], TreatmentSession],
    saved_text: str,
    context: dict[str, Any],
    procedure_initial: list[dict[str, Any]] | None = None,
    application_initial: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    """The charting form of a new or a corrected session: parse, let ``save`` decide, show why not."""
    clinic = clinic_of(request)
    data: QueryDict | None = request.POST if request.method == "POST" else None
    adding = request.method == "POST" and request.POST.get("add") in {"procedures", "applications"}
    if adding:
        # "Add a procedure/application": the same form, one row longer, nothing checked or saved.
        data = request.POST.copy()
        total = f"{data['add']}-TOTAL_FORMS"
        data[total] = str(min(int(data.get(total) or 0) + 1, MAX_ROWS))
    form = form_class(data, **form_kwargs)
    procedures = ProcedureFormSet(data, prefix="procedures", initial=procedure_initial)
    applications = ApplicationFormSet(
        data, prefix="applications", initial=application_initial, form_kwargs={"lots": lots}
    )
    issues: dict[str, list[Issue]] = defaultdict(list)
    warnings: list[Issue] = []
    if (
        not adding
        and data is not None
        and form.is_valid()
        and procedures.is_valid()
        and applications.is_valid()
    ):
        procedure_rows = [i for i, f in enumerate(procedures.forms) if not f.is_blank()]
        application_rows = [i for i, f in enumerate(applications.forms) if not f.is_blank()]

        def place(path: str, issue: Issue) -> None:
            issues[html_name(path, procedure_rows=procedure_rows, application_rows=application_rows)].append(
                issue
            )

        try:
            session = save(
                {
                    **form.cleaned_data,
                    "procedures": [procedures.forms[i].to_input() for i in procedure_rows],
                    "applications": [applications.forms[i].to_input() for i in application_rows],
                    "acknowledged_warnings": request.POST.getlist("acknowledge"),
                }
            )
        except ValidationError as error:
            # an error of no field (a correction that changes nothing) goes on top
            by_path = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
            for path, texts in by_path.items():
                for text in texts:
                    place(path, Issue(text, "error"))
        except RuleViolations as refused:
            for violation in refused.violations:
                issue = Issue(violation.message, violation.severity, violation.rule)
                place(violation.field, issue)
                if violation.severity == WARN:
                    warnings.append(issue)
        except NotFound as error:
            place("", Issue(str(error), "error"))
        else:
            count = session.warnings.count()
            text = saved_text
            if count:
                text += " " + ngettext(
                    "%(count)d acknowledged warning was recorded with it.",
                    "%(count)d acknowledged warnings were recorded with it.",
                    count,
                ) % {"count": count}
            messages.success(request, text)
            return redirect("session", session.pk)
    _describe_issues([form, *procedures.forms, *applications.forms], issues)
    context = {
        **context,
        "form": form,
        "procedures": procedures,
        "applications": applications,
        "issues": dict(issues),
        "top_issues": issues.get("", []),
        "issue_count": sum(len(v) for v in issues.values()),
        "warnings": {w.rule: w for w in warnings}.values(),
        "acknowledged": request.POST.getlist("acknowledge"),
        "blocked": any(i.severity != WARN for v in issues.values() for i in v),
        "window_minutes": clinic.application_window_minutes,
        "lot_panels": {
            f"applications-{i}-lot": product_selectors.lot_panel(clinic, f.data.get(f"applications-{i}-lot"))
            for i, f in enumerate(applications.forms)
            if f.is_bound
        },
        "window_hints": {
            f"procedures-{i}-ended_at": window_hint(clinic, f.cleaned_data.get("ended_at"))
            for i, f in enumerate(procedures.forms)
            if f.is_bound and not adding and hasattr(f, "cleaned_data")
        },
    }
    status = 422 if data is not None and not adding else 200
    return render(request, "web/sessions/new.html", context, status=status)


def _describe_issues(forms: list[Any], issues: dict[str, list[Issue]]) -> None:
    """Mark the inputs that have a refusal message as invalid and point them at it (screen readers)."""
    for form in forms:
        for name, field in form.fields.items():
            html_name = form.add_prefix(name)
            if html_name in issues:
                field.widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"{html_name}-issues"})


def window_hint(clinic: Any, ended_at: dt.datetime | None) -> dict[str, Any] | None:
    if ended_at is None:
        return None
    return {
        "from": ended_at,
        "until": ended_at + dt.timedelta(minutes=clinic.application_window_minutes),
        "minutes": clinic.application_window_minutes,
    }


def _value(request: HttpRequest, suffix: str) -> str:
    """The value of the one query parameter ending in ``suffix`` (HTMX sends the input's own name)."""
    return next((str(value) for key, value in request.GET.items() if key.endswith(suffix)), "")


@page(Action.CHART_SESSION)
def lot_status(request: HttpRequest) -> HttpResponse:
    panel = product_selectors.lot_panel(clinic_of(request), _value(request, "lot"))
    return render(request, "web/sessions/lot_status.html", {"panel": panel})


@page(Action.CHART_SESSION)
def window(request: HttpRequest) -> HttpResponse:
    field = datetime_field("", required=False)
    try:
        ended_at = field.clean(_value(request, "ended_at"))
    except ValidationError:
        ended_at = None
    return render(
        request, "web/sessions/window_hint.html", {"hint": window_hint(clinic_of(request), ended_at)}
    )
