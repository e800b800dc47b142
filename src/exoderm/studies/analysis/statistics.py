"""The pre-registered statistics of a study, as pure functions of numbers (numpy, SciPy,
statsmodels; nothing of Django), so that they can be checked against independent computations and
simulated studies with a known answer (``tests/study_results/test_statistics.py``).

Every test returns a :class:`Result`: the estimate with its two-sided 95 % confidence interval, the
p-value, the number of participants analysed, the method and how missing data were handled. The
analyses are complete-case: a participant (or side) without the value at a visit is left out of
that visit's analysis and counted in ``missing``; nothing is imputed. ``None`` for a number means
it cannot be computed from the data given (too few participants, no variation).

GAIS scores are coded as usual, 1 (very much improved) to 5 (worse): a *negative* difference
favours the first arm.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

#: Two-sided confidence level of every interval.
LEVEL = 0.95
#: GAIS codes: 1 very much improved, 2 much improved, 3 improved, 4 no change, 5 worse.
IMPROVED_OR_BETTER = 3
#: Bootstrap resamples for the interval of the weighted kappa (seeded: the same data, the same CI).
KAPPA_BOOTSTRAP = 2000

COMPLETE_CASE = "complete cases; no imputation"


@dataclass(frozen=True)
class Result:
    """One analysed quantity. ``missing`` counts the participants (or sides) without data."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    method: str
    missing: int = 0
    missing_data: str = COMPLETE_CASE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _none_if_nan(value: float) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _present(values: Sequence[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)


def _t_interval(mean: float, se: float, df: float) -> tuple[float | None, float | None, float | None]:
    """The CI and two-sided p of a t statistic; Nones when the standard error is zero."""
    if not se > 0 or not df > 0:
        return None, None, None
    quantile = float(stats.t.ppf(0.5 + LEVEL / 2, df))
    p_value = float(2 * stats.t.sf(abs(mean / se), df))
    return mean - quantile * se, mean + quantile * se, p_value


def paired_difference(first: Sequence[float | None], second: Sequence[float | None]) -> Result:
    """Split-face: the mean within-participant difference ``first - second`` (e.g. the change from
    baseline of the arm-A side minus that of the arm-B side), paired t-test. ``first[i]`` and
    ``second[i]`` belong to participant ``i``; a pair with either missing is left out."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    missing = len(first) - len(pairs)
    differences = np.array([a - b for a, b in pairs], dtype=float)
    return _one_sample(differences, missing, "paired t-test of the within-participant difference")


def single_arm_change(changes: Sequence[float | None]) -> Result:
    """Single arm: the mean change from baseline, one-sample t-test against no change."""
    values = _present(changes)
    return _one_sample(values, len(changes) - len(values), "one-sample t-test of the change from baseline")


def _one_sample(values: np.ndarray, missing: int, method: str) -> Result:
    n = len(values)
    if n == 0:
        return Result(None, None, None, None, 0, method, missing)
    mean = float(values.mean())
    if n < 2:
        return Result(mean, None, None, None, n, method, missing)
    se = float(values.std(ddof=1) / math.sqrt(n))
    low, high, p_value = _t_interval(mean, se, n - 1)
    return Result(mean, low, high, p_value, n, method, missing)


def welch_difference(first: Sequence[float | None], second: Sequence[float | None]) -> Result:
    """Parallel groups: the difference of mean changes ``first - second`` between two arms, Welch's
    t-test (unequal variances, Welch–Satterthwaite degrees of freedom)."""
    a, b = _present(first), _present(second)
    missing = len(first) + len(second) - len(a) - len(b)
    method = "Welch t-test of the difference between arms"
    n = len(a) + len(b)
    if len(a) == 0 or len(b) == 0:
        return Result(None, None, None, None, n, method, missing)
    difference = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Result(difference, None, None, None, n, method, missing)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 0.0
    low, high, p_value = _t_interval(difference, se, df)
    return Result(difference, low, high, p_value, n, method, missing)


def _z() -> float:
    return float(stats.norm.ppf(0.5 + LEVEL / 2))


def wilson_interval(successes: int, n: int) -> tuple[float | None, float | None]:
    """Wilson's score interval of a proportion (good coverage also near 0 and 1 and for small n)."""
    if n == 0:
        return None, None
    z = _z()
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(flags: Sequence[bool | None], *, method: str) -> Result:
    """The share of ``True`` among the known flags, with Wilson's interval (no test: p is None)."""
    known = [flag for flag in flags if flag is not None]
    n = len(known)
    hits = sum(1 for flag in known if flag)
    low, high = wilson_interval(hits, n)
    return Result(hits / n if n else None, low, high, None, n, method, len(flags) - n)


def improved_or_better(scores: Sequence[float | None]) -> Result:
    """The share of participants (sides) rated improved or better (GAIS 1–3), Wilson interval."""
    return proportion(
        [None if s is None else s <= IMPROVED_OR_BETTER for s in scores],
        method="share rated improved or better (GAIS 1-3), Wilson score interval",
    )


def responders(changes: Sequence[float | None], *, mdc: float, lower_is_better: bool) -> Result:
    """The share of participants whose change from baseline goes beyond the metric's minimal
    detectable change in the improving direction, with Wilson's interval."""
    flags = [None if c is None else (c < -mdc if lower_is_better else c > mdc) for c in changes]
    direction = "below -mdc" if lower_is_better else "above +mdc"
    return proportion(flags, method=f"share with change {direction} (mdc {mdc:g}), Wilson score interval")


def _walsh_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Hodges–Lehmann estimate (median of the Walsh averages) and its distribution-free interval
    from the normal approximation of the signed-rank statistic."""
    n = len(values)
    i, j = np.triu_indices(n)
    walsh = np.sort((values[i] + values[j]) / 2)
    count = len(walsh)
    k = math.floor(n * (n + 1) / 4 - _z() * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    k = min(max(k, 0), count - 1)
    return float(np.median(walsh)), float(walsh[k]), float(walsh[count - 1 - k])


def wilcoxon_paired(first: Sequence[float | None], second: Sequence[float | None]) -> Result:
    """Split-face GAIS: Wilcoxon signed-rank test of ``first - second`` (zero differences dropped as
    Wilcoxon did, normal approximation with tie correction), the Hodges–Lehmann shift as estimate."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    missing = len(first) - len(pairs)
    differences = np.array([a - b for a, b in pairs], dtype=float)
    method = "Wilcoxon signed-rank test; Hodges-Lehmann shift with its CI"
    n = len(differences)
    if n == 0:
        return Result(None, None, None, None, 0, method, missing)
    estimate, low, high = _walsh_interval(differences)
    if not np.any(differences != 0):
        return Result(estimate, low, high, 1.0, n, method, missing)
    test = stats.wilcoxon(differences, zero_method="wilcox", method="approx", correction=False)
    return Result(estimate, low, high, float(test.pvalue), n, method, missing)


def mann_whitney(first: Sequence[float | None], second: Sequence[float | None]) -> Result:
    """Parallel GAIS: Mann–Whitney U test (normal approximation with tie correction), the
    Hodges–Lehmann shift ``first - second`` (median of all pairwise differences) with its CI."""
    a, b = _present(first), _present(second)
    missing = len(first) + len(second) - len(a) - len(b)
    method = "Mann-Whitney U test; Hodges-Lehmann shift with its CI"
    n = len(a) + len(b)
    if len(a) == 0 or len(b) == 0:
        return Result(None, None, None, None, n, method, missing)
    differences = np.sort(np.subtract.outer(a, b).ravel())
    m, k_total = len(a) * len(b), len(differences)
    k = math.floor(m / 2 - _z() * math.sqrt(len(a) * len(b) * (n + 1) / 12))
    k = min(max(k, 0), k_total - 1)
    estimate = float(np.median(differences))
    if np.all(np.concatenate([a, b]) == a[0]):
        return Result(
            estimate, float(differences[k]), float(differences[k_total - 1 - k]), 1.0, n, method, missing
        )
    test = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=False)
    return Result(
        estimate,
        float(differences[k]),
        float(differences[k_total - 1 - k]),
        float(test.pvalue),
        n,
        method,
        missing,
    )


