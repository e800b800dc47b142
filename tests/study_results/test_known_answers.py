"""Study results against known answers (issue 16, first acceptance point): 50 simulated split-face
studies with a set effect and 50 without, phantom close-ups measured by skinlab and GAIS ratings
drawn with a set improvement, analysed by the app's own analysis (see ``_known_answers``).

Bounds: the CI covers the true effect in at least 45 of 50 studies (the issue's 90 %; a correct
95 % interval falls below it with a chance of 3.8 %), and at most 7 of 50 null studies are called
significant at 0.05 (the smallest bound that a true rate of 5 % exceeds with a chance under 1 %:
eight or more has 0.3 %, seven or more 1.2 %). Seeded, so
the counts are fixed; a deliberately wrong answer (the interval at half its width, the Wilcoxon
interval asked to cover a shift half a grade off) fails the same bounds, which the last test
checks. The rates are written to ``build/study_results/known_answers.json`` and, by
``python -m bench.study_known_answers``, to docs/benchmarks.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.study_results import _known_answers as ka

COVERAGE_AT_LEAST = ka.COVERAGE_AT_LEAST
NULL_AT_MOST = ka.NULL_AT_MOST
RESULTS_FILE = Path("build/study_results/known_answers.json")

# pure statistics on simulated studies: nothing here reaches a database
pytestmark = [pytest.mark.slow, pytest.mark.off_postgres]


@pytest.fixture(scope="module")
def drill() -> ka.Drill:
    found = ka.run_drill()
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(asdict(found), indent=2))
    print(json.dumps(asdict(found), indent=2))
    return found


def test_the_bounds_are_the_binomial_ones():
    assert stats.binom.cdf(COVERAGE_AT_LEAST - 1, ka.STUDIES, 0.95) == pytest.approx(0.038, abs=0.001)
    assert stats.binom.sf(NULL_AT_MOST, ka.STUDIES, 0.05) < 0.01
    assert stats.binom.sf(NULL_AT_MOST - 1, ka.STUDIES, 0.05) > 0.01


def test_the_close_up_metric_follows_the_pigment_contrast_one_to_one():
    """The endpoint's metric of a noise-free close-up: 8 L* less pigment contrast, 8 L* lighter
    (8-bit quantisation aside), whatever the skin; the patch is what the median sees."""
    for seed, skin in ((1, 60.0), (2, 68.0)):
        close_up = ka.CloseUp(seed=seed, skin_lightness=skin)
        darker, lighter = (ka.measure(close_up.photo(contrast)) for contrast in (16.0, 8.0))
        assert lighter - darker == pytest.approx(8.0, abs=0.3)
        assert darker == pytest.approx(skin - 16.0, abs=1.0)


def test_the_true_effects_are_what_the_simulation_sets(drill):
    """Measured, not assumed: the metric's true effect from the noise-free calibration is the set
    difference of the fading (3 - 1 L*) within quantisation; the GAIS pseudo-median of the
    difference is the set shift of one grade; the share improved or better follows from the
    rater error distribution."""
    assert drill.true_metric_effect == pytest.approx(ka.FADING["A"] - ka.FADING["B"], abs=0.05)
    assert drill.true_gais_shift == ka.GAIS_SHIFT
    assert ka.gais_pseudo_median(0) == 0
    # arm A's true grade is 2 or 3: always <= 3 from 2; from 3 unless the raters' errors sum above 0
    assert drill.true_improved_share == pytest.approx(0.5 + 0.5 * (1 - 2 * 0.6 * 0.2 - 0.2 * 0.2))


@pytest.mark.parametrize("method", ["paired_t", "mixed_model", "wilcoxon", "improved_or_better"])
def test_the_interval_covers_the_true_effect_in_at_least_90_percent(drill, method):
    assert drill.covered[method] >= COVERAGE_AT_LEAST, drill.covered


@pytest.mark.parametrize("method", ["paired_t", "mixed_model", "wilcoxon"])
def test_a_null_study_is_called_significant_in_about_5_percent(drill, method):
    assert drill.null_significant[method] <= NULL_AT_MOST, drill.null_significant


@pytest.mark.parametrize("method", ["paired_t", "mixed_model", "wilcoxon"])
def test_the_set_effect_is_found(drill, method):
    """An interval too wide to be of use would cover and keep the null: the effects are set large
    enough to be found in nearly every study (a 95 % interval would be wrong to miss them)."""
    assert drill.detected[method] >= COVERAGE_AT_LEAST, drill.detected


def test_the_bounds_refuse_deliberately_wrong_answers(drill):
    """The checks above can fail: a paired t interval of half its width covers the truth too
    rarely and calls too many null studies significant; one of twice its width misses the effect
    too often; the Wilcoxon interval does not cover a shift half a grade from the truth."""
    assert drill.wrong["paired_t_half_width"] < COVERAGE_AT_LEAST
    assert drill.wrong["paired_t_half_width_null"] > NULL_AT_MOST
    assert drill.wrong["paired_t_double_width_detected"] < COVERAGE_AT_LEAST
    assert drill.wrong["wilcoxon_off_by_half"] < COVERAGE_AT_LEAST


def test_the_studies_are_analysed_as_the_app_analyses_them():
    """One simulated study: every participant analysed, the paired t the one of the changes the
    app computes, and the arms on the sides the allocation put them."""
    with_effect, null = ka.simulate_pair(0)
    outcome = ka.analyse(with_effect)
    assert outcome.paired_t.n == outcome.wilcoxon.n == ka.PARTICIPANTS
    changes: dict[str, list[float | None]] = {arm: [] for arm in ka.ARMS}
    for participant in with_effect.participants:
        for side, arm in participant.arms.items():
            changes[arm].append(participant.metrics[(1, side, ka.FOLLOW_UP)].change)
    expected = stats.ttest_rel(changes["A"], changes["B"])
    assert outcome.paired_t.p_value == pytest.approx(expected.pvalue)
    assert outcome.paired_t.estimate == pytest.approx(np.mean(np.subtract(changes["A"], changes["B"])))
    assert {p.arms[ka.Side.LEFT] for p in with_effect.participants} == {"A", "B"}
    # the null twin shares the baselines and the arm-B side
    for twin, original in zip(null.participants, with_effect.participants, strict=True):
        b_side = next(side for side, arm in original.arms.items() if arm == "B")
        assert twin.metrics[(1, b_side, ka.FOLLOW_UP)] == original.metrics[(1, b_side, ka.FOLLOW_UP)]
