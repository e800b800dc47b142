"""Phone camera processing in the capture model, and how compare() judges phone-processed pairs.

The captures are the repeatability study's (``make_phantom(seed=0, spots=25, wrinkles=10)``
captured with :meth:`Perturbation.random`, measured in the frame minus a 40 px border), with seeds
from 9300 on, which neither the study (1000 on) nor its held-out check (5000 on) uses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exoderm.skinlab.aims import AIMS
from exoderm.skinlab.compare import compare
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.phone import PHONE_PROFILES, phone_process
from exoderm.skinlab.pipeline import Analysis, analyze

pytestmark = pytest.mark.slow

PROCESSING = [name for name, profile in PHONE_PROFILES.items() if profile.processes]
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


def _rows(before: Analysis, after: Analysis) -> dict[str, dict]:
    result = compare(before, after, heatmap=False)
    assert result.comparable, result.reasons
    rows = result.regions["mask"]
    assert all(row["mdc"] is not None for row in rows.values())  # every metric is judged
    return rows


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


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(name, marks=pytest.mark.xfail(
            strict=True,
            reason="finding: android-aggressive's sharpening and tone mapping raise the capture-to-capture "
            "noise above the study's mdc; this pair calls spot_count, spot_area_mm2, spot_area_pct, "
            "wrinkle_count, wrinkle_length_mm, wrinkle_density, pore_count and pore_density changed "
            "(docs/benchmarks.md, skinlab under phone processing)",
        )) if name == "android-aggressive" else name
        for name in PHONE_PROFILES
    ],
)  # fmt: skip
def test_a_same_face_pair_through_one_phone_is_judged_without_false_changes(captures, profile):
    rows = _rows(captures[profile, BASELINE_SEED], captures[profile, FOLLOW_UP_SEED])
    assert _changed(rows) == set()


@pytest.fixture(scope="module")
def cleared() -> dict[str, Analysis]:
    """Per processing profile: the follow-up after a treatment that cleared ``CLEARED`` spots."""
    return {name: _capture(FOLLOW_UP_SEED, name, spots_cleared=CLEARED) for name in PROCESSING}


@pytest.mark.parametrize("profile", PROCESSING)
def test_cleared_spots_still_show_through_a_phone(captures, cleared, profile):
    rows = _rows(captures[profile, BASELINE_SEED], cleared[profile])
    for key in ("spot_count", "spot_area_mm2", "spot_area_pct"):
        assert rows[key]["beyond_noise"] is True and rows[key]["delta"] < 0, (key, rows[key])


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(name, marks=pytest.mark.xfail(
            strict=True,
            reason="finding: through android-aggressive 5 cleared spots of 25 count as 3 "
            "(spot_count delta -3): its sharpening makes and unmakes spots near the threshold",
        )) if name == "android-aggressive" else name
        for name in PROCESSING
    ],
)  # fmt: skip
def test_cleared_spots_are_counted_through_a_phone(captures, cleared, profile):
    rows = _rows(captures[profile, BASELINE_SEED], cleared[profile])
    assert rows["spot_count"]["delta"] == pytest.approx(-CLEARED, abs=1)


@pytest.mark.xfail(
    strict=True,
    reason="finding: a pro-raw-like baseline against an android-aggressive follow-up of the same "
    "skin is called an improvement of spot_count, spot_area_mm2 and spot_area_pct",
)
def test_a_raw_like_baseline_and_an_aggressive_follow_up_claim_no_improvement(captures):
    rows = _rows(captures["pro-raw-like", BASELINE_SEED], captures["android-aggressive", FOLLOW_UP_SEED])
    improvements = {key for key in _changed(rows) & LESS_IS_BETTER if rows[key]["delta"] < 0}
    assert improvements == set()