def weighted_kappa(first: Sequence[int], second: Sequence[int], *, categories: Sequence[int]) -> Result:
    """Agreement of two raters on an ordinal scale: Cohen's kappa with quadratic weights, and a
    percentile bootstrap interval over the rated items (seeded)."""
    a, b = np.asarray(first, dtype=int), np.asarray(second, dtype=int)
    method = "Cohen's kappa, quadratic weights; percentile bootstrap CI"
    n = len(a)
    if n == 0:
        return Result(None, None, None, None, 0, method)
    index = {c: i for i, c in enumerate(categories)}
    ia, ib = np.array([index[v] for v in a]), np.array([index[v] for v in b])
    estimate = _kappa(ia, ib, len(categories))
    rng = np.random.default_rng(20261206)
    draws = rng.integers(0, n, size=(KAPPA_BOOTSTRAP, n))
    boot = np.array([_kappa(ia[d], ib[d], len(categories)) for d in draws])
    boot = boot[~np.isnan(boot)]
    low, high = np.quantile(boot, [0.025, 0.975]) if len(boot) else (math.nan, math.nan)
    return Result(_none_if_nan(estimate), _none_if_nan(low), _none_if_nan(high), None, n, method)


def _kappa(ia: np.ndarray, ib: np.ndarray, k: int) -> float:
    observed = np.zeros((k, k))
    np.add.at(observed, (ia, ib), 1)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.arange(k)
    weights = (grid[:, None] - grid[None, :]) ** 2 / (k - 1) ** 2
    disagreement = float((weights * expected).sum())
    if disagreement == 0:
        return math.nan
    return 1 - float((weights * observed).sum()) / disagreement


