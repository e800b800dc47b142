"""Phone camera processing in the capture model, and how compare() judges phone-processed pairs.

Through ``android-aggressive`` (strong two-radius sharpening, strong local tone mapping) the spot,
wrinkle and pore metrics are too noisy for the study's mdc (docs/benchmarks.md, skinlab under
phone processing): compare leaves them unjudged, says why and what to do, and never calls that
noise an improvement. Through the ordinary profiles every metric is judged.

The captures are the repeatability study's (``make_phantom(seed=0, spots=25, wrinkles=10)``
captured with :meth:`Perturbation.random`, measured in the frame minus a 40 px border), with seeds
from 9300 on, which neither the study (1000 on) nor its held-out check (5000 on) uses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exoderm.skinlab.aims import AIMS
from exoderm.skinlab.compare import PROCESSING_SENSITIVE, Comparison, Remark, compare
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.phone import PHONE_PROFILES, phone_process
from exoderm.skinlab.pipeline import Analysis, analyze

pytestmark = pytest.mark.slow

PROCESSING = [name for name, profile in PHONE_PROFILES.items() if profile.processes]
STRONG = "android-aggressive"
"""The profile whose processing the repeatability study does not cover."""
BASELINE_SEED, FOLLOW_UP_SEED = 9300, 9301
CLEARED = 5
"""Spots of 25 a treatment clears in the changed follow-up."""

#: Metrics whose decrease is a claimed improvement (less pigment, redness, lines, roughness).
LESS_IS_BETTER = frozenset(key for key, aim in AIMS.items() if aim == "lower")


def _capture(seed: int, phone: str, **design) -> Analysis:
    ph = make_phantom(
        seed=0, spots=25, wrinkles=10, red_patches=3, pores=300, **design,
        perturb=Perturbation.random(seed, phone=phone),
    )  # fmt: skip
    region = np.zeros(ph.mask.shape, bool)
    region[40:-40, 40:-40] = True
    return analyze(ph.rgb, roi=region, mm_per_px=ph.mm_per_px, keep_arrays=False)


@pytest.fixture(scope="module")
def captures() -> dict[tuple[str, int], Analysis]:
    """Per profile: two unchanged captures; the cleared follow-up is made by its test."""
    return {
        (name, seed): _capture(seed, name)
        for name in PHONE_PROFILES
        for seed in (BASELINE_SEED, FOLLOW_UP_SEED)
    }


def _result(before: Analysis, after: Analysis) -> Comparison:
    result = compare(before, after, heatmap=False)
    assert result.comparable, result.reasons
    assert all(row["mdc"] is not None for row in result.regions["mask"].values())  # every metric studied
    return result


def _rows(before: Analysis, after: Analysis) -> dict[str, dict]:
    return _result(before, after).regions["mask"]


def _unjudged(rows: dict[str, dict]) -> set[str]:
    return {key for key, row in rows.items() if row["beyond_noise"] is None}


def _processing_notes(result: Comparison) -> dict[str, Remark]:
    return {n.kind: n for n in result.notes if n.kind in ("sharpened", "processing_differs")}


def _changed(rows: dict[str, dict]) -> set[str]:
    return {key for key, row in rows.items() if row["beyond_noise"]}


def test_the_stage_is_deterministic_and_pro_raw_like_leaves_the_capture_alone():
    ph = make_phantom(
        shape=(240, 320), spots=3, wrinkles=1, red_patches=1, pores=20, perturb=Perturbation(noise_sd=2)
    )
    assert phone_process(ph.rgb, profile="pro-raw-like", seed=1) is ph.rgb
    for name in PROCESSING:
        first = phone_process(ph.rgb, profile=name, seed=1)
        assert first.shape == ph.rgb.shape and first.dtype == np.uint8
        assert np.array_equal(first, phone_process(ph.rgb, profile=name, seed=1))
        assert not np.array_equal(first, ph.rgb)
    # in the capture model: a profile without processing is the capture without a phone
    plain = Perturbation.random(3)
    without = make_phantom(shape=(240, 320), spots=3, pores=20, perturb=plain)
    raw_like = make_phantom(
        shape=(240, 320), spots=3, pores=20, perturb=dataclasses.replace(plain, phone="pro-raw-like")
    )
    assert np.array_equal(without.rgb, raw_like.rgb)
    with pytest.raises(ValueError, match="phone must be one of"):
        Perturbation(phone="no-such-phone")


@pytest.mark.parametrize("profile", [name for name in PHONE_PROFILES if name != STRONG])
def test_a_same_face_pair_through_one_phone_is_judged_without_false_changes(captures, profile):
    result = _result(captures[profile, BASELINE_SEED], captures[profile, FOLLOW_UP_SEED])
    rows = result.regions["mask"]
    assert _changed(rows) == set()
    assert _unjudged(rows) == set() and _processing_notes(result) == {}  # every metric judged


def test_a_same_face_pair_through_strong_sharpening_leaves_its_noisy_metrics_unjudged(captures):
    """Before, this pair called spot_count, spot_area_mm2, spot_area_pct, wrinkle_count,
    wrinkle_length_mm, wrinkle_density, pore_count, pore_density, texture_rms and tone_sd_L
    changed: the processing raises their noise above the study's mdc."""
    before, after = captures[STRONG, BASELINE_SEED], captures[STRONG, FOLLOW_UP_SEED]
    for a in (before, after):
        assert a.quality.edge_overshoot_pct is not None and a.quality.edge_overshoot_pct > 10
    result = _result(before, after)
    rows = result.regions["mask"]
    assert _changed(rows) == set()
    assert _unjudged(rows) == PROCESSING_SENSITIVE
    # the colour of the skin and the red area are judged whatever the processing
    assert {"L_median", "a_median", "red_area_pct"} <= set(rows) - _unjudged(rows)
    (note,) = _processing_notes(result).values()  # one pipeline: no note that the two differ
    assert note.kind == "sharpened" and note.params["photo"] == "both"
    assert note.params["metrics"] == sorted(PROCESSING_SENSITIVE)
    assert "strongly sharpened by the camera" in note and "Pro or RAW mode" in note
    assert "one device and mode at every visit" in note


