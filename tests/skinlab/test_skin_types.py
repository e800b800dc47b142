"""skinlab on every skin type: phantoms of Fitzpatrick I to VI and the engine's accuracy on each.

The accuracy targets are the same for every type (issue 18): spot count ±5 %, spot area ±10 %,
wrinkle count ±10 %, wrinkle length ±15 %, red area ±10 %, each on every one of three designs under
a mild realistic capture. Since engine 1.4.0 every type meets every target: the detection
thresholds scale with the local L* + 16 as the features' contrast does (the truth follows the same
definitions), and a faint line that noise breaks is joined across the break. Before, the fixed
thresholds missed spots and red area on type VI and split or missed wrinkles on III to VI
(``docs/engine-changelog.md``, 1.4.0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from exoderm.skinlab.metrics import RegionMeasurement, measure_regions
from exoderm.skinlab.phantom import FITZPATRICK_LAB, Perturbation, Truth, make_phantom, skin_contrast

SEEDS = (0, 1, 2)
#: Relative error allowed per metric, the same on every skin type.
TARGETS = {
    "spot_count": 0.05,
    "spot_area_mm2": 0.10,
    "wrinkle_count": 0.10,
    "wrinkle_length_mm": 0.15,
    "red_area_pct": 0.10,
}
TRUTH_OF = {
    "spot_count": lambda t: t.spot_count,
    "spot_area_mm2": lambda t: t.spot_area_mm2,
    "wrinkle_count": lambda t: t.wrinkle_count,
    "wrinkle_length_mm": lambda t: t.wrinkle_length_mm,
    "red_area_pct": lambda t: t.red_area_pct,
}
#: ITA° bands of Chardon (1991) / Del Bino (2006), Fitzpatrick I..VI taken as the six in order.
ITA_BANDS = {
    "I": (55.0, 90.0),
    "II": (41.0, 55.0),
    "III": (28.0, 41.0),
    "IV": (10.0, 28.0),
    "V": (-30.0, 10.0),
    "VI": (-90.0, -30.0),
}


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """D65 sRGB -> CIE L*a*b* (OpenCV's float conversion)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def measure(skin_type: str, seed: int, **kw) -> tuple[Truth, RegionMeasurement]:
    ph = make_phantom(seed=seed, skin_type=skin_type, **kw)
    return ph.truth, measure_regions(to_lab(ph.rgb), {"full": ph.mask}, mm_per_px=ph.mm_per_px)["full"]


@pytest.fixture(scope="module")
def by_type():
    """Measure each type's three designs once (25 spots, 10 wrinkles, 3 red patches, 60 x 80 mm
    at 0.05 mm/px, pores left out: they have no target), on first use."""
    cache: dict[str, list[tuple[Truth, RegionMeasurement]]] = {}

    def get(skin_type: str) -> list[tuple[Truth, RegionMeasurement]]:
        if skin_type not in cache:
            cache[skin_type] = [
                measure(skin_type, seed, spots=25, wrinkles=10, pores=0, perturb=Perturbation.mild(seed))
                for seed in SEEDS
            ]
        return cache[skin_type]

    return get


@pytest.mark.parametrize(("skin_type", "metric"), [(t, m) for t in FITZPATRICK_LAB for m in TARGETS])
def test_accuracy_per_skin_type(by_type, skin_type, metric):
    errors = []
    for truth, r in by_type(skin_type):
        expected = TRUTH_OF[metric](truth)
        assert expected > 0
        errors.append((r.metrics[metric] - expected) / expected)
    assert max(map(abs, errors)) <= TARGETS[metric], [f"{100 * e:+.1f} %" for e in errors]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "engine 1.4.0: spot area -13.4 % (and one line split, +10 %). With the light phantom's "
        "contrast in L* units, type VI features are 1.67 times the type's own relative to L* + 16, "
        "and the reddest spots (designed Δa* up to +2.5 a*, 5.2 % of L* + 16 here) reach the "
        "spot's non-red limit, SPOT_DA_MAX scaled to 2.4 a* on this skin: their centres are no "
        "spot pixels (with the limit lifted the area is +0.9 %). Engine 1.3.0 met every target here"
    ),
)
def test_dark_skin_at_the_default_contrast_meets_every_target():
    """Type VI skin with the light phantom's feature contrast in L* units (about 1.7 times the
    type's own, relative to its L* + 16): every target."""
    truth, r = measure(
        "VI", 0, spots=25, wrinkles=10, pores=0, feature_contrast=1.0, perturb=Perturbation.mild(0)
    )
    for metric, target in TARGETS.items():
        expected = TRUTH_OF[metric](truth)
        assert abs(r.metrics[metric] - expected) / expected <= target, metric