def icc_agreement(scores: Sequence[Sequence[float]]) -> Result:
    """Agreement of three or more raters: ICC(2,1) of Shrout and Fleiss (two-way random effects,
    absolute agreement, a single rater) with the F-based interval of McGraw and Wong.
    ``scores[i][j]`` is rater ``j``'s score of item ``i``; items not rated by every rater are left
    out."""
    rows = [list(r) for r in scores if all(v is not None for v in r)]
    method = "ICC(2,1), two-way random, absolute agreement; McGraw-Wong F interval"
    missing = len(scores) - len(rows)
    n = len(rows)
    if n < 2:
        return Result(None, None, None, None, n, method, missing)
    x = np.asarray(rows, dtype=float)
    k = x.shape[1]
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    if denominator <= 0:
        return Result(None, None, None, None, n, method, missing)
    icc = (msr - mse) / denominator
    p_value = float(stats.f.sf(msr / mse, n - 1, (n - 1) * (k - 1))) if mse > 0 else None
    if icc >= 1 or mse <= 0:
        return Result(float(icc), None, None, p_value, n, method, missing)
    # McGraw & Wong (1996), case 2A: approximate degrees of freedom of the denominator.
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f_high = float(stats.f.ppf(0.5 + LEVEL / 2, n - 1, v))
    f_low = float(stats.f.ppf(0.5 + LEVEL / 2, v, n - 1))
    low = n * (msr - f_high * mse) / (f_high * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_low * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_low * msr)
    return Result(float(icc), float(low), float(high), p_value, n, method, missing)


@dataclass(frozen=True)
class Observation:
    """One measured value for the mixed model: ``visit`` 0 is the baseline."""

    participant: str
    visit: int
    arm: str
    value: float


def _within_participant_df(
    *, observations: int, participants: int, fixed_effects: int, between_effects: int
) -> float:
    """Degrees of freedom of a within-participant effect: the "between-within" rule (SAS's DDFM=BW).

    The visit and visit × arm effects vary within a participant, so under the random-intercept
    model their estimates rest on the within-participant residuals: the observations less one
    level per participant and less the fixed effects that vary within participants. statsmodels'
    own intervals are Wald z, which treat the standard error as known: too narrow for the few
    participants of a pilot (8 participants, 3 visits: z 1.96 against t 2.03 on 35 degrees of
    freedom); with many participants t and z agree.
    """
    within_effects = fixed_effects - between_effects
    return float(observations - participants - within_effects)


def mixed_model(observations: Sequence[Observation], *, arms: Sequence[str]) -> dict[int, Result]:
    """Over all visits: the linear mixed model ``value ~ C(visit) * C(arm)`` with a random intercept
    per participant (statsmodels ``MixedLM``, REML), baseline as visit 0.

    With two arms it returns, for each follow-up visit, the difference of the changes from baseline
    ``arms[0] - arms[1]`` (the visit × arm interaction); with one arm the change from baseline (the
    visit effect). Participants contribute whatever visits they have (likelihood-based; no
    imputation), hence ``n`` is the number of participants with that visit.
    """
    import pandas as pd
    import statsmodels.formula.api as smf

    method = (
        "linear mixed model value ~ visit x arm, random intercept per participant (REML), "
        "t with between-within degrees of freedom"
    )
    missing_data = "all available observations (likelihood-based under missing at random)"
    frame = pd.DataFrame([asdict(o) for o in observations])
    if frame.empty or frame["visit"].nunique() < 2 or frame["participant"].nunique() < 3:
        return {}
    two_arms = len(arms) == 2
    reference = arms[1] if two_arms else arms[0]
    formula = (
        f"value ~ C(visit, Treatment(0)) * C(arm, Treatment('{reference}'))"
        if two_arms
        else "value ~ C(visit, Treatment(0))"
    )
    model = smf.mixedlm(formula, frame, groups=frame["participant"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(reml=True)
    names = list(fit.fe_params.index)
    df = _within_participant_df(
        observations=len(frame),
        participants=frame["participant"].nunique(),
        fixed_effects=len(names),
        # the intercept, and in a parallel-group study the arm; in a split-face study every
        # participant has both arms, so the arm effect is within participants as well
        between_effects=2 if two_arms and (frame.groupby("participant")["arm"].nunique() == 1).all() else 1,
    )
    results: dict[int, Result] = {}
    for visit in sorted(v for v in frame["visit"].unique() if v != 0):
        term = f"C(visit, Treatment(0))[T.{visit}]"
        if two_arms:
            term = f"{term}:C(arm, Treatment('{reference}'))[T.{arms[0]}]"
        if term not in names:
            continue
        estimate = float(fit.fe_params[term])
        low, high, p_value = _t_interval(estimate, float(fit.bse_fe[term]), df)
        with_visit = frame[frame["visit"] == visit]["participant"].nunique()
        results[int(visit)] = Result(
            estimate,
            low,
            high,
            p_value,
            int(with_visit),
            method,
            int(frame["participant"].nunique() - with_visit),
            missing_data,
        )
    return results