@pytest.fixture(scope="module")
def cleared() -> dict[str, Analysis]:
    """Per processing profile: the follow-up after a treatment that cleared ``CLEARED`` spots."""
    return {name: _capture(FOLLOW_UP_SEED, name, spots_cleared=CLEARED) for name in PROCESSING}


@pytest.mark.parametrize("profile", [name for name in PROCESSING if name != STRONG])
def test_cleared_spots_still_show_through_a_phone(captures, cleared, profile):
    rows = _rows(captures[profile, BASELINE_SEED], cleared[profile])
    for key in ("spot_count", "spot_area_mm2", "spot_area_pct"):
        assert rows[key]["beyond_noise"] is True and rows[key]["delta"] < 0, (key, rows[key])


@pytest.mark.parametrize("profile", [name for name in PROCESSING if name != STRONG])
def test_cleared_spots_are_counted_through_a_phone(captures, cleared, profile):
    rows = _rows(captures[profile, BASELINE_SEED], cleared[profile])
    assert rows["spot_count"]["delta"] == pytest.approx(-CLEARED, abs=1)


def test_spots_cleared_through_strong_sharpening_are_not_judged_and_the_clinic_is_told_why(captures, cleared):
    """Before, 5 cleared spots of 25 counted as 3 through this profile and were judged: its
    sharpening makes and unmakes spots near the threshold."""
    result = _result(captures[STRONG, BASELINE_SEED], cleared[STRONG])
    rows = result.regions["mask"]
    for key in ("spot_count", "spot_area_mm2", "spot_area_pct"):
        assert rows[key]["beyond_noise"] is None and rows[key]["delta"] is not None, (key, rows[key])
    note = _processing_notes(result)["sharpened"]
    assert {"spot_count", "spot_area_mm2", "spot_area_pct"} <= set(note.params["metrics"])
    assert "such processing alone changes these, so they are not judged" in note


def test_a_raw_like_baseline_and_an_aggressive_follow_up_claim_no_improvement(captures):
    """Before, this pair was called an improvement of spot_count, spot_area_mm2 and spot_area_pct
    (and a roughening of texture and tone): the follow-up's sharpening leaves them unjudged now."""
    result = _result(captures["pro-raw-like", BASELINE_SEED], captures[STRONG, FOLLOW_UP_SEED])
    rows = result.regions["mask"]
    improvements = {key for key in _changed(rows) & LESS_IS_BETTER if rows[key]["delta"] < 0}
    assert improvements == set()
    assert _changed(rows) == set()
    assert _unjudged(rows) == PROCESSING_SENSITIVE
    (note,) = _processing_notes(result).values()
    assert note.kind == "sharpened" and note.params["photo"] == "after"
    # the colour of the skin is judged whatever the processing
    assert rows["L_median"]["beyond_noise"] is not None
