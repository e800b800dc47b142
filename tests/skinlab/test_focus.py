"""Effective blur: the measured focus of a photo, and what compare does when a pair differs in it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from exoderm.skinlab.compare import FOCUS_LIMITS_MM, compare, focus_limit_mm
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.pipeline import Analysis, analyze
from exoderm.skinlab.quality import blur_difference, effective_blur_px

FINE = frozenset(FOCUS_LIMITS_MM)


def _discs(blur_px: float) -> np.ndarray:
    """Sharp discs drawn 8x finer and area-averaged down (pixels that integrate light), then blurred."""
    rng = np.random.default_rng(0)
    big = np.zeros((2400, 2400), np.uint8)
    for _ in range(60):
        centre = (int(rng.uniform(100, 2300)), int(rng.uniform(100, 2300)))
        cv2.circle(big, centre, int(rng.uniform(40, 150)), 255, -1)
    grey = cv2.resize(big.astype(np.float32) / 255.0, (300, 300), interpolation=cv2.INTER_AREA)
    grey = 30.0 + 180.0 * grey
    if blur_px:
        grey = cv2.GaussianBlur(grey, (0, 0), blur_px)
    return np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)


def test_a_photo_sharp_to_the_pixel_reads_no_blur():
    sharp = effective_blur_px(_discs(0.0))
    assert sharp is not None and sharp < 0.2


@pytest.mark.parametrize("blur_px", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_gaussian_blur_on_ideal_edges_is_read_within_15_percent(blur_px):
    measured = effective_blur_px(_discs(blur_px))
    assert measured is not None and abs(measured / blur_px - 1) < 0.15


def test_a_flat_image_has_no_edges_to_measure():
    assert effective_blur_px(np.full((200, 200, 3), 128, np.uint8)) is None


def _phantom_blur(mm_per_px: float, blur_px: float) -> float:
    ph = make_phantom(
        shape=(600, 800), mm_per_px=mm_per_px, seed=1,
        perturb=Perturbation(noise_sd=2.0, blur_sigma_px=blur_px, jpeg_quality=90, seed=3),
    )  # fmt: skip
    value = effective_blur_px(ph.rgb, ph.mask)
    assert value is not None
    return value


@pytest.mark.parametrize("mm_per_px", [0.05, 0.1, 0.15])
def test_blur_added_to_a_phantom_is_read_within_15_percent(mm_per_px):
    """The phantom's own sharpest edges (spot rims about a pixel wide) read as a blur of their own:
    the blur the capture adds is the difference in quadrature, as between two visits."""
    own = _phantom_blur(mm_per_px, 0.0)
    assert 0.3 < own < 1.5
    for blur_px in (0.5, 1.0, 2.0, 3.0):
        added = blur_difference(own * mm_per_px, _phantom_blur(mm_per_px, blur_px) * mm_per_px)
        assert added is not None
        assert abs(added / (blur_px * mm_per_px) - 1) < 0.15, (mm_per_px, blur_px, added)


def _capture(blur_px: float, seed: int, mm_per_px: float = 0.15) -> Analysis:
    ph = make_phantom(
        shape=(900, 1200), mm_per_px=mm_per_px, seed=0,
        perturb=Perturbation(noise_sd=2.0, blur_sigma_px=blur_px, jpeg_quality=90, seed=seed),
    )  # fmt: skip
    return analyze(ph.rgb, roi="full", mm_per_px=mm_per_px, find_face=False, keep_arrays=False)


@pytest.fixture(scope="module")
def sharp() -> Analysis:
    return _capture(0.6, seed=11)


def test_the_analysis_reports_the_effective_blur_in_mm(sharp):
    q = sharp.to_dict()["quality"]
    assert q["effective_blur_mm"] == pytest.approx(q["effective_blur_px"] * 0.15, abs=1e-3)
    assert 0.1 < q["effective_blur_mm"] < 0.25


def test_a_sharp_soft_pair_at_face_scale_judges_only_the_metrics_focus_leaves_alone(sharp):
    soft = _capture(1.6, seed=12)
    assert blur_difference(sharp.quality.effective_blur_mm, soft.quality.effective_blur_mm) > max(
        FOCUS_LIMITS_MM.values()
    )
    result = compare(sharp, soft, heatmap=False)
    rows = result.regions["full"]
    assert result.comparable
    measured = {k for k, row in rows.items() if row["delta"] is not None}
    assert {k for k in measured if rows[k]["beyond_noise"] is None} == FINE & measured
    assert {"texture_rms", "wrinkle_length_mm"} <= measured
    assert all(rows[k]["beyond_noise"] is not None for k in measured - FINE)
    (note,) = [n for n in result.notes if n.kind == "focus"]
    assert note.params["photo"] == "after" and note.params["metrics"] == sorted(FINE & measured)
    assert "softer" in note
    # the other way round, the baseline is the softer photo
    (back,) = [n for n in compare(soft, sharp, heatmap=False).notes if n.kind == "focus"]
    assert back.params["photo"] == "before"


def test_a_pair_within_the_limit_is_judged_normally(sharp):
    near = _capture(0.65, seed=13)
    difference = blur_difference(sharp.quality.effective_blur_mm, near.quality.effective_blur_mm)
    assert difference is not None and abs(difference) < focus_limit_mm(0.15)
    result = compare(sharp, near, heatmap=False)
    rows = result.regions["full"]
    assert all(row["beyond_noise"] is not None for row in rows.values() if row["delta"] is not None)
    assert not [n for n in result.notes if n.kind == "focus"]


def test_a_record_of_an_older_engine_without_the_blur_still_loads_and_compares(sharp):
    soft = _capture(1.6, seed=12)
    old = sharp.to_dict()
    del old["quality"]["effective_blur_px"], old["quality"]["effective_blur_mm"]
    stored = Analysis.from_dict(old)
    assert stored.quality.effective_blur_mm is None
    result = compare(stored, soft, heatmap=False)
    assert result.comparable and not [n for n in result.notes if n.kind == "focus"]
    assert result.regions["full"]["texture_rms"]["beyond_noise"] is not None


def test_the_pores_limit_applies_only_where_pores_are_measured():
    assert focus_limit_mm(0.05) == FOCUS_LIMITS_MM["pore_count"]
    assert focus_limit_mm(0.15) == FOCUS_LIMITS_MM["spot_area_mm2"] > FOCUS_LIMITS_MM["pore_count"]
