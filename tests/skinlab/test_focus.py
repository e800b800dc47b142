"""Effective blur: the measured focus of a photo, and what compare does when a pair differs in it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from bench.skinlab_repeatability import astronaut, original, recapture

from exoderm.skinlab.compare import FOCUS_COVERED_PX, FOCUS_LIMITS_MM, compare, focus_limit_mm
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


@pytest.fixture(scope="module")
def soft() -> Analysis:
    return _capture(2.0, seed=12)


def test_a_sharp_soft_pair_at_face_scale_judges_only_the_metrics_focus_leaves_alone(sharp, soft):
    """σ 0.6 against 2 px at 0.15 mm/px: beyond what the phantom study covered (the mdc of a
    region ``full`` in the close-up band is its) and beyond every fine metric's own limit."""
    difference = blur_difference(sharp.quality.effective_blur_mm, soft.quality.effective_blur_mm)
    assert difference is not None
    assert difference > max(*FOCUS_LIMITS_MM.values(), FOCUS_COVERED_PX["phantom"] * 0.15)
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


def test_a_record_of_an_older_engine_without_the_blur_still_loads_and_compares(sharp, soft):
    old = sharp.to_dict()
    del old["quality"]["effective_blur_px"], old["quality"]["effective_blur_mm"]
    stored = Analysis.from_dict(old)
    assert stored.quality.effective_blur_mm is None
    result = compare(stored, soft, heatmap=False)
    assert result.comparable and not [n for n in result.notes if n.kind == "focus"]
    assert result.regions["full"]["texture_rms"]["beyond_noise"] is not None


def test_the_limit_is_what_the_study_covered_or_the_metrics_own_whichever_is_larger():
    # close-up: pores, the most focus-sensitive metric, or the phantom study's coverage
    assert focus_limit_mm(0.05) == max(FOCUS_LIMITS_MM["pore_count"], FOCUS_COVERED_PX["phantom"] * 0.05)
    # no pores at face scale: the most focus-sensitive of the others (texture), or the coverage,
    # which in mm grows with the pixel
    own = min(limit for key, limit in FOCUS_LIMITS_MM.items() if not key.startswith("pore"))
    at_face_scale = max(own, FOCUS_COVERED_PX["phantom"] * 0.15)
    assert focus_limit_mm(0.15) == pytest.approx(at_face_scale)
    assert focus_limit_mm(0.15) > focus_limit_mm(0.05)
    # face regions: the face studies covered σ 0 to 1 px, at least
    assert focus_limit_mm(0.14, face=True) >= FOCUS_COVERED_PX["real face, finer"] * 0.14
    assert focus_limit_mm(0.467, face=True) >= FOCUS_COVERED_PX["real face"] * 0.467 >= 0.467


def test_the_coverage_holds_the_blur_the_studies_drew():
    """The close-up study drew σ 0.48 to 0.72 px (a difference of 0.54 px at most), the face
    studies σ 0 to 1 px; the estimator reads at least that much between their re-captures."""
    assert FOCUS_COVERED_PX["phantom"] >= (0.72**2 - 0.48**2) ** 0.5
    assert min(FOCUS_COVERED_PX["real face"], FOCUS_COVERED_PX["real face, finer"]) >= 1.0


@pytest.fixture(scope="module")
def face_baseline() -> Analysis:
    return analyze(original(), keep_arrays=False)


def _face(blur_px: float, seed: int) -> Analysis:
    """The astronaut re-captured as by the face study, with the focus blur fixed."""
    return analyze(recapture(astronaut(), seed, blur_sigma_px=(blur_px, blur_px)), keep_arrays=False)


def test_a_face_recaptured_within_the_studys_focus_is_judged_normally(face_baseline):
    """The reverted limits (in mm from phantoms) left these spot metrics unjudged: the face study's
    re-captures, whose noise the face band's mdc holds, differ by up to σ 1 px (0.47 mm)."""
    after = _face(1.0, seed=9010)
    difference = blur_difference(face_baseline.quality.effective_blur_mm, after.quality.effective_blur_mm)
    assert difference is not None and difference > FOCUS_LIMITS_MM["spot_count"]
    result = compare(face_baseline, after, heatmap=False)
    assert result.comparable, result.reasons
    assert not [n for n in result.notes if n.kind == "focus"], result.notes
    assert result.regions["face"]["spot_count"]["beyond_noise"] is not None


def test_a_sharp_soft_pair_of_faces_leaves_the_fine_spot_metrics_unjudged(face_baseline):
    after = _face(2.0, seed=9011)
    result = compare(face_baseline, after, heatmap=False)
    assert result.comparable, result.reasons
    (note,) = [n for n in result.notes if n.kind == "focus"]
    assert note.params["photo"] == "after"
    assert {"spot_count", "spot_area_mm2"} <= set(note.params["metrics"])
    assert result.regions["face"]["spot_count"]["beyond_noise"] is None
    # the colour of the skin is not a fine-scale metric: still judged
    assert result.regions["face"]["L_median"]["beyond_noise"] is not None