@pytest.mark.parametrize("skin_type", list(FITZPATRICK_LAB))
def test_each_type_has_its_colour_and_ita_band(skin_type):
    truth, r = measure(
        skin_type, 5, shape=(400, 500), spots=0, wrinkles=0, red_patches=0, pores=0, shading=0.0
    )
    L, a, b = FITZPATRICK_LAB[skin_type]
    assert truth.base_lab == (L, a, b)
    assert r.metrics["L_median"] == pytest.approx(L, abs=1.0)
    assert r.metrics["a_median"] == pytest.approx(a, abs=0.7)
    assert r.metrics["b_median"] == pytest.approx(b, abs=0.7)
    lo, hi = ITA_BANDS[skin_type]
    assert lo < r.metrics["ita_deg"] < hi
    assert lo < math.degrees(math.atan((L - 50) / b)) < hi


def test_lightness_spans_30_to_80_and_darkens_with_type():
    lightness = [lab[0] for lab in FITZPATRICK_LAB.values()]
    assert lightness == sorted(lightness, reverse=True)
    assert 30 <= lightness[-1] <= 35 and 70 <= lightness[0] <= 80


def test_features_lose_contrast_on_darker_skin():
    """The same design on type I and on type VI: the same spots and lines where they were, each
    (L*+16)/80 times as deep, and the erythema's Δa* as much lower."""
    kw = {"seed": 3, "shape": (600, 800), "spots": 10, "wrinkles": 4, "red_patches": 2, "pores": 0}
    flat = {"tone_variation": 0.0, "mottling": 0.0, "texture": 0.0, "shading": 0.0}
    light = make_phantom(skin_type="I", **kw, **flat)
    dark = make_phantom(skin_type="VI", **kw, **flat)
    ratio = skin_contrast(32.0) / skin_contrast(74.0)
    assert ratio == pytest.approx(48 / 90)
    assert [(s["x"], s["y"], s["area_mm2"]) for s in dark.truth.spots] == [
        (s["x"], s["y"], s["area_mm2"]) for s in light.truth.spots
    ]
    assert [s["depth"] for s in dark.truth.spots] == pytest.approx(
        [ratio * s["depth"] for s in light.truth.spots]
    )
    assert [w["depth"] for w in dark.truth.wrinkles] == pytest.approx(
        [ratio * w["depth"] for w in light.truth.wrinkles]
    )
    da_light = light.lab[..., 1] - FITZPATRICK_LAB["I"][1]
    da_dark = dark.lab[..., 1] - FITZPATRICK_LAB["VI"][1]
    assert da_dark.max() == pytest.approx(ratio * da_light.max(), rel=1e-4)
    # the truth's thresholds scale with L* + 16 as the contrast does (engine 1.4.0 on): the
    # same spots and red patches on either skin, of the same area
    assert dark.truth.red_area_pct == pytest.approx(light.truth.red_area_pct, rel=1e-3)
    assert dark.truth.red_area_pct > 0
    assert dark.truth.spot_count == light.truth.spot_count
    assert dark.truth.spot_area_mm2 == pytest.approx(light.truth.spot_area_mm2, rel=1e-3)


def test_explicit_contrast_and_bad_type():
    """``feature_contrast`` overrides the type's; an unknown type is refused."""
    kw = {"seed": 4, "shape": (300, 400), "spots": 4, "wrinkles": 0, "red_patches": 0, "pores": 0}
    assert [s["depth"] for s in make_phantom(skin_type="VI", feature_contrast=1.0, **kw).truth.spots] == [
        s["depth"] for s in make_phantom(**kw).truth.spots
    ]
    with pytest.raises(ValueError, match="skin_type"):
        make_phantom(skin_type="VII", **kw)
    with pytest.raises(ValueError, match="feature_contrast"):
        make_phantom(feature_contrast=0.0, **kw)
