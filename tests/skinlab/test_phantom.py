"""skinlab.phantom: synthetic skin with ground truth, capture perturbations, ColorChecker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from exoderm.skinlab.phantom import (
    COLORCHECKER24_NAMES,
    COLORCHECKER24_SRGB,
    Perturbation,
    make_phantom,
    render_colorchecker,
    spots_to_clear,
)

SMALL = {"shape": (500, 700), "spots": 8, "wrinkles": 3, "red_patches": 1, "pores": 60}


def test_deterministic_and_well_formed():
    a = make_phantom(seed=7, **SMALL)
    b = make_phantom(seed=7, **SMALL)
    c = make_phantom(seed=8, **SMALL)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (500, 700, 3)
    assert a.mask.dtype == bool and a.mask.all()
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert a.truth == b.truth
    assert not np.array_equal(a.rgb, c.rgb)


def test_truth_counts_what_was_placed():
    ph = make_phantom(seed=1, spots=20, wrinkles=8, red_patches=3, pores=200)
    t = ph.truth
    assert t.spot_count == len(t.spots) == 20
    assert t.wrinkle_count == len(t.wrinkles) == 8
    assert t.pore_count == 200
    assert 0.1 * 20 < t.spot_area_mm2 < 50 * 20
    assert all(6.0 <= w["length_mm"] <= 32.0 for w in t.wrinkles)
    assert t.wrinkle_length_mm == pytest.approx(sum(w["length_mm"] for w in t.wrinkles))
    assert 0 < t.red_area_pct < 30
    assert t.skin_area_mm2 == pytest.approx(1200 * 1600 * 0.05**2)
    assert t.spot_area_pct == pytest.approx(100 * t.spot_area_mm2 / t.skin_area_mm2)


def test_cleared_spots_leave_the_same_design():
    """``spots_cleared``: the same skin with its last spots gone, everything else untouched."""
    before = make_phantom(seed=7, **SMALL)
    after = make_phantom(seed=7, **{**SMALL, "spots_cleared": 3})
    assert after.truth.spots == before.truth.spots[:5]
    assert after.truth.wrinkles == before.truth.wrinkles and after.truth.pore_count == before.truth.pore_count
    changed = np.any(before.rgb != after.rgb, axis=2)
    assert changed.any()
    near_cleared = np.zeros(changed.shape, np.uint8)
    for spot in before.truth.spots[5:]:
        reach = 1.5 * np.sqrt(spot["area_mm2"] / np.pi) / 0.05 + 10  # its outline, soft edge and blur
        cv2.circle(near_cleared, (round(spot["x"]), round(spot["y"])), round(reach), 1, -1)
    assert not (changed & (near_cleared == 0)).any()  # nothing changed but the cleared spots
    with pytest.raises(ValueError, match="spots_cleared"):
        make_phantom(seed=7, **{**SMALL, "spots_cleared": 9})


def test_spots_to_clear_clears_spots_a_crowded_design_really_holds():
    """A small close-up with a chart has room for fewer spots than asked; clearing by the asked
    count would first clear spots that were never placed (the demo pilot's cheeks lost none)."""
    design = {"shape": (480, 640), "spots": 16, "chart": True, "chart_pitch_mm": 2.0}
    placed = make_phantom(seed=20, **design).truth.spot_count
    assert placed < 16
    assert make_phantom(seed=20, **design, spots_cleared=3).truth.spot_count > placed - 3
    for wanted, left in ((3, placed - 3), (placed + 5, 0)):
        cleared = spots_to_clear(asked=16, placed=placed, wanted=wanted)
        assert make_phantom(seed=20, **design, spots_cleared=cleared).truth.spot_count == left


def test_faded_spots_are_the_same_spots_lighter():
    """``spot_fade``: every spot where it was, its darkening scaled; the truth counts those
    still at ΔL* −5 or darker."""
    before = make_phantom(seed=7, **SMALL)
    after = make_phantom(seed=7, **{**SMALL, "spot_fade": 0.5})
    assert [(s["x"], s["y"], s["area_mm2"]) for s in after.truth.spots] == [
        (s["x"], s["y"], s["area_mm2"]) for s in before.truth.spots
    ]
    assert [s["depth"] for s in after.truth.spots] == pytest.approx(
        [0.5 * s["depth"] for s in before.truth.spots]
    )
    assert after.truth.wrinkles == before.truth.wrinkles
    still_spots = sum(s["depth"] <= -5.0 for s in after.truth.spots)
    assert 0 < still_spots < before.truth.spot_count
    assert after.truth.spot_count == still_spots
    assert after.truth.spot_area_mm2 < before.truth.spot_area_mm2
    lighter = after.rgb.astype(int).sum(axis=2) - before.rgb.astype(int).sum(axis=2)
    assert lighter.min() >= -3 and lighter.max() > 30  # lighter where spots were, nowhere darker
    with pytest.raises(ValueError, match="spot_fade"):
        make_phantom(seed=7, **{**SMALL, "spot_fade": 1.5})


def test_design_matches_the_spec_definitions():
    """Spots are darker (ΔL* <= -5) and not redder (Δa* <= +4); red patches have Δa* >= +6."""
    ph = make_phantom(seed=2, tone_variation=0, mottling=0, texture=0, shading=0, pores=0, wrinkles=0)
    L0, a0, _ = ph.truth.base_lab
    for s in ph.truth.spots:
        x, y = round(s["x"]), round(s["y"])
        assert ph.lab[y, x, 0] - L0 <= -5
        assert ph.lab[y, x, 1] - a0 <= 4
    red = (ph.lab[..., 1] - a0) >= 6
    assert 100 * red.mean() == pytest.approx(ph.truth.red_area_pct)


def test_sizes_outside_the_image_are_skipped_not_crashing():
    ph = make_phantom(shape=(120, 150), seed=0, spots=5, wrinkles=5, red_patches=5, pores=10)
    assert ph.truth.wrinkle_count < 5
    assert ph.rgb.shape == (120, 150, 3)


def test_render_colorchecker_reference_colours():
    img, centers = render_colorchecker(patch_px=40, gap_px=8, border_px=12)
    assert img.shape == (2 * 12 + 4 * 48 - 8, 2 * 12 + 6 * 48 - 8, 3)
    assert len(COLORCHECKER24_NAMES) == 24 and COLORCHECKER24_SRGB.shape == (24, 3)
    for i, (x, y) in enumerate(centers):
        np.testing.assert_allclose(img[round(y), round(x)], COLORCHECKER24_SRGB[i], atol=1e-6)
    # the reference is the D65 sRGB of the published chart: neutral patches are grey, white is bright
    lab = cv2.cvtColor(COLORCHECKER24_SRGB[None], cv2.COLOR_RGB2Lab)[0]
    assert lab[18, 0] > 94 and lab[23, 0] < 22
    assert np.abs(lab[19:, 1:]).max() < 2.5
    assert lab[1, 1] > 10 and lab[1, 2] > 10  # light skin is reddish-yellow


@pytest.mark.parametrize("rot", [0.0, 2.0])
def test_chart_in_phantom_is_where_the_truth_says(rot):
    ph = make_phantom(
        seed=3, chart=True, shading=0.0, perturb=Perturbation(rotation_deg=rot, shift_px=(4, -3))
    )
    ch = ph.truth.chart
    assert ch is not None and ch["pitch_mm"] == pytest.approx(7.0, abs=0.06)
    assert not ph.mask.all() and ph.mask.mean() > 0.6
    for i, (x, y) in enumerate(ch["centers"]):
        got = ph.rgb[round(y), round(x)] / 255.0
        np.testing.assert_allclose(got, COLORCHECKER24_SRGB[i], atol=2.5 / 255)
        assert not ph.mask[round(y), round(x)]
    # the skin mask moves with the image
    assert ph.mask.shape == ph.rgb.shape[:2]


def test_exposure_and_white_balance_move_colour():
    base = make_phantom(seed=4, **SMALL)
    bright = make_phantom(seed=4, **SMALL, perturb=Perturbation(exposure=1.2))
    warm = make_phantom(seed=4, **SMALL, perturb=Perturbation(wb_gains=(1.1, 1.0, 0.9)))
    assert bright.rgb.mean() > base.rgb.mean() + 5
    assert warm.rgb[..., 0].mean() > base.rgb[..., 0].mean() + 3
    assert warm.rgb[..., 2].mean() < base.rgb[..., 2].mean() - 3
    assert warm.truth == base.truth


def test_noise_blur_and_jpeg_are_mild():
    base = make_phantom(seed=5, **SMALL)
    cap = make_phantom(seed=5, **SMALL, perturb=Perturbation.mild(1))
    diff = cap.rgb.astype(float) - base.rgb
    assert 1.0 < diff.std() < 4.0
    assert abs(diff.mean()) < 0.5


def test_random_perturbation_is_seeded_and_bounded():
    a, b = Perturbation.random(3), Perturbation.random(3)
    assert a == b and a != Perturbation.random(4)
    for s in range(20):
        p = Perturbation.random(s, exposure=0.1, wb=0.05, rotation_deg=1.0, shift_px=5.0)
        assert 0.9 <= p.exposure <= 1.1
        assert all(0.95 <= g <= 1.05 for g in p.wb_gains)
        assert abs(p.rotation_deg) <= 1.0 and max(map(abs, p.shift_px)) <= 5.0
        assert 85 <= p.jpeg_quality <= 95


def test_chart_reference_matches_the_calibration_reference():
    """The rendered chart uses the same reference as the calibration (exoderm.skinlab.color)."""
    color = pytest.importorskip("exoderm.skinlab.color")
    ref = np.clip(color.reference_srgb(), 0, 1)
    np.testing.assert_allclose(COLORCHECKER24_SRGB, ref, atol=1e-3)
