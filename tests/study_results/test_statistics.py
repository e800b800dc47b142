"""The study statistics against independent computations on a fixed data set (SciPy, statsmodels)
and against simulated studies with a known answer.

The simulations are seeded, so their rates are fixed; they are written to
``build/study_results/simulation.json`` (and printed with ``-s``). Synthetic values stand in for
skinlab's measurements and for blinded raters: the statistics only see numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from exoderm.studies.analysis import statistics as st

# pure statistics on a fixed data set: nothing here reaches a database
pytestmark = pytest.mark.off_postgres

# A fixed split-face data set: changes from baseline of redness on the arm-A and arm-B side.
A_SIDE = [-3.1, -2.4, -4.0, -1.2, -2.8, -3.5, -0.4, -2.2, None, -1.9, -3.3, -2.6]
B_SIDE = [-1.0, -1.9, -1.5, -0.8, -2.0, -0.9, 0.3, -1.1, -1.4, None, -1.2, -0.7]
# GAIS per side (1 very much improved .. 5 worse), same participants.
GAIS_A = [2, 2, 1, 3, 2, 3, 4, 2, 3, 2, 1, 3]
GAIS_B = [3, 4, 3, 3, 4, 3, 4, 3, 3, 4, 3, 5]

# A fixed split-face series for the mixed model: per participant redness of the arm-A side at the
# baseline and two follow-ups, then of the arm-B side.
SERIES = {
    "P0": ((20.4, 17.6, 14.7), (19.3, 17.5, 18.1)),
    "P1": ((24.7, 22.5, 22.1), (25.9, 24.6, 22.0)),
    "P2": ((20.9, 15.9, 15.2), (17.0, 17.0, 15.1)),
    "P3": ((17.2, 17.5, 15.3), (18.8, 14.3, 16.3)),
    "P4": ((20.0, 15.5, 15.1), (18.3, 17.6, 19.4)),
    "P5": ((16.8, 16.1, 11.9), (16.6, 16.0, 14.9)),
    "P6": ((15.2, 15.1, 8.8), (16.4, 14.3, 12.1)),
    "P7": ((29.1, 24.2, 24.1), (28.9, 26.7, 27.0)),
}
SERIES_OBSERVATIONS = [
    st.Observation(participant, visit, arm, value)
    for participant, sides in SERIES.items()
    for arm, values in zip("AB", sides, strict=True)
    for visit, value in enumerate(values)
]
# The answers of the fixed data sets, written out (estimate, CI low, CI high, p, n); the tests
# above and below hold them to SciPy and statsmodels computed independently.
WRITTEN_OUT = {
    "paired t": (-1.47, -2.0817, -0.8583, 0.000413, 10),
    "Welch t": (-1.3818, -2.1598, -0.6038, 0.001653, 22),
    "one-sample t": (-2.4909, -3.1926, -1.7892, 0.0000130, 11),
    "Wilcoxon signed-rank": (-1.0, -2.0, -0.5, 0.008299, 12),
    "Mann-Whitney U": (-1.0, -2.0, 0.0, 0.002659, 24),
    "mixed model, follow-up 1": (-0.8375, -2.6474, 0.9724, 0.35396, 8),
    "mixed model, follow-up 2": (-2.6, -4.4099, -0.7901, 0.006144, 8),
}

SIMULATIONS = 50
RESULTS_FILE = Path("build/study_results/simulation.json")


def _complete(first, second):
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def test_paired_difference_matches_scipy():
    result = st.paired_difference(A_SIDE, B_SIDE)
    a, b = _complete(A_SIDE, B_SIDE)
    reference = stats.ttest_rel(a, b)
    interval = reference.confidence_interval(0.95)
    assert result.n == 10 and result.missing == 2
    assert result.estimate == pytest.approx((a - b).mean())
    assert result.p_value == pytest.approx(reference.pvalue)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))
    assert result.estimate == pytest.approx(-1.47, abs=0.005)  # written out: the fixed answer


def test_welch_difference_matches_scipy():
    result = st.welch_difference(A_SIDE, B_SIDE)
    a = np.array([v for v in A_SIDE if v is not None])
    b = np.array([v for v in B_SIDE if v is not None])
    reference = stats.ttest_ind(a, b, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.n == 22 and result.missing == 2
    assert result.estimate == pytest.approx(a.mean() - b.mean())
    assert result.p_value == pytest.approx(reference.pvalue)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))


def test_single_arm_change_matches_scipy():
    result = st.single_arm_change(A_SIDE)
    a = np.array([v for v in A_SIDE if v is not None])
    reference = stats.ttest_1samp(a, 0.0)
    interval = reference.confidence_interval(0.95)
    assert result.n == 11 and result.missing == 1
    assert result.p_value == pytest.approx(reference.pvalue)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high))


def test_wilcoxon_and_mann_whitney_match_scipy():
    paired = st.wilcoxon_paired(GAIS_A, GAIS_B)
    differences = np.array(GAIS_A) - np.array(GAIS_B)
    reference = stats.wilcoxon(differences, zero_method="wilcox", correction=False, method="approx")
    assert paired.p_value == pytest.approx(reference.pvalue)
    assert paired.n == 12
    walsh = [(differences[i] + differences[j]) / 2 for i in range(12) for j in range(i, 12)]
    assert paired.estimate == pytest.approx(np.median(walsh))
    assert paired.ci_low <= paired.estimate <= paired.ci_high

    parallel = st.mann_whitney(GAIS_A, GAIS_B)
    reference_u = stats.mannwhitneyu(
        GAIS_A, GAIS_B, alternative="two-sided", method="asymptotic", use_continuity=False
    )
    assert parallel.p_value == pytest.approx(reference_u.pvalue)
    assert parallel.estimate == pytest.approx(np.median(np.subtract.outer(GAIS_A, GAIS_B)))
    assert parallel.n == 24


def test_improved_or_better_is_a_wilson_interval():
    result = st.improved_or_better([*GAIS_A, None])
    hits = sum(1 for g in GAIS_A if g <= 3)
    low, high = proportion_confint(hits, len(GAIS_A), alpha=0.05, method="wilson")
    assert result.estimate == pytest.approx(hits / 12)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    assert result.n == 12 and result.missing == 1


def test_responders_count_changes_beyond_the_mdc_in_the_improving_direction():
    result = st.responders(A_SIDE, mdc=2.5, lower_is_better=True)
    assert result.estimate == pytest.approx(6 / 11)  # -3.1 -4.0 -2.8 -3.5 -3.3 -2.6 go below -2.5
    higher = st.responders([3.0, 1.0, None], mdc=2.0, lower_is_better=False)
    assert higher.estimate == pytest.approx(0.5) and higher.missing == 1


def test_weighted_kappa_matches_statsmodels():
    rater_one = [1, 2, 2, 3, 3, 4, 2, 1, 3, 5, 4, 3, 2, 2, 3]
    rater_two = [1, 2, 3, 3, 4, 4, 2, 2, 3, 4, 4, 2, 2, 1, 3]
    result = st.weighted_kappa(rater_one, rater_two, categories=[1, 2, 3, 4, 5])
    table = np.zeros((5, 5))
    for a, b in zip(rater_one, rater_two, strict=True):
        table[a - 1, b - 1] += 1
    reference = cohens_kappa(table, wt="quadratic")
    assert result.estimate == pytest.approx(reference.kappa)
    assert result.ci_low < result.estimate < result.ci_high
    assert result.n == 15


def test_icc_matches_the_anova_of_statsmodels():
    scores = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    result = st.icc_agreement(scores)
    # Shrout and Fleiss (1979), table 2: ICC(2,1) of this data set is 0.29.
    assert result.estimate == pytest.approx(0.29, abs=0.005)
    frame = pd.DataFrame(
        [(i, j, v) for i, row in enumerate(scores) for j, v in enumerate(row)],
        columns=["item", "rater", "score"],
    )
    import statsmodels.api as sm

    table = sm.stats.anova_lm(smf.ols("score ~ C(item) + C(rater)", frame).fit())
    msr, msc, mse = (table["mean_sq"][name] for name in ("C(item)", "C(rater)", "Residual"))
    n, k = 6, 4
    assert result.estimate == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))
    assert result.ci_low < result.estimate < result.ci_high


def _long_frame(rng, *, participants, effect_per_visit, visits=3):
    """A split-face study over ``visits`` follow-ups: each participant's two sides share a random
    intercept; arm A improves by ``effect_per_visit * visit`` more than arm B."""
    rows = []
    for p in range(participants):
        person = rng.normal(20, 4)
        for arm in ("A", "B"):
            for visit in range(visits + 1):
                shift = -1.0 * visit + (effect_per_visit * visit if arm == "A" else 0.0)
                rows.append(st.Observation(f"P{p}", visit, arm, person + shift + rng.normal(0, 1.5)))
    return rows


def _independent_fit(observations):
    """statsmodels' MixedLM of the same model, with hand-made dummies instead of the formula's."""
    frame = pd.DataFrame([o.__dict__ for o in observations])
    frame["is_a"] = (frame["arm"] == "A").astype(float)
    visits = [v for v in sorted(frame["visit"].unique()) if v != 0]
    for visit in visits:
        frame[f"v{visit}"] = (frame["visit"] == visit).astype(float)
        frame[f"v{visit}_a"] = frame[f"v{visit}"] * frame["is_a"]
    terms = " + ".join([*(f"v{v}" for v in visits), "is_a", *(f"v{v}_a" for v in visits)])
    return smf.mixedlm(f"value ~ {terms}", frame, groups=frame["participant"]).fit(reml=True)


def _t_of(fit, term, df):
    """Estimate, t interval and p of one fixed effect of an independent fit, on ``df`` degrees of
    freedom (statsmodels' own intervals and p are Wald z)."""
    estimate, se = fit.params[term], fit.bse_fe[term]
    q = stats.t.ppf(0.975, df)
    return estimate - q * se, estimate + q * se, 2 * stats.t.sf(abs(estimate / se), df)


def test_mixed_model_matches_statsmodels_fitted_independently():
    rng = np.random.default_rng(7)
    observations = _long_frame(rng, participants=20, effect_per_visit=-1.0)
    results = st.mixed_model(observations, arms=["A", "B"])
    fit = _independent_fit(observations)
    for visit in (1, 2, 3):
        assert results[visit].estimate == pytest.approx(fit.params[f"v{visit}_a"], rel=1e-4)
        # split-face: 20 participants x 2 sides x 4 visits, less 20 participant levels, less the
        # 7 fixed effects that vary within a participant (3 visits, the arm, 3 interactions)
        low, high, p_value = _t_of(fit, f"v{visit}_a", 160 - 20 - 7)
        assert (results[visit].ci_low, results[visit].ci_high) == pytest.approx((low, high), rel=1e-3)
        assert results[visit].p_value == pytest.approx(p_value, rel=1e-3)
        assert results[visit].n == 20


def test_a_parallel_group_mixed_model_counts_the_arm_between_participants():
    """Each participant in one arm: the arm is a between-participant effect and leaves the
    within-participant degrees of freedom alone (80 observations, less 20 participant levels, less
    3 visits and 3 interactions)."""
    rng = np.random.default_rng(11)
    split = _long_frame(rng, participants=20, effect_per_visit=-1.0)
    parallel = [o for o in split if (o.arm == "A") == (int(o.participant[1:]) % 2 == 0)]
    results = st.mixed_model(parallel, arms=["A", "B"])
    fit = _independent_fit(parallel)
    for visit in (1, 2, 3):
        low, high, p_value = _t_of(fit, f"v{visit}_a", 80 - 20 - 6)
        assert (results[visit].ci_low, results[visit].ci_high) == pytest.approx((low, high), rel=1e-3)
        assert results[visit].p_value == pytest.approx(p_value, rel=1e-3)
        assert results[visit].n == 20  # participants with that visit, both arms


def test_the_fixed_data_sets_give_the_written_out_answers():
    """The answers written out in WRITTEN_OUT, from the app's statistics and, for the mixed model,
    from statsmodels fitted independently (the t-tests and rank tests are held to SciPy above)."""
    models = st.mixed_model(SERIES_OBSERVATIONS, arms=["A", "B"])
    found = {
        "paired t": st.paired_difference(A_SIDE, B_SIDE),
        "Welch t": st.welch_difference(A_SIDE, B_SIDE),
        "one-sample t": st.single_arm_change(A_SIDE),
        "Wilcoxon signed-rank": st.wilcoxon_paired(GAIS_A, GAIS_B),
        "Mann-Whitney U": st.mann_whitney(GAIS_A, GAIS_B),
        "mixed model, follow-up 1": models[1],
        "mixed model, follow-up 2": models[2],
    }
    for name, (estimate, low, high, p_value, n) in WRITTEN_OUT.items():
        result = found[name]
        assert (result.estimate, result.ci_low, result.ci_high) == pytest.approx(
            (estimate, low, high), abs=1e-4
        ), name
        assert result.p_value == pytest.approx(p_value, rel=1e-3), name
        assert result.n == n, name
    fit = _independent_fit(SERIES_OBSERVATIONS)
    for visit in (1, 2):
        estimate, low, high, p_value, _ = WRITTEN_OUT[f"mixed model, follow-up {visit}"]
        assert fit.params[f"v{visit}_a"] == pytest.approx(estimate, abs=1e-4)
        # 48 observations, less 8 participant levels, less 5 within-participant fixed effects
        assert _t_of(fit, f"v{visit}_a", 48 - 8 - 5) == pytest.approx((low, high, p_value), rel=1e-3)


def _record(name, value):
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    recorded[name] = value
    RESULTS_FILE.write_text(json.dumps(recorded, indent=2, sort_keys=True))
    print(f"{name}: {value}")


def test_simulated_split_face_studies_cover_the_true_effect_and_keep_the_null_at_five_percent():
    """50 studies of 30 participants with a true difference of -1.2 units between the sides' changes
    and 50 with none: the paired t interval covers -1.2 in >= 90 % (nominal 95 %), and the null is
    rejected at 0.05 in about 5 % (binomial 95 % range for 50 studies: 0 to 6)."""
    rng = np.random.default_rng(20261206)
    true_effect = -1.2
    covered = rejected = 0
    mixed_covered = 0
    for _ in range(SIMULATIONS):
        change_b = rng.normal(-1.0, 1.5, 30)
        change_a = change_b + true_effect + rng.normal(0, 1.5, 30)
        result = st.paired_difference(list(change_a), list(change_b))
        covered += result.ci_low <= true_effect <= result.ci_high
        null = st.paired_difference(list(change_b + rng.normal(0, 1.5, 30)), list(change_b))
        rejected += null.p_value < 0.05
        model = st.mixed_model(
            _long_frame(rng, participants=30, effect_per_visit=-0.5, visits=2), arms=["A", "B"]
        )
        mixed_covered += model[2].ci_low <= -1.0 <= model[2].ci_high
    _record("paired_t_coverage", covered / SIMULATIONS)
    _record("paired_t_null_rejection", rejected / SIMULATIONS)
    _record("mixed_model_coverage", mixed_covered / SIMULATIONS)
    assert covered / SIMULATIONS >= 0.90
    assert rejected <= 6
    assert mixed_covered / SIMULATIONS >= 0.90


def test_simulated_parallel_studies_with_welch():
    rng = np.random.default_rng(4242)
    true_effect = -1.5
    covered = rejected = 0
    for _ in range(SIMULATIONS):
        a = rng.normal(-1.0 + true_effect, 2.0, 25)
        b = rng.normal(-1.0, 3.0, 35)
        result = st.welch_difference(list(a), list(b))
        covered += result.ci_low <= true_effect <= result.ci_high
        rejected += st.welch_difference(list(rng.normal(-1, 2.0, 25)), list(b)).p_value < 0.05
    _record("welch_coverage", covered / SIMULATIONS)
    _record("welch_null_rejection", rejected / SIMULATIONS)
    assert covered / SIMULATIONS >= 0.90
    assert rejected <= 6


def _ratings(rng, n, shares):
    return list(rng.choice([1, 2, 3, 4, 5], size=n, p=shares))


def test_simulated_gais_ratings_cover_the_set_improvement_and_keep_the_null():
    """Ratings drawn with a set share improved or better (arm A 0.70, arm B 0.40): the Wilson
    interval covers the set share in >= 90 %; with both sides drawn alike, the Wilcoxon test calls
    about 5 % significant."""
    rng = np.random.default_rng(99)
    share_a = [0.10, 0.25, 0.35, 0.25, 0.05]  # 0.70 improved or better
    share_b = [0.05, 0.10, 0.25, 0.50, 0.10]  # 0.40
    covered = detected = rejected = 0
    for _ in range(SIMULATIONS):
        gais_a, gais_b = _ratings(rng, 40, share_a), _ratings(rng, 40, share_b)
        proportion = st.improved_or_better(gais_a)
        covered += proportion.ci_low <= 0.70 <= proportion.ci_high
        detected += st.wilcoxon_paired(gais_a, gais_b).p_value < 0.05
        rejected += st.wilcoxon_paired(_ratings(rng, 40, share_b), gais_b).p_value < 0.05
    _record("wilson_coverage", covered / SIMULATIONS)
    _record("wilcoxon_power_0.70_vs_0.40", detected / SIMULATIONS)
    _record("wilcoxon_null_rejection", rejected / SIMULATIONS)
    assert covered / SIMULATIONS >= 0.90
    assert detected / SIMULATIONS >= 0.6  # power, for the record; not an acceptance bound
    assert rejected <= 6


def test_too_little_data_gives_no_numbers_rather_than_wrong_ones():
    assert st.paired_difference([None, 1.0], [2.0, None]).estimate is None
    one = st.paired_difference([1.0], [0.5])
    assert one.estimate == pytest.approx(0.5) and one.ci_low is None and one.p_value is None
    assert st.welch_difference([], [1.0, 2.0]).estimate is None
    assert st.mixed_model([], arms=["A", "B"]) == {}
    assert st.improved_or_better([None]).estimate is None
    assert not math.isnan(st.wilcoxon_paired([2, 2], [2, 2]).p_value)
