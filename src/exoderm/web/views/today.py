"""The clinic's dashboard: what needs doing today."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from exoderm.core.permissions import Action, can
from exoderm.courses import selectors as course_selectors
from exoderm.courses.models import VisitKind
from exoderm.courses.selectors import due_visits, overdue_visits
from exoderm.patients.selectors import clinic_today
from exoderm.products import selectors as product_selectors
from exoderm.treatments import selectors as treatment_selectors
from exoderm.web.views import study
from exoderm.web.views.common import clinic_of, page, user_of

LIMIT = 20


@page(None)
def today(request: HttpRequest) -> HttpResponse:
    if not can(user_of(request), Action.VIEW_CLINICAL):
        # Researchers see no named patients; their data comes pseudonymized through the API.
        return render(request, "web/today_research.html", {"form": study.outcomes_form(request)})
    clinic = clinic_of(request)
    day = clinic_today(clinic)
    context = {
        "day": day,
        "appointments": list(course_selectors.planned_visits(clinic=clinic, day=day)[:LIMIT]),
        "followups": list(
            due_visits(clinic=clinic, on=day)
            .filter(kind=VisitKind.FOLLOW_UP)
            .select_related("course__patient__identity")[:LIMIT]
        ),
        "overdue": list(
            overdue_visits(clinic=clinic, on=day).select_related("course__patient__identity")[:LIMIT]
        ),
        "attention": list(product_selectors.lots_needing_attention(clinic, day)[:LIMIT]),
        "quarantined": list(product_selectors.quarantined_lots(clinic)[:LIMIT]),
        "warnings": list(treatment_selectors.recent_warnings(clinic=clinic, now=timezone.now())[:LIMIT]),
        "expiry_horizon": product_selectors.EXPIRY_HORIZON_DAYS,
        "low_vials": product_selectors.LOW_VIALS,
    }
    return render(request, "web/today.html", context)
