"""The pre-registered analysis of a study, assembled from its data (:mod:`.data`) with the pure
statistics of :mod:`.statistics`.

For each endpoint at each follow-up visit of the course: primary, secondary, or exploratory when
an amendment added it after the first enrolment. A blinded study is analysed **pooled** over the
arms until it is unblinded at its end (:mod:`.unblinding`); then, and always in an open study, by
arm: split-face the within-participant difference of the arm sides (first arm minus second),
parallel the difference between the first arm and each other, single-arm the change from baseline.
"""

from __future__ import annotations

import datetime as dt
import statistics as pystats
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from exoderm import __version__
from exoderm.skinlab import ENGINE_VERSION
from exoderm.studies import selectors
from exoderm.studies.analysis import statistics as st
from exoderm.studies.analysis.data import (
    BASELINE,
    StudyData,
    lower_is_better,
    study_data,
)
from exoderm.studies.analysis.unblinding import by_arm_allowed, study_unblinded_at
from exoderm.studies.models import Design, Endpoint, EndpointKind, Side, Study
from exoderm.studies.services import require_study_role

if TYPE_CHECKING:
    from exoderm.clinics.models import User

POOLED = "pooled"
#: the arm of an adverse event of a split-face participant's whole treated area, not of one half:
#: it concerns both arms (one on each half of the face)
BOTH_ARMS = "both"


def visit_label(visit: tuple[int, int]) -> str:
    if visit == BASELINE:
        return "baseline"
    return f"s{visit[0]}w{visit[1]}"


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    what: str
    result: st.Result


@dataclass(frozen=True)
class EndpointResult:
    endpoint: int
    kind: str
    metric: str
    rating: str
    region: str
    visit: str
    session_number: int
    weeks_after_session: int
    registered_visit: bool
    primary: bool
    role: str
    comparison: str
    result: st.Result
    per_arm: list[ArmSummary] = field(default_factory=list)
    responders: list[ArmSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "metric": self.metric,
            "rating": self.rating,
            "region": self.region,
            "visit": self.visit,
            "session_number": self.session_number,
            "weeks_after_session": self.weeks_after_session,
            "registered_visit": self.registered_visit,
            "primary": self.primary,
            "role": self.role,
            "comparison": self.comparison,
            **self.result.as_dict(),
            "per_arm": [{"arm": s.arm, "what": s.what, **s.result.as_dict()} for s in self.per_arm],
            "responders": [{"arm": s.arm, "what": s.what, **s.result.as_dict()} for s in self.responders],
        }


@dataclass(frozen=True)
class HealingResult:
    """Days until the redness after a session is back to half its peak (the healing curve of
    :mod:`exoderm.safety.healing`), each side's mean over the sessions of the course with a curve
    that got there. Not a registered endpoint of the study, hence exploratory."""

    metric: str
    comparison: str
    result: st.Result
    per_arm: list[ArmSummary] = field(default_factory=list)
    role: str = "exploratory"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "role": self.role,
            "comparison": self.comparison,
            **self.result.as_dict(),
            "per_arm": [{"arm": s.arm, "what": s.what, **s.result.as_dict()} for s in self.per_arm],
        }


@dataclass(frozen=True)
class ModelResult:
    endpoint: int
    visit: str
    comparison: str
    result: st.Result


@dataclass(frozen=True)
class Agreement:
    visit: str
    raters: int
    result: st.Result


@dataclass(frozen=True)
class AdverseEventCount:
    term: str
    grade: int
    relatedness: str
    arm: str
    participants: int
    events: int


@dataclass(frozen=True)
class Consort:
    assessed: int
    excluded: int
    excluded_by_reason: dict[str, int]
    randomized: int
    allocated: dict[str, int]
    lost_to_follow_up: int
    withdrawn_by_reason: dict[str, int]
    analysed: dict[str, int]


