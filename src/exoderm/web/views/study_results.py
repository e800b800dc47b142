"""The results page of a study (its principal investigator, coordinator, treating clinician,
statistician and clinic administrators): endpoints table, inline SVG figures, CONSORT flow,
adverse events, and the report PDF and exports as downloads."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exoderm.studies import selectors
from exoderm.studies.analysis import exports, figures, names
from exoderm.studies.analysis.report import report_pdf
from exoderm.studies.analysis.results import StudyResults, results_of
from exoderm.web.views.common import page, user_of


def _consort_labels() -> dict[str, str]:
    return {
        "assessed": _("Assessed for eligibility"),
        "excluded": _("Excluded"),
        "randomized": _("Randomized"),
        "allocated": _("Allocated"),
        "lost": _("Lost to follow-up"),
        "analysed": _("Analysed (primary endpoint)"),
    }


# what each export format is called where researchers meet it
FORMAT_NAMES = {"csv": "CSV", "redcap": "REDCap", "fhir": "FHIR", "sav": "SPSS (.sav)", "dta": "Stata (.dta)"}


def _endpoint_rows(results: StudyResults) -> list[dict[str, object]]:
    """Each endpoint row of the results with its names in the reader's language."""
    return [
        {
            "result": row.result,
            "name": names.endpoint_name(row),
            "visit": names.visit_name((row.session_number, row.weeks_after_session)),
            "registered_visit": row.registered_visit,
            "role": names.role_name(row.role),
            "comparison": names.comparison_name(row.comparison),
            "method": names.method_name(row.result.method),
        }
        for row in results.endpoints
    ]


@page(None)
def results_page(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.results_study_for(user=user, study_id=study_id)
    results = results_of(study=study, user=user)
    # the SVG is built from numbers and escaped labels only (figures.py escapes every text)
    captions = {
        "change": _("Change from baseline per arm and visit (95% CI)"),
        "slopes": _("Per-participant change from baseline to the last visit"),
        "gais": _("GAIS distribution per arm"),
        "healing": _("Healing after the sessions: redness as a share of its peak"),
        "consort": _("CONSORT flow"),
    }
    drawn = {
        "change": figures.change_svg(results, captions["change"]),
        "slopes": figures.slopes_svg(results, captions["slopes"]),
        "gais": figures.gais_svg(results, captions["gais"]),
        "healing": figures.healing_svg(
            results,
            captions["healing"],
            days_label=_("days after the session"),
            share_label=_("share of the peak"),
        ),
        "consort": figures.consort_svg(results, _consort_labels(), captions["consort"]),
    }
    # the SVG's own <title> is read out by screen readers but shown to no one: the caption says
    # what each figure is
    context = {
        "study": study,
        "results": results,
        "endpoint_rows": _endpoint_rows(results),
        "healing_rows": [
            {
                "arm": names.arm_name(summary.arm, results.arm_names),
                "result": summary.result,
                "method": names.method_name(summary.result.method),
            }
            for summary in results.healing.per_arm
        ],
        "healing_method": names.method_name(results.healing.result.method),
        "healing_comparison": names.comparison_name(results.healing.comparison),
        "adverse_event_rows": names.adverse_event_rows(results),
        "figures": [
            (name, mark_safe(svg), captions[name]) for name, svg in drawn.items() if svg or name == "consort"
        ],
        "formats": [(kind, FORMAT_NAMES.get(kind, kind.upper())) for kind in exports.FORMATS],
    }
    return render(request, "web/studies/results.html", context)


@page(None)
def report(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.results_study_for(user=user, study_id=study_id)
    language = "de" if (get_language() or "").startswith("de") else "en"
    response = HttpResponse(
        report_pdf(results_of(study=study, user=user), language=language), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-report.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@page(None)
def export(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.results_study_for(user=user, study_id=study_id)
    kind = request.GET.get("format", "csv")
    if kind not in exports.FORMATS:
        raise Http404(_("Unknown export format."))
    images = request.GET.get("images") == "1"
    response = HttpResponse(
        exports.export_for(study=study, user=user, kind=kind, images=images),
        content_type=exports.CONTENT_TYPES[kind],
    )
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}.{exports.EXTENSIONS[kind]}"'
    response["Cache-Control"] = "private, no-store"
    return response
