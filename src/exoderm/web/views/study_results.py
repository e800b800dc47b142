"""The results page of a study (its principal investigator, coordinator, treating clinician and
clinic administrators): endpoints table, inline SVG figures, CONSORT flow, adverse events, and
the report PDF and exports as downloads."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from exoderm.photos.selectors import METRICS, region_label
from exoderm.studies import selectors
from exoderm.studies.analysis import exports, figures
from exoderm.studies.analysis.report import report_pdf
from exoderm.studies.analysis.results import EndpointResult, StudyResults, results_of
from exoderm.studies.models import EndpointKind
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


# The analysis names roles, comparisons and methods in English for the API and the exports; the page
# says them in the reader's language. A method not listed here (one with a number in it) stays as is.
ROLE_NAMES = {
    "primary": gettext_lazy("primary"),
    "secondary": gettext_lazy("secondary"),
    "exploratory": gettext_lazy("exploratory"),
}
METHOD_NAMES = {
    "paired t-test of the within-participant difference": gettext_lazy(
        "paired t-test of the within-participant difference"
    ),
    "one-sample t-test of the change from baseline": gettext_lazy(
        "one-sample t-test of the change from baseline"
    ),
    "Welch t-test of the difference between arms": gettext_lazy(
        "Welch t-test of the difference between arms"
    ),
    "Wilcoxon signed-rank test; Hodges-Lehmann shift with its CI": gettext_lazy(
        "Wilcoxon signed-rank test; Hodges-Lehmann shift with its CI"
    ),
    "Mann-Whitney U test; Hodges-Lehmann shift with its CI": gettext_lazy(
        "Mann-Whitney U test; Hodges-Lehmann shift with its CI"
    ),
    "share rated improved or better (GAIS 1-3), Wilson score interval": gettext_lazy(
        "share rated improved or better (GAIS 1-3), Wilson score interval"
    ),
    "share satisfied (4-5), Wilson score interval": gettext_lazy(
        "share satisfied (4-5), Wilson score interval"
    ),
    "mean days to half of the redness peak, t interval": gettext_lazy(
        "mean days to half of the redness peak, t interval"
    ),
}
COMPARISON_NAMES = {"change from baseline": gettext_lazy("change from baseline")}
# what each export format is called where researchers meet it
FORMAT_NAMES = {"csv": "CSV", "redcap": "REDCap", "fhir": "FHIR", "sav": "SPSS (.sav)", "dta": "Stata (.dta)"}


def _method(method: str) -> str:
    return str(METHOD_NAMES.get(method, method))


def _endpoint_name(row: EndpointResult) -> str:
    if not row.metric:
        return str(EndpointKind(row.rating).label) if row.rating in EndpointKind.values else row.rating
    metric = str(METRICS[row.metric][0]) if row.metric in METRICS else row.metric
    return f"{metric} · {region_label(row.region)}" if row.region else metric


def _endpoint_rows(results: StudyResults) -> list[dict[str, object]]:
    """Each endpoint row of the results with its names in the reader's language."""
    return [
        {
            "result": row.result,
            "name": _endpoint_name(row),
            "visit": _("week %(weeks)s after session %(n)s")
            % {"weeks": row.weeks_after_session, "n": row.session_number},
            "registered_visit": row.registered_visit,
            "role": ROLE_NAMES.get(row.role, row.role),
            "comparison": COMPARISON_NAMES.get(row.comparison, row.comparison),
            "method": _method(row.result.method),
        }
        for row in results.endpoints
    ]


@page(None)
def results_page(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.study_for(user=user, study_id=study_id)
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
            {"arm": summary.arm, "result": summary.result, "method": _method(summary.result.method)}
            for summary in results.healing.per_arm
        ],
        "healing_method": _method(results.healing.result.method),
        "figures": [
            (name, mark_safe(svg), captions[name]) for name, svg in drawn.items() if svg or name == "consort"
        ],
        "formats": [(kind, FORMAT_NAMES.get(kind, kind.upper())) for kind in exports.FORMATS],
    }
    return render(request, "web/studies/results.html", context)


@page(None)
def report(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.study_for(user=user, study_id=study_id)
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
    study = selectors.study_for(user=user, study_id=study_id)
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