@dataclass
class StudyResults:
    study: Study
    design: str
    by_arm: bool
    unblinded_at: dt.datetime | None
    arms: list[str]
    arm_names: dict[str, str]
    endpoints: list[EndpointResult]
    healing: HealingResult
    mixed_models: list[ModelResult]
    agreement: list[Agreement]
    adverse_events: list[AdverseEventCount]
    consort: Consort
    data: StudyData

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study.pk,
            "design": self.design,
            "analysis": "by_arm" if self.by_arm else POOLED,
            "unblinded_at": self.unblinded_at,
            "arms": [{"code": code, "name": self.arm_names.get(code, "")} for code in self.arms],
            "results": [e.as_dict() for e in self.endpoints],
            "healing": self.healing.as_dict(),
            "mixed_models": [
                {"endpoint": m.endpoint, "visit": m.visit, "comparison": m.comparison, **m.result.as_dict()}
                for m in self.mixed_models
            ],
            "agreement": [
                {"visit": a.visit, "raters": a.raters, **a.result.as_dict()} for a in self.agreement
            ],
            "adverse_events": [asdict(a) for a in self.adverse_events],
            "consort": asdict(self.consort),
            "software": software_versions(),
        }


def software_versions() -> dict[str, str]:
    return {"exoderm": __version__, "skinlab_engine": ENGINE_VERSION}


def _role(endpoint: Endpoint, exploratory: bool) -> str:
    if exploratory:
        return "exploratory"
    return "primary" if endpoint.primary else "secondary"


def _mean(values: list[int] | list[float]) -> float | None:
    return float(pystats.fmean(values)) if values else None


HEALING_METRIC = "red_area_pct"


def _mean_days(values: list[float | None]) -> st.Result:
    """The mean days to half with its t interval: a duration, so no test against zero."""
    return replace(
        st.single_arm_change(values), p_value=None, method="mean days to half of the redness peak, t interval"
    )


