"""Simulated split-face studies with a known answer, analysed as the app analyses a study.

Shared by ``tests/study_results/test_known_answers.py`` (which asserts the rates) and
``bench/study_known_answers.py`` (which writes them to docs/benchmarks.md).

**Close-ups.** Each cheek of each participant is a small phantom close-up (120 x 160 px at
0.1 mm/px, 12 x 16 mm) of a pigmented patch framed by the photo: the participant's own skin
lightness, a fine texture of its own design and, over most of the frame, a patch whose pigment
darkens the skin by a *contrast* in L* (and yellows it a little, as melanin does). The patch fades
with treatment: its contrast falls by a set amount per side, plus each side's own biological
variation. The close-ups are "photographed" with the photo-to-photo variation a clinic has without
a colour chart (exposure gain) and sensor noise, quantised to 8 bits, and measured by the real
skinlab engine (:func:`exoderm.skinlab.pipeline.analyze`, region ``full`` as for a close-up). The
endpoint is ``L_median`` (lightness, higher is better): the patch covers most of the frame, so
its median lies on the patch and follows the contrast one to one.

**The true effect in the metric's own units** is not assumed from that design: it is measured by
:func:`true_metric_effect`, on noise-free captures of many participants' designs at the two
contrasts that the set fading of the arms leads to (the mean of the paired measurements; 8-bit
quantisation, the only error left, averages out over designs).

**Ratings.** Two raters score each side on GAIS (1 very much improved .. 5 worse): a side's true
grade plus each rater's own error of -1, 0 or +1 grade, symmetric. With an effect, the arm-A side's
true grade is one better than the arm-B side's (3 or 4 for B), so the difference of the raters'
means, A minus B, is distributed symmetrically about -1; its pseudo-median, which the
Hodges-Lehmann shift of :func:`~exoderm.studies.analysis.statistics.wilcoxon_paired` estimates,
is -1. Without an effect both sides share the distribution of B and the difference is symmetric
about 0.

**Analysis.** A simulated study becomes a :class:`~exoderm.studies.analysis.data.StudyData` (what
:func:`~exoderm.studies.analysis.data.study_data` reads from the database) and goes through the
app's own analysis (``results._Analysis``, the computations of
:func:`~exoderm.studies.analysis.results.results_of` without the database read): the paired t of
the changes, the linear mixed model over baseline and follow-up, the Wilcoxon signed-rank test
and the share rated improved or better per arm.

**Null studies** reuse the participants of the effect study of the same number (their baseline
close-ups, the arm-B side's follow-up and its ratings) with a new arm-A follow-up that fades and is
rated like arm B: each set of studies is a set of independent studies, only study *k* of one set
is not independent of study *k* of the other (which saves three close-ups in eight).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from exoderm.skinlab.pipeline import analyze
from exoderm.studies.analysis import statistics as st
from exoderm.studies.analysis.data import BASELINE, MetricValue, ParticipantData, StudyData
from exoderm.studies.analysis.results import _Analysis
from exoderm.studies.models import Design, Endpoint, EndpointKind, ParticipantStatus, Side, Study

STUDIES = 50
#: Acceptance: the CI covers the truth in at least this many studies (the issue's 90 %), and at
#: most this many null studies are called significant (see test_known_answers.py).
COVERAGE_AT_LEAST = 45
NULL_AT_MOST = 7
PARTICIPANTS = 20
SHAPE = (120, 160)
MM_PER_PX = 0.1
METRIC = "L_median"
FOLLOW_UP = (1, 12)
ARMS = ("A", "B")

#: Skin lightness (L*) of the participants, mean and SD.
SKIN_LIGHTNESS = (64.0, 3.0)
#: SD (L*) of the fine skin texture, and its grain (px) in the close-up.
TEXTURE_SD, TEXTURE_GRAIN_PX = 0.8, 1.5
#: Pigment contrast (L* darker than the skin around) at baseline, mean and SD over participants.
BASELINE_CONTRAST = (12.0, 2.0)
#: Contrast lost by the follow-up (L*): set per arm, plus each side's biological variation (SD).
FADING = {"A": 3.0, "B": 1.0}
FADING_SD = 1.0
#: b* added per L* of pigment contrast (melanin yellows as it darkens).
PIGMENT_YELLOW = 0.3
#: Photo-to-photo exposure gain (SD, relative) without a colour chart, and sensor noise (8-bit SD).
EXPOSURE_SD = 0.02
SENSOR_NOISE_SD = 2.0

#: Rater error in GAIS grades and its probabilities (symmetric).
RATER_ERROR = {-1: 0.2, 0: 0.6, 1: 0.2}
RATERS = 2
#: True GAIS grade of the arm-B (vehicle) side: improved (3) or no change (4), equally likely.
VEHICLE_GRADES = (3, 4)
#: With an effect the arm-A side's true grade is this much lower (better): the known shift.
GAIS_SHIFT = -1
#: Noise-free participants' designs measured for the true effect.
CALIBRATION_DESIGNS = 100


class CloseUp:
    """One cheek's phantom close-up: the skin (lightness, texture of its own design) and the
    patch's shape; :meth:`photo` takes it at a pigment contrast."""

    def __init__(self, *, seed: int, skin_lightness: float) -> None:
        rng = np.random.default_rng(seed)
        height, width = SHAPE
        grain = cv2.GaussianBlur(rng.standard_normal(SHAPE).astype(np.float32), (0, 0), TEXTURE_GRAIN_PX)
        self.skin = (skin_lightness + TEXTURE_SD * grain / float(grain.std())).astype(np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        cx, cy = width / 2 + rng.uniform(-5, 5), height / 2 + rng.uniform(-5, 5)
        rx, ry = 0.6 * width * rng.uniform(0.95, 1.05), 0.6 * height * rng.uniform(0.95, 1.05)
        radius = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        # a soft border of 0.5 mm; the patch fills all but the corners of the frame
        self.pigment = np.clip((1 - radius) * min(rx, ry) * MM_PER_PX / 0.5, 0, 1).astype(np.float32)

    def photo(self, contrast: float, *, gain: float = 1.0, noise_seed: int | None = None) -> np.ndarray:
        """The 8-bit sRGB close-up at ``contrast``, exposed with ``gain`` on linear light and with
        sensor noise drawn from ``noise_seed`` (none when ``None``)."""
        # A gain g on linear light scales X, Y and Z, hence (above L* 8, as skin always is) turns
        # L* into g^(1/3) (L* + 16) - 16 and a*, b* into g^(1/3) a*, b*: exposure applied in L*a*b*.
        scale = gain ** (1 / 3)
        lab = np.empty((*SHAPE, 3), np.float32)
        lab[..., 0] = scale * (self.skin - contrast * self.pigment + 16) - 16
        lab[..., 1] = scale * 11.0
        lab[..., 2] = scale * (16.0 + PIGMENT_YELLOW * contrast * self.pigment)
        out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255
        if noise_seed is not None:
            noise = np.random.default_rng(noise_seed).standard_normal(out.shape, dtype=np.float32)
            out += noise * SENSOR_NOISE_SD
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def measure(rgb: np.ndarray) -> float:
    """The endpoint's metric of a close-up, by skinlab as the worker runs it for a close-up."""
    analysis = analyze(rgb, roi="full", mm_per_px=MM_PER_PX, keep_arrays=False, find_face=False)
    return float(analysis.regions["full"].metrics[METRIC])


def true_metric_effect(*, contrast_loss: dict[str, float] = FADING) -> float:
    """The difference of the changes from baseline, arm A minus arm B, in ``L_median`` as skinlab
    measures it: for each of :data:`CALIBRATION_DESIGNS` participants (skin, texture and baseline
    contrast drawn as in the studies), the noise-free close-ups at the two follow-up contrasts
    measured, and the mean of ``A - B`` (the baselines cancel)."""
    rng = np.random.default_rng(1)
    differences = []
    for seed in range(CALIBRATION_DESIGNS):
        close_up = CloseUp(seed=10_000_000 + seed, skin_lightness=rng.normal(*SKIN_LIGHTNESS))
        baseline = rng.normal(*BASELINE_CONTRAST)
        a, b = (measure(close_up.photo(baseline - contrast_loss[arm])) for arm in ARMS)
        differences.append(a - b)
    return float(np.mean(differences))


def gais_pseudo_median(shift: int) -> float:
    """The pseudo-median of the A - B difference of the raters' mean GAIS, computed from the
    distribution drawn from (the median of the Walsh averages of its two independent copies):
    ``shift`` for this symmetric design, checked rather than assumed."""
    differences = _gais_difference_distribution(shift)
    walsh: dict[float, float] = {}
    for (d1, p1), (d2, p2) in itertools.product(differences.items(), repeat=2):
        walsh[(d1 + d2) / 2] = walsh.get((d1 + d2) / 2, 0.0) + p1 * p2
    cumulative = 0.0
    for value in sorted(walsh):
        cumulative += walsh[value]
        if cumulative >= 0.5:
            return value
    raise AssertionError("a distribution sums to 1")


def _side_mean_distribution(grades: tuple[int, ...]) -> dict[float, float]:
    """The distribution of the raters' mean GAIS of a side whose true grade is one of ``grades``
    (equally likely)."""
    found: dict[float, float] = {}
    for grade in grades:
        for errors in itertools.product(RATER_ERROR.items(), repeat=RATERS):
            value = grade + sum(e for e, _ in errors) / RATERS
            chance = math.prod(p for _, p in errors) / len(grades)
            found[value] = found.get(value, 0.0) + chance
    return found


def _gais_difference_distribution(shift: int) -> dict[float, float]:
    """The A - B difference of one participant: both sides share the true vehicle grade, A's
    shifted by ``shift``; the raters' errors of the two sides are independent."""
    found: dict[float, float] = {}
    for grade in VEHICLE_GRADES:
        a = _side_mean_distribution((grade + shift,))
        b = _side_mean_distribution((grade,))
        for (va, pa), (vb, pb) in itertools.product(a.items(), b.items()):
            found[va - vb] = found.get(va - vb, 0.0) + pa * pb / len(VEHICLE_GRADES)
    return found


def true_improved_share(shift: int) -> float:
    """The share of arm-A sides whose raters' mean GAIS is improved or better (<= 3)."""
    grades = tuple(g + shift for g in VEHICLE_GRADES)
    return sum(p for v, p in _side_mean_distribution(grades).items() if v <= st.IMPROVED_OR_BETTER)


@dataclass(frozen=True)
class StudyOutcome:
    """What the app's analysis reports for one simulated study at the follow-up."""

    paired_t: st.Result
    mixed_model: st.Result
    wilcoxon: st.Result
    improved_a: st.Result


def _rater_scores(rng: np.random.Generator, grade: int) -> dict[int, int]:
    errors = rng.choice(list(RATER_ERROR), size=RATERS, p=list(RATER_ERROR.values()))
    return {rater: int(grade + error) for rater, error in enumerate(errors)}


def _study(participants: list[ParticipantData]) -> StudyData:
    study = Study(design=Design.SPLIT_FACE, title="Simulated split-face study")
    endpoints = [
        Endpoint(
            pk=1, kind=EndpointKind.METRIC, metric=METRIC, region="cheek_left", primary=True,
            session_number=FOLLOW_UP[0], weeks_after_session=FOLLOW_UP[1],
        ),
        Endpoint(
            pk=2, kind=EndpointKind.GAIS, session_number=FOLLOW_UP[0], weeks_after_session=FOLLOW_UP[1],
        ),
    ]  # fmt: skip
    return StudyData(
        study=study, by_arm=True, sides=[Side.LEFT, Side.RIGHT], visits=[FOLLOW_UP], endpoints=endpoints,
        participants=participants, adverse_events=[], deviations=[],
        arm_names={"A": "Exosome", "B": "Vehicle"}, exploratory={},
    )  # fmt: skip


def _participant(number: int, arms: dict[str, str]) -> ParticipantData:
    return ParticipantData(
        pseudonym=f"S-{number:03d}", status=ParticipantStatus.COMPLETED, enrolled_on=dt.date(2026, 1, 5),
        withdrawn_day=None, age_band=None, fitzpatrick=2, arms=arms,
    )  # fmt: skip


def _record_metric(participant: ParticipantData, side: str, baseline: float, follow_up: float) -> None:
    participant.metrics[(1, side, BASELINE)] = MetricValue(baseline)
    participant.metrics[(1, side, FOLLOW_UP)] = MetricValue(follow_up, change=follow_up - baseline)


def simulate_pair(number: int) -> tuple[StudyData, StudyData]:
    """Study ``number`` with the set effects and its null twin (arm A fading and rated like B)."""
    rng = np.random.default_rng(20261206 + number)
    with_effect, null = [], []
    seeds = itertools.count(number * 1000)
    for person in range(PARTICIPANTS):
        left_is_a = bool(rng.integers(2))
        sides = {"A": Side.LEFT if left_is_a else Side.RIGHT, "B": Side.RIGHT if left_is_a else Side.LEFT}
        arms = {side: arm for arm, side in sides.items()}
        effect_row, null_row = _participant(person, arms), _participant(person, arms)
        skin = rng.normal(*SKIN_LIGHTNESS)
        contrast = rng.normal(*BASELINE_CONTRAST)

        def photographed(close_up: CloseUp, pigment: float) -> float:
            return measure(close_up.photo(pigment, gain=rng.normal(1, EXPOSURE_SD), noise_seed=next(seeds)))

        for arm, side in sides.items():
            close_up = CloseUp(seed=number * 1000 + 2 * person + (arm == "B"), skin_lightness=skin)
            baseline = photographed(close_up, contrast)
            follow_up = photographed(close_up, contrast - rng.normal(FADING[arm], FADING_SD))
            _record_metric(effect_row, side, baseline, follow_up)
            if arm == "B":
                _record_metric(null_row, side, baseline, follow_up)
            else:
                null_follow_up = photographed(close_up, contrast - rng.normal(FADING["B"], FADING_SD))
                _record_metric(null_row, side, baseline, null_follow_up)
        grade = int(rng.choice(VEHICLE_GRADES))
        effect_row.gais[(FOLLOW_UP, sides["A"])] = _rater_scores(rng, grade + GAIS_SHIFT)
        null_row.gais[(FOLLOW_UP, sides["A"])] = _rater_scores(rng, grade)
        effect_row.gais[(FOLLOW_UP, sides["B"])] = null_row.gais[(FOLLOW_UP, sides["B"])] = _rater_scores(
            rng, grade
        )
        with_effect.append(effect_row)
        null.append(null_row)
    return _study(with_effect), _study(null)


def analyse(data: StudyData) -> StudyOutcome:
    """The app's analysis of the simulated study (results_of's computations on in-memory data)."""
    analysis = _Analysis(data)
    metric, gais = analysis.endpoint_results()
    (model,) = analysis.mixed_models()
    improved = next(s.result for s in gais.per_arm if s.arm == "A")
    return StudyOutcome(metric.result, model.result, gais.result, improved)


def covers(result: st.Result, truth: float, *, width: float = 1.0) -> bool:
    """Whether the CI, scaled about the estimate by ``width`` (1 for the method's own), holds
    ``truth``."""
    assert result.estimate is not None and result.ci_low is not None and result.ci_high is not None
    low = result.estimate - width * (result.estimate - result.ci_low)
    high = result.estimate + width * (result.ci_high - result.estimate)
    return low <= truth <= high


def significant(result: st.Result) -> bool:
    assert result.p_value is not None
    return result.p_value < 0.05


@dataclass(frozen=True)
class Drill:
    """The counts over :data:`STUDIES` studies with the set effects and as many null studies."""

    studies: int
    true_metric_effect: float
    true_gais_shift: float
    true_improved_share: float
    #: method -> studies whose CI covers the true effect
    covered: dict[str, int]
    #: method -> null studies called significant at 0.05
    null_significant: dict[str, int]
    #: method -> studies with the set effect called significant at 0.05 (the design powers them
    #: near 100 %; an interval too wide to be of use would still cover and keep the null)
    detected: dict[str, int]
    #: the same checks of deliberately wrong answers, which the bounds must refuse: the paired t
    #: interval at half its width, the null called significant when that half-width interval
    #: excludes 0, the effect found when the interval at twice its width excludes 0, and the
    #: Wilcoxon interval's coverage of a shift half a grade off the truth
    wrong: dict[str, int]
    cpu_seconds: float


def run_drill() -> Drill:
    """The simulated studies and their null twins, analysed; what the CIs covered and the null
    studies called significant."""
    started = time.process_time()
    metric_truth = true_metric_effect()
    gais_truth = gais_pseudo_median(GAIS_SHIFT)
    share_truth = true_improved_share(GAIS_SHIFT)
    covered = dict.fromkeys(("paired_t", "mixed_model", "wilcoxon", "improved_or_better"), 0)
    null_significant = dict.fromkeys(("paired_t", "mixed_model", "wilcoxon"), 0)
    detected = dict.fromkeys(("paired_t", "mixed_model", "wilcoxon"), 0)
    wrong = dict.fromkeys(
        (
            "paired_t_half_width",
            "paired_t_half_width_null",
            "paired_t_double_width_detected",
            "wilcoxon_off_by_half",
        ),
        0,
    )
    for number in range(STUDIES):
        with_effect, null = (analyse(data) for data in simulate_pair(number))
        covered["paired_t"] += covers(with_effect.paired_t, metric_truth)
        covered["mixed_model"] += covers(with_effect.mixed_model, metric_truth)
        covered["wilcoxon"] += covers(with_effect.wilcoxon, gais_truth)
        covered["improved_or_better"] += covers(with_effect.improved_a, share_truth)
        null_significant["paired_t"] += significant(null.paired_t)
        null_significant["mixed_model"] += significant(null.mixed_model)
        null_significant["wilcoxon"] += significant(null.wilcoxon)
        detected["paired_t"] += significant(with_effect.paired_t)
        detected["mixed_model"] += significant(with_effect.mixed_model)
        detected["wilcoxon"] += significant(with_effect.wilcoxon)
        wrong["paired_t_half_width"] += covers(with_effect.paired_t, metric_truth, width=0.5)
        wrong["paired_t_half_width_null"] += not covers(null.paired_t, 0.0, width=0.5)
        wrong["paired_t_double_width_detected"] += not covers(with_effect.paired_t, 0.0, width=2.0)
        wrong["wilcoxon_off_by_half"] += covers(with_effect.wilcoxon, gais_truth + 0.5)
    return Drill(
        studies=STUDIES,
        true_metric_effect=metric_truth,
        true_gais_shift=gais_truth,
        true_improved_share=share_truth,
        covered=covered,
        null_significant=null_significant,
        detected=detected,
        wrong=wrong,
        cpu_seconds=time.process_time() - started,
    )
