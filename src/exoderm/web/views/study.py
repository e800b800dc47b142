"""Pseudonymised study data in the browser: the researcher's CSV and .xlsx downloads (the API's
``/study/outcomes.csv`` and ``.xlsx`` without a token)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from exoderm.core.permissions import Action
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.courses import selectors as course_selectors
from exoderm.evidence import selectors
from exoderm.web.forms import StudyOutcomesForm
from exoderm.web.views.common import clinic_of, page


def outcomes_form(request: HttpRequest, *, bound: bool = False) -> StudyOutcomesForm:
    """The download's filters: empty on the researcher's home page, read from the query here."""
    templates = course_selectors.course_templates(clinic=clinic_of(request))
    return StudyOutcomesForm(request.GET if bound else None, templates=templates)


def _download(request: HttpRequest, *, extension: str) -> HttpResponse:
    form = outcomes_form(request, bound=True)
    if not form.is_valid():
        return render(request, "web/today_research.html", {"form": form}, status=400)
    template = form.cleaned_data["course_template"]
    rows = selectors.outcome_rows(
        clinic=clinic_of(request),
        course_template_id=template.pk if template else None,
        view=form.cleaned_data["view"],
    )
    if extension == "csv":
        response = HttpResponse(selectors.outcomes_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(selectors.outcomes_xlsx(rows), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="study-outcomes.{extension}"'
    response["Cache-Control"] = "private, no-store"
    return response


@page(Action.VIEW_STUDY_DATA)
def outcomes_csv(request: HttpRequest) -> HttpResponse:
    return _download(request, extension="csv")


@page(Action.VIEW_STUDY_DATA)
def outcomes_xlsx(request: HttpRequest) -> HttpResponse:
    return _download(request, extension="xlsx")