class _Analysis:
    """The computations over one :class:`StudyData`."""

    def __init__(self, data: StudyData) -> None:
        self.data = data
        self.design = data.study.design
        self.arms = sorted(data.arm_names) if data.by_arm else []

    # --- per side values ---------------------------------------------------------------------

    def _metric_by_side(self, endpoint: Endpoint, visit: tuple[int, int]) -> list[dict[str, Any]]:
        """Per participant: side -> (change, mdc)."""
        return [
            {
                side: (
                    (value.change, value.mdc)
                    if (value := p.metrics.get((endpoint.pk, side, visit))) is not None
                    else (None, None)
                )
                for side in self.data.sides
            }
            for p in self.data.participants
        ]

    def _score_by_side(self, endpoint: Endpoint, visit: tuple[int, int]) -> list[dict[str, float | None]]:
        """Per participant: side -> GAIS (mean of the raters) or satisfaction."""
        rows = []
        for p in self.data.participants:
            if endpoint.kind == EndpointKind.GAIS:
                rows.append(
                    {side: _mean(list(p.gais.get((visit, side), {}).values())) for side in self.data.sides}
                )
            else:
                rows.append(
                    {
                        side: (None if (s := p.satisfaction.get((visit, side))) is None else float(s))
                        for side in self.data.sides
                    }
                )
        return rows

    def _by_arm(self, values: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Per arm the values of its sides (split-face) or participants (parallel)."""
        grouped: dict[str, list[Any]] = defaultdict(list)
        for participant, sides in zip(self.data.participants, values, strict=True):
            for side, value in sides.items():
                arm = participant.arms.get(side)
                if arm:
                    grouped[arm].append(value)
        return grouped

    def _paired(self, values: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        """Split-face: per participant the value of the first arm's side and of the second's."""
        first, second = [], []
        for participant, sides in zip(self.data.participants, values, strict=True):
            by_arm = {participant.arms.get(side): value for side, value in sides.items()}
            first.append(by_arm.get(self.arms[0]))
            second.append(by_arm.get(self.arms[1]))
        return first, second

    @staticmethod
    def _pooled(values: list[dict[str, Any]]) -> list[Any]:
        """Per participant the mean over the sides (one number per person keeps them independent)."""
        pooled = []
        for sides in values:
            present = [v for v in sides.values() if v is not None]
            pooled.append(float(pystats.fmean(present)) if present else None)
        return pooled

    # --- endpoints ---------------------------------------------------------------------------

    def endpoint_results(self) -> list[EndpointResult]:
        found = []
        for endpoint in self.data.endpoints:
            exploratory = self.data.exploratory.get(endpoint.pk, False)
            for visit in self.data.visits:
                found.append(self._one(endpoint, visit, _role(endpoint, exploratory)))
        return found

    def _one(self, endpoint: Endpoint, visit: tuple[int, int], role: str) -> EndpointResult:
        per_arm: list[ArmSummary] = []
        responders: list[ArmSummary] = []
        if endpoint.kind == EndpointKind.METRIC:
            raw = self._metric_by_side(endpoint, visit)
            changes = [{side: pair[0] for side, pair in sides.items()} for sides in raw]
            mdcs = [pair[1] for sides in raw for pair in sides.values() if pair[1] is not None]
            mdc = max(mdcs) if mdcs else None
            lower = lower_is_better(endpoint.metric)
            comparison, result = self._compare_continuous(changes)
            groups = self._by_arm(changes) if self.data.by_arm else {POOLED: self._pooled(changes)}
            for arm, values in groups.items():
                per_arm.append(ArmSummary(arm, "mean change from baseline", st.single_arm_change(values)))
                if mdc is not None:
                    responders.append(
                        ArmSummary(arm, "responders", st.responders(values, mdc=mdc, lower_is_better=lower))
                    )
        else:
            scores = self._score_by_side(endpoint, visit)
            comparison, result = self._compare_ordinal(endpoint, scores)
            groups = (
                self._by_arm(scores)
                if self.data.by_arm
                else {POOLED: [v for sides in scores for v in sides.values()]}
            )
            for arm, values in groups.items():
                if endpoint.kind == EndpointKind.GAIS:
                    per_arm.append(ArmSummary(arm, "improved or better", st.improved_or_better(values)))
                else:
                    per_arm.append(
                        ArmSummary(
                            arm,
                            "satisfied (4-5)",
                            st.proportion(
                                [None if v is None else v >= 4 for v in values],
                                method="share satisfied (4-5), Wilson score interval",
                            ),
                        )
                    )
        return EndpointResult(
            endpoint=endpoint.pk,
            kind=endpoint.kind,
            metric=endpoint.metric,
            rating=endpoint.kind if endpoint.kind != EndpointKind.METRIC else "",
            region=endpoint.region,
            visit=visit_label(visit),
            session_number=visit[0],
            weeks_after_session=visit[1],
            registered_visit=visit == (endpoint.session_number, endpoint.weeks_after_session),
            primary=endpoint.primary,
            role=role,
            comparison=comparison,
            result=result,
            per_arm=per_arm,
            responders=responders,
        )

    def _compare_continuous(self, changes: list[dict[str, float | None]]) -> tuple[str, st.Result]:
        if not self.data.by_arm or self.design == Design.SINGLE_ARM or len(self.arms) < 2:
            label = "change from baseline" if self.data.by_arm else "change from baseline, pooled over arms"
            return label, st.single_arm_change(self._pooled(changes))
        first, second = self.arms[0], self.arms[1]
        if self.design == Design.SPLIT_FACE:
            a, b = self._paired(changes)
            return f"{first} - {second}", st.paired_difference(a, b)
        groups = self._by_arm(changes)
        return f"{first} - {second}", st.welch_difference(groups[first], groups[second])

    def _compare_ordinal(
        self, endpoint: Endpoint, scores: list[dict[str, float | None]]
    ) -> tuple[str, st.Result]:
        if not self.data.by_arm or self.design == Design.SINGLE_ARM or len(self.arms) < 2:
            pooled = [v for sides in scores for v in sides.values()]
            label = "share improved or better" if endpoint.kind == EndpointKind.GAIS else "share satisfied"
            if not self.data.by_arm:
                label += ", pooled over arms"
            if endpoint.kind == EndpointKind.GAIS:
                return label, st.improved_or_better(pooled)
            return label, st.proportion(
                [None if v is None else v >= 4 for v in pooled],
                method="share satisfied (4-5), Wilson score interval",
            )
        first, second = self.arms[0], self.arms[1]
        if self.design == Design.SPLIT_FACE:
            a, b = self._paired(scores)
            return f"{first} - {second}", st.wilcoxon_paired(a, b)
        groups = self._by_arm(scores)
        return f"{first} - {second}", st.mann_whitney(groups[first], groups[second])

    # --- healing ---------------------------------------------------------------------------------

    def healing(self) -> HealingResult:
        """Split-face by arm: the within-participant difference of the arm sides' days to half
        (paired t); parallel by arm: the difference between the arms (Welch); pooled or single
        arm: the mean days to half per participant (the mean of the sides)."""
        per_side: list[dict[str, Any]] = [
            {str(side): _mean(p.healing.get(side, [])) for side in (Side.LEFT, Side.RIGHT)}
            for p in self.data.participants
        ]
        # a parallel or single-arm participant has one arm for the whole face: the mean of the halves
        days = (
            per_side
            if self.design == Design.SPLIT_FACE
            else [{str(Side.WHOLE): value} for value in self._pooled(per_side)]
        )
        groups = self._by_arm(days) if self.data.by_arm else {POOLED: self._pooled(days)}
        per_arm = [
            ArmSummary(arm, "days to half", _mean_days(values)) for arm, values in sorted(groups.items())
        ]
        if not self.data.by_arm or self.design == Design.SINGLE_ARM or len(self.arms) < 2:
            label = "days to half" if self.data.by_arm else "days to half, pooled over arms"
            return HealingResult(HEALING_METRIC, label, _mean_days(self._pooled(days)), per_arm)
        first, second = self.arms[0], self.arms[1]
        if self.design == Design.SPLIT_FACE:
            result = st.paired_difference(*self._paired(days))
        else:
            groups = self._by_arm(days)
            result = st.welch_difference(groups[first], groups[second])
        return HealingResult(HEALING_METRIC, f"{first} - {second}", result, per_arm)

    # --- over all visits ---------------------------------------------------------------------

    def mixed_models(self) -> list[ModelResult]:
        found = []
        visit_index = {visit: position for position, visit in enumerate(self.data.visits, start=1)}
        visit_index[BASELINE] = 0
        for endpoint in self.data.endpoints:
            if endpoint.kind != EndpointKind.METRIC:
                continue
            observations = []
            for p in self.data.participants:
                for (endpoint_id, side, visit), value in p.metrics.items():
                    if endpoint_id != endpoint.pk or value.value is None:
                        continue
                    arm = p.arms.get(side, "") if self.data.by_arm else POOLED
                    if not arm:
                        continue
                    # split-face: each side its own series; the random intercept is the person's
                    observations.append(st.Observation(p.pseudonym, visit_index[visit], arm, value.value))
            two = self.data.by_arm and self.design != Design.SINGLE_ARM and len(self.arms) >= 2
            arms = self.arms[:2] if two else [self.arms[0] if self.data.by_arm and self.arms else POOLED]
            if two:
                observations = [o for o in observations if o.arm in arms]
            comparison = f"{arms[0]} - {arms[1]}" if two else "change from baseline"
            by_visit = {v: k for k, v in visit_index.items()}
            for index, result in st.mixed_model(observations, arms=arms).items():
                found.append(ModelResult(endpoint.pk, visit_label(by_visit[index]), comparison, result))
        return found

    def agreement(self) -> list[Agreement]:
        found = []
        for visit in self.data.visits:
            items: list[dict[int, int]] = [
                scores
                for p in self.data.participants
                for side in self.data.sides
                if (scores := p.gais.get((visit, side)))
            ]
            raters = sorted({r for scores in items for r in scores})
            if len(raters) < 2 or not items:
                continue
            if len(raters) == 2:
                pairs = [s for s in items if raters[0] in s and raters[1] in s]
                if not pairs:
                    continue
                result = st.weighted_kappa(
                    [s[raters[0]] for s in pairs], [s[raters[1]] for s in pairs], categories=[1, 2, 3, 4, 5]
                )
            else:
                result = st.icc_agreement([[s.get(r) for r in raters] for s in items])  # type: ignore[misc]
            found.append(Agreement(visit_label(visit), len(raters), result))
        return found

    def adverse_events(self) -> list[AdverseEventCount]:
        groups: dict[tuple[str, int, str, str], list[str]] = defaultdict(list)
        for event in self.data.adverse_events:
            relatedness = event.related_to_product or event.related_to_procedure
            arm = event.arm if self.data.by_arm else POOLED
            if self.data.by_arm and not arm:
                arm = BOTH_ARMS
            groups[(event.term, event.grade, relatedness, arm)].append(event.pseudonym)
        return [
            AdverseEventCount(term, grade, relatedness, arm, len(set(who)), len(who))
            for (term, grade, relatedness, arm), who in sorted(groups.items())
        ]

    def analysed(self, endpoints: list[EndpointResult]) -> dict[str, int]:
        """Participants with the primary endpoint at its registered visit, per arm (or pooled)."""
        primary = next((e for e in endpoints if e.primary and e.registered_visit), None)
        if primary is None:
            return {}
        return {s.arm: s.result.n for s in primary.per_arm}


def consort_of(*, study: Study, user: User, data: StudyData, analysed: dict[str, int]) -> Consort:
    flow = selectors.flow_of(study=study, user=user)
    allocated: Counter[str] = Counter()
    for p in data.participants:
        if data.by_arm:
            for arm in set(p.arms.values()):
                allocated[arm] += 1
        else:
            allocated[POOLED] += 1
    withdrawn = Counter(
        reason
        for reason in study.participants.filter(status="withdrawn").values_list(
            "withdrawal_reason", flat=True
        )
    )
    return Consort(
        assessed=flow.assessed,
        excluded=flow.excluded,
        excluded_by_reason=flow.excluded_by_reason,
        randomized=flow.enrolled,
        allocated=dict(sorted(allocated.items())),
        lost_to_follow_up=flow.withdrawn,
        withdrawn_by_reason=dict(withdrawn),
        analysed=analysed,
    )


def results_of(*, study: Study, user: User) -> StudyResults:
    """The study's analysis as ``user`` may see it (the staff roles of the study, its statistician
    and clinic administrators; raters never): pooled until a blinded study is unblinded at its end."""
    require_study_role(user, study, selectors.RESULTS_ROLES, clinic_admin=True)
    by_arm = by_arm_allowed(study)
    data = study_data(study=study, by_arm=by_arm)
    analysis = _Analysis(data)
    endpoints = analysis.endpoint_results()
    return StudyResults(
        study=study,
        design=study.design,
        by_arm=by_arm,
        unblinded_at=study_unblinded_at(study),
        arms=analysis.arms,
        arm_names=data.arm_names,
        endpoints=endpoints,
        healing=analysis.healing(),
        mixed_models=analysis.mixed_models(),
        agreement=analysis.agreement(),
        adverse_events=analysis.adverse_events(),
        consort=consort_of(study=study, user=user, data=data, analysed=analysis.analysed(endpoints)),
        data=data,
    )
