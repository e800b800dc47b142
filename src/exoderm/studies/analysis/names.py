"""What a reader is shown for the analysis' own names, in the active language.

The analysis names metrics, regions, visits, arms, roles, comparisons, methods and GAIS scores by
stable English codes (``spot_count``, ``cheek_left``, ``s3w6``, ``pooled``) for the API and the
exports; the results page, its figures and the report's figures say them with these words instead.
A name not known here (a method with a number in it, an arm without a name) is shown as it is.
The CONSORT flow's reasons for not enrolling a patient are named here too, from the codes the
enrolment records (:func:`exoderm.studies.eligibility.criterion_code` and the refusal rules), and
what the adverse events, protocol deviations and baseline characteristics count by: the terms and
relatedness of the events, the kinds of deviations, the age bands.
"""

from __future__ import annotations

import re

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.core.contraindications import ScreeningItem
from exoderm.patients.models import Fitzpatrick
from exoderm.photos.selectors import METRICS, region_label
from exoderm.safety.models import Relatedness, Term
from exoderm.studies.analysis.data import BASELINE, GAIS_CODES
from exoderm.studies.analysis.results import BOTH_ARMS, POOLED, EndpointResult, StudyResults
from exoderm.studies.eligibility import OTHER_SCREEN_FAILURE, RESEARCH_CONSENT_MISSING
from exoderm.studies.models import CriterionKind, CriterionSubject, DeviationKind, EndpointKind, Gais

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
COMPARISON_NAMES = {
    "change from baseline": gettext_lazy("change from baseline"),
    "change from baseline, pooled over arms": gettext_lazy("change from baseline, pooled over arms"),
    "share improved or better": gettext_lazy("share improved or better"),
    "share improved or better, pooled over arms": gettext_lazy("share improved or better, pooled over arms"),
    "share satisfied": gettext_lazy("share satisfied"),
    "share satisfied, pooled over arms": gettext_lazy("share satisfied, pooled over arms"),
    "days to half": gettext_lazy("days to half"),
    "days to half, pooled over arms": gettext_lazy("days to half, pooled over arms"),
}
_GAIS_OF_CODE = {code: choice for choice, code in GAIS_CODES.items()}


#: statistics.responders' method, which carries the metric's mdc
_RESPONDERS = re.compile(r"share with change (below -mdc|above \+mdc) \(mdc (\S+)\), Wilson score interval")


def method_name(method: str) -> str:
    if responders := _RESPONDERS.fullmatch(method):
        mdc = {"mdc": number_format(float(f"{float(responders[2]):.3g}"), use_l10n=True)}
        if responders[1].startswith("below"):
            return _("share with a change below minus the mdc (%(mdc)s), Wilson score interval") % mdc
        return _("share with a change above the mdc (%(mdc)s), Wilson score interval") % mdc
    return str(METHOD_NAMES.get(method, method))


def role_name(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))


def comparison_name(comparison: str) -> str:
    return str(COMPARISON_NAMES.get(comparison, comparison))


def metric_name(metric: str, region: str) -> str:
    """A metric endpoint's metric and region, as in ``pigmented spots (count) · Cheek, left``."""
    name = str(METRICS[metric][0]) if metric in METRICS else metric
    return f"{name} · {region_label(region)}" if region else name


def endpoint_name(row: EndpointResult) -> str:
    if not row.metric:
        return str(EndpointKind(row.rating).label) if row.rating in EndpointKind.values else row.rating
    return metric_name(row.metric, row.region)


def visit_name(visit: tuple[int, int]) -> str:
    """A visit, ``(session number, weeks after it)``, as in ``week 6 after session 3``."""
    if visit == BASELINE:
        return _("baseline")
    return _("week %(weeks)s after session %(n)s") % {"weeks": visit[1], "n": visit[0]}


def arm_name(arm: str, arm_names: dict[str, str]) -> str:
    """An arm by its code and the study's name for it (``A · Exosome serum``); the arms pooled
    while the allocation is hidden as such, and both arms of a split-face participant (an adverse
    event of the whole treated area, not of one half) as such."""
    if arm == POOLED:
        return _("all arms, pooled")
    if arm == BOTH_ARMS:
        return _("both arms (whole treated area)")
    name = arm_names.get(arm, "")
    return f"{arm} · {name}" if name else arm


def term_name(term: str) -> str:
    """An adverse event's term (``erythema``) as the clinic records it (``Erythema``)."""
    return str(Term(term).label) if term in Term.values else term


def relatedness_name(relatedness: str) -> str:
    """How related an adverse event is to the product or procedure (``possible``); none recorded
    is a dash."""
    if not relatedness:
        return "–"
    return str(Relatedness(relatedness).label) if relatedness in Relatedness.values else relatedness


def adverse_event_rows(results: StudyResults) -> list[dict[str, object]]:
    """Each count of the study's adverse events with its term, relatedness and arm by name (the
    results page's table and the report's lines)."""
    return [
        {
            "term": term_name(event.term),
            "grade": event.grade,
            "relatedness": relatedness_name(event.relatedness),
            "arm": arm_name(event.arm, results.arm_names),
            "participants": event.participants,
            "events": event.events,
        }
        for event in results.adverse_events
    ]


def deviation_kind_name(kind: str) -> str:
    """A protocol deviation's kind (``missed_session``) as the staff recorded it."""
    return str(DeviationKind(kind).label) if kind in DeviationKind.values else kind


def age_band_name(band: str | None) -> str:
    """An age band in years (``30-39``); a participant without a date of birth is of unknown age."""
    return _("unknown") if band is None else band


def skin_type_name(code: int) -> str:
    """A Fitzpatrick skin type, 1 to 6, as it is written (I to VI)."""
    return str(Fitzpatrick(code).label) if code in Fitzpatrick.values else str(code)


def gais_name(code: int) -> str:
    """A GAIS score, 1 (very much improved) to 5 (worse), by the words the raters chose it by."""
    return str(Gais(_GAIS_OF_CODE[code]).label)


def exclusion_reason_name(code: str) -> str:
    """Why patients screened for the study were not enrolled, by the code the CONSORT flow counts
    them under: a criterion (``inclusion:age``, ``exclusion:screening:pregnancy``), the missing
    research consent, or a reason the staff recorded in their own words (``other``)."""
    if code == RESEARCH_CONSENT_MISSING:
        return _("no research consent")
    if code == OTHER_SCREEN_FAILURE:
        return _("declined or other reasons")
    kind, _separator, rest = code.partition(":")
    subject, _separator, item = rest.partition(":")
    if subject == CriterionSubject.SCREENING and item in ScreeningItem.values:
        what = str(ScreeningItem(item).label)
    elif subject in CriterionSubject.values and subject != CriterionSubject.SCREENING:
        what = str(CriterionSubject(subject).label)
    else:
        return code
    if kind == CriterionKind.INCLUSION:
        return _("inclusion criterion not met: %(criterion)s") % {"criterion": what}
    if kind == CriterionKind.EXCLUSION:
        return _("exclusion criterion applies: %(criterion)s") % {"criterion": what}
    return code
