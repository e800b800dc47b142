"""The results page of a study (its principal investigator, coordinator, treating clinician and
clinic administrators): endpoints table, inline SVG figures, CONSORT flow, adverse events, and
the report PDF and exports as downloads."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exoderm.studies import selectors
from exoderm.studies.analysis import exports, figures
from exoderm.studies.analysis.report import report_pdf
from exoderm.studies.analysis.results import results_of
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


@page(None)
def results_page(request: HttpRequest, study_id: int) -> HttpResponse:
    user = user_of(request)
    study = selectors.study_for(user=user, study_id=study_id)
    results = results_of(study=study, user=user)
    # the SVG is built from numbers and escaped labels only (figures.py escapes every text)
    drawn = {
        "change": figures.change_svg(results, _("Change from baseline per arm and visit (95% CI)")),
        "slopes": figures.slopes_svg(results, _("Per-participant change from baseline to the last visit")),
        "gais": figures.gais_svg(results, _("GAIS distribution per arm")),
        "healing": figures.healing_svg(
            results,
            _("Healing after the sessions: redness as a share of its peak"),
            days_label=_("days after the session"),
            share_label=_("share of the peak"),
        ),
        "consort": figures.consort_svg(results, _consort_labels(), _("CONSORT flow")),
    }
    context = {
        "study": study,
        "results": results,
        "figures": {name: mark_safe(svg) for name, svg in drawn.items()},
        "formats": exports.FORMATS,
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
