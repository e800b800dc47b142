"""skinlab.metrics: accuracy on phantoms with ground truth, and behaviour on bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoderm.skinlab.metrics import METRIC_KEYS, RegionMeasurement, measure_regions
from exoderm.skinlab.phantom import Perturbation, make_phantom

MM_KEYS = (
    "tone_sd_L",
    "spot_count",
    "spot_area_mm2",
    "spot_area_pct",
    "red_area_pct",
    "a_excess_mean",
    "wrinkle_count",
    "wrinkle_length_mm",
    "wrinkle_density",
    "texture_rms",
    "pore_count",
    "pore_density",
)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """D65 sRGB -> CIE L*a*b* (OpenCV's float conversion)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def measure_phantom(ph, **kw) -> RegionMeasurement:
    return measure_regions(to_lab(ph.rgb), {"full": ph.mask}, mm_per_px=ph.mm_per_px, **kw)["full"]


def rel_err(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth


def assert_no_nan(r: RegionMeasurement) -> None:
    assert set(r.metrics) == set(METRIC_KEYS)
    for k, v in r.metrics.items():
        assert v is None or (isinstance(v, int | float) and math.isfinite(v)), (k, v)


# --------------------------------------------------------------------------------------------
# accuracy on phantoms (mild realistic capture: noise, slight blur, JPEG q=90)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[0, 1, 2, 3])
def measured(request):
    seed = request.param
    ph = make_phantom(seed=seed, spots=25, wrinkles=10, perturb=Perturbation.mild(seed))
    return ph, measure_phantom(ph)


def test_spot_count_within_5_percent(measured):
    ph, r = measured
    assert ph.truth.spot_count >= 20
    assert rel_err(r.metrics["spot_count"], ph.truth.spot_count) <= 0.05


def test_spot_area_within_10_percent(measured):
    ph, r = measured
    assert rel_err(r.metrics["spot_area_mm2"], ph.truth.spot_area_mm2) <= 0.10
    assert r.metrics["spot_area_pct"] == pytest.approx(
        100 * r.metrics["spot_area_mm2"] / r.area_mm2, rel=1e-9
    )


@pytest.fixture(scope="module", params=[0, 1, 2, 3])
def faded(request):
    """The phantoms of ``measured`` after a treatment that lightened every spot: by a third
    (all still darker than ΔL* −5) and by half (depths of 4 to 9 L*: some are no spots now)."""
    seed = request.param
    out = {}
    for fade in (0.65, 0.5):
        ph = make_phantom(seed=seed, spots=25, wrinkles=10, spot_fade=fade, perturb=Perturbation.mild(seed))
        out[fade] = (ph, measure_phantom(ph))
    return out


def test_lighter_spots_keep_their_count(faded):
    """Pixel noise breaks a faint spot into fragments; each is still counted once."""
    ph, r = faded[0.65]
    assert ph.truth.spot_count == 25
    assert rel_err(r.metrics["spot_count"], ph.truth.spot_count) <= 0.05
    assert rel_err(r.metrics["spot_area_mm2"], ph.truth.spot_area_mm2) <= 0.10


def test_spots_fading_through_the_threshold_count_fewer_not_more(faded):
    """Spots lightened to around ΔL* −5 are measured no more than the 25 before, and
    smaller: the noise on a patch lighter than −5 makes no spot of it. (Before the fragments
    were joined, 27 to 39 spots were counted here.) Within three spots of the truth: since
    engine 1.4.0 the threshold follows the local L* + 16, which the tone variation moves by
    about ±2 %, and these designs hold up to three spots within 2 % of −5 (seed 1: peaks of
    5.05, 5.07 and 5.08 L*; measured 20 against 17, seed 0 17 against 20)."""
    (_, r65), (ph50, r50) = faded[0.65], faded[0.5]
    assert r50.metrics["spot_count"] <= 25
    assert abs(r50.metrics["spot_count"] - ph50.truth.spot_count) <= 3
    assert r50.metrics["spot_area_mm2"] < r65.metrics["spot_area_mm2"]


def test_wrinkle_count_within_10_percent(measured):
    ph, r = measured
    assert ph.truth.wrinkle_count >= 8
    assert rel_err(r.metrics["wrinkle_count"], ph.truth.wrinkle_count) <= 0.10


def _lines_on_plain_skin(segments: list[tuple[int, int, int, int]]) -> np.ndarray:
    """L*a*b* of plain skin (L* 64, 400 x 600 px at 0.05 mm/px) with straight lines 8 L* deep and
    0.5 mm wide (FWHM) from (y0, x0) to (y1, x1) each."""
    lab = np.empty((400, 600, 3), np.float32)
    lab[...] = (64.0, 11.0, 16.0)
    yy, xx = np.mgrid[0:400, 0:600].astype(np.float32)
    sigma = 0.5 / 2.355 / 0.05
    for y0, x0, y1, x1 in segments:
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        d2 = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2
        lab[..., 0] -= 8.0 * np.exp(-d2 / (2 * sigma * sigma))
    return lab


@pytest.mark.parametrize(
    ("segments", "count"),
    [
        pytest.param([(200, 100, 200, 280), (200, 300, 200, 480)], 1, id="broken-1mm"),
        pytest.param([(200, 100, 200, 250), (200, 310, 200, 480)], 2, id="apart-3mm"),
        pytest.param([(180, 100, 180, 300), (200, 250, 200, 480)], 2, id="side-by-side-1mm"),
        pytest.param([(200, 100, 200, 280), (230, 290, 380, 290)], 2, id="at-right-angles"),
    ],
)
def test_a_line_broken_across_up_to_2mm_is_one_wrinkle(segments, count):
    """Pieces whose ends face each other at most 2 mm apart are one line (engine 1.4.0; before,
    the 1 mm break made two): not two lines further apart, side by side, or at right angles."""
    r = measure_regions(_lines_on_plain_skin(segments), {"f": np.ones((400, 600), bool)}, mm_per_px=0.05)["f"]
    assert r.metrics["wrinkle_count"] == count
    # a joined line's break adds no length: the two pieces' 9 + 9 mm
    if count == 1:
        assert r.metrics["wrinkle_length_mm"] == pytest.approx(18.0, abs=1.0)


def test_wrinkle_length_within_15_percent(measured):
    ph, r = measured
    assert rel_err(r.metrics["wrinkle_length_mm"], ph.truth.wrinkle_length_mm) <= 0.15
    density = r.metrics["wrinkle_length_mm"] / (r.area_mm2 / 100)
    assert r.metrics["wrinkle_density"] == pytest.approx(density)


def test_red_area_within_10_percent(measured):
    ph, r = measured
    assert ph.truth.red_area_pct > 1
    assert rel_err(r.metrics["red_area_pct"], ph.truth.red_area_pct) <= 0.10
    assert r.metrics["a_excess_mean"] > 0.3


def test_pores_found(measured):
    ph, r = measured
    # no accuracy target in the contract; most designed pores must be found, few invented
    assert rel_err(r.metrics["pore_count"], ph.truth.pore_count) <= 0.15
    assert r.metrics["pore_density"] == pytest.approx(r.metrics["pore_count"] / (r.area_mm2 / 100))


def test_all_metrics_present_and_finite(measured):
    ph, r = measured
    assert_no_nan(r)
    assert all(r.metrics[k] is not None for k in METRIC_KEYS)
    assert r.area_px == int(ph.mask.sum())
    assert r.area_mm2 == pytest.approx(ph.truth.skin_area_mm2)
    assert r.notes == []


def test_detections_are_full_size_boolean(measured):
    ph, r = measured
    for key in ("spots", "wrinkles", "red"):
        d = r.detections[key]
        assert d.shape == ph.mask.shape and d.dtype == bool
    assert r.detections["spots"].sum() * ph.mm_per_px**2 == pytest.approx(r.metrics["spot_area_mm2"])
    assert r.detections["red"].mean() * 100 == pytest.approx(r.metrics["red_area_pct"], rel=1e-6)
    # a skeleton is thin: its pixel count is close to its length in pixels
    n_sk = r.detections["wrinkles"].sum()
    assert 0.7 < n_sk * ph.mm_per_px / r.metrics["wrinkle_length_mm"] <= 1.05


# --------------------------------------------------------------------------------------------
# colour and the unscaled metrics
# --------------------------------------------------------------------------------------------


def test_colour_medians_and_ita_on_clean_capture():
    ph = make_phantom(seed=5, shading=0.0, tone_variation=0.5, spots=5, wrinkles=2, red_patches=0)
    r = measure_phantom(ph)
    L, a, b = ph.truth.base_lab
    assert r.metrics["L_median"] == pytest.approx(L, abs=1.0)
    assert r.metrics["a_median"] == pytest.approx(a, abs=0.7)
    assert r.metrics["b_median"] == pytest.approx(b, abs=0.7)
    ita = math.degrees(math.atan((r.metrics["L_median"] - 50) / r.metrics["b_median"]))
    assert r.metrics["ita_deg"] == pytest.approx(ita)


def test_texture_and_tone_follow_the_design():
    kw = {"spots": 0, "wrinkles": 0, "red_patches": 0, "pores": 0, "shading": 0.0}
    smooth = measure_phantom(make_phantom(seed=1, texture=0.3, mottling=0.2, **kw))
    rough = measure_phantom(make_phantom(seed=1, texture=1.5, mottling=1.5, **kw))
    assert rough.metrics["texture_rms"] > 2 * smooth.metrics["texture_rms"]
    assert rough.metrics["tone_sd_L"] > 2 * smooth.metrics["tone_sd_L"]


def test_clear_skin_has_no_findings():
    ph = make_phantom(seed=3, spots=0, wrinkles=0, red_patches=0, pores=0, perturb=Perturbation.mild(3))
    r = measure_phantom(ph)
    assert r.metrics["spot_count"] == 0
    assert r.metrics["wrinkle_count"] == 0
    assert r.metrics["red_area_pct"] < 0.05
    assert r.metrics["pore_count"] <= 10


def test_regions_share_work_and_split_counts():
    ph = make_phantom(seed=2, spots=25, wrinkles=10, perturb=Perturbation.mild(2))
    w = ph.mask.shape[1]
    left = ph.mask.copy()
    left[:, w // 2 :] = False
    right = ph.mask & ~left
    res = measure_regions(
        to_lab(ph.rgb), {"face": ph.mask, "left": left, "right": right}, mm_per_px=ph.mm_per_px
    )
    assert list(res) == ["face", "left", "right"]
    f, lt, rt = (res[k].metrics for k in ("face", "left", "right"))
    # each component is given to the region holding most of it: counts add up (±1 for a tie)
    assert abs(lt["spot_count"] + rt["spot_count"] - f["spot_count"]) <= 1
    assert abs(lt["wrinkle_count"] + rt["wrinkle_count"] - f["wrinkle_count"]) <= 1
    assert lt["wrinkle_length_mm"] + rt["wrinkle_length_mm"] == pytest.approx(
        f["wrinkle_length_mm"], rel=1e-6
    )
    red_px = res["left"].detections["red"].sum() + res["right"].detections["red"].sum()
    assert red_px == res["face"].detections["red"].sum()
    assert not (res["left"].detections["spots"] & ~left).any()


# --------------------------------------------------------------------------------------------
# scale rules and bad input
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    ph = make_phantom(shape=(400, 500), seed=4, spots=6, wrinkles=2, red_patches=1, pores=50)
    return ph, to_lab(ph.rgb)


def test_unknown_scale_nulls_every_mm_metric(small):
    ph, lab = small
    r = measure_regions(lab, {"full": ph.mask}, mm_per_px=None)["full"]
    assert_no_nan(r)
    assert r.area_mm2 is None and r.area_px == ph.mask.sum()
    for k in ("L_median", "a_median", "b_median", "ita_deg"):
        assert r.metrics[k] is not None
    for k in MM_KEYS:
        assert r.metrics[k] is None, k
    assert any("scale unknown" in n for n in r.notes)


def test_pores_need_005_mm_per_px(small):
    ph, lab = small
    r = measure_regions(lab, {"full": ph.mask}, mm_per_px=0.08)["full"]
    assert r.metrics["pore_count"] is None and r.metrics["pore_density"] is None
    assert any(n.startswith("pores:") for n in r.notes)
    assert r.metrics["spot_count"] is not None


def test_empty_tiny_and_excluded_regions(small):
    ph, lab = small
    tiny = np.zeros(ph.mask.shape, bool)
    tiny[100:105, 100:105] = True
    masks = {
        "empty": np.zeros(ph.mask.shape, bool),
        "tiny": tiny,
        "excluded": ph.mask & False,
        "full": ph.mask,
    }
    res = measure_regions(lab, masks, mm_per_px=ph.mm_per_px)
    for name in ("empty", "tiny", "excluded"):
        r = res[name]
        assert_no_nan(r)
        assert all(v is None for v in r.metrics.values())
        assert r.notes and ("no skin pixels" in r.notes[0] or "too small" in r.notes[0])
        assert r.detections["spots"].shape == ph.mask.shape
    assert res["tiny"].area_px == 25
    assert res["full"].metrics["spot_count"] is not None


def test_all_masks_empty(small):
    ph, lab = small
    res = measure_regions(lab, {"a": np.zeros(ph.mask.shape, bool)}, mm_per_px=0.05)
    assert res["a"].area_px == 0 and res["a"].area_mm2 == 0.0
    assert all(v is None for v in res["a"].metrics.values())
    assert measure_regions(lab, {}, mm_per_px=0.05) == {}


def test_nan_pixels_are_not_skin(small):
    ph, lab = small
    lab = lab.copy()
    lab[50:80, 50:80] = np.nan
    r = measure_regions(lab, {"full": ph.mask}, mm_per_px=ph.mm_per_px)["full"]
    assert_no_nan(r)
    assert r.area_px == ph.mask.sum() - 900


def test_flat_image_gives_zeros_not_nan():
    lab = np.zeros((200, 300, 3), np.float32)
    lab[..., 0] = 60
    lab[..., 2] = 0.0  # b* = 0: ITA undefined
    r = measure_regions(lab, {"r": np.ones((200, 300), bool)}, mm_per_px=0.05)["r"]
    assert_no_nan(r)
    assert r.metrics["ita_deg"] is None and any("ita_deg" in n for n in r.notes)
    for k in ("spot_count", "wrinkle_count", "pore_count"):
        assert r.metrics[k] == 0
    assert r.metrics["texture_rms"] == pytest.approx(0, abs=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        measure_regions(np.zeros((10, 10), np.float32), {}, mm_per_px=0.05)
    with pytest.raises(ValueError):
        measure_regions(np.zeros((10, 10, 3), np.float32), {"x": np.ones((5, 5), bool)}, mm_per_px=0.05)


@pytest.mark.parametrize("mpp", [0.0, -1.0, float("nan")])
def test_invalid_scale_is_unknown(small, mpp):
    ph, lab = small
    r = measure_regions(lab, {"full": ph.mask}, mm_per_px=mpp)["full"]
    assert r.metrics["spot_count"] is None and r.area_mm2 is None


def test_no_lines_along_excluded_features():
    """A dark excluded 'eye' with a soft shadow around it and a dark hair line at the mask edge
    are not wrinkles (the border of the skin mask is not a valley)."""
    h, w = 800, 1000
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = 65.0, 11.0, 16.0
    r = np.hypot((xx - 500) / 160, (yy - 400) / 80)
    eye = r <= 1
    lab[..., 0] -= 8.0 * np.exp(-np.clip(r - 1, 0, None) * 160 * 0.05 / 1.5)  # 1.5 mm shadow
    lab[eye, 0] = 25.0
    hair = yy < 100
    lab[hair, 0] = 20.0
    lab[(yy >= 100) & (yy < 140), 0] -= 6.0  # darker skin band under the hair line
    mask = ~eye & ~hair
    res = measure_regions(lab, {"skin": mask}, mm_per_px=0.05)["skin"]
    assert res.metrics["wrinkle_count"] == 0
    assert res.metrics["wrinkle_length_mm"] == 0


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 90),
    w=st.integers(1, 90),
    seed=st.integers(0, 2**16),
    mpp=st.sampled_from([None, 0.02, 0.05, 0.1, 1.0]),
    fill=st.floats(0.0, 1.0),
)
def test_never_crashes_or_returns_nan(h, w, seed, mpp, fill):
    rng = np.random.default_rng(seed)
    lab = np.empty((h, w, 3), np.float32)
    lab[..., 0] = rng.uniform(0, 100, (h, w))
    lab[..., 1:] = rng.uniform(-60, 60, (h, w, 2))
    masks = {"a": rng.random((h, w)) < fill, "b": np.ones((h, w), bool), "c": np.zeros((h, w), bool)}
    res = measure_regions(lab, masks, mm_per_px=mpp)
    assert list(res) == ["a", "b", "c"]
    for r in res.values():
        assert_no_nan(r)
        assert all(d.shape == (h, w) and d.dtype == bool for d in r.detections.values())
        assert r.area_px == 0 or (r.area_mm2 is None) == (mpp is None)
        if any(v is None for v in r.metrics.values()):
            assert r.notes


@pytest.mark.parametrize("mpp", [0.035, 0.07, 0.1])
def test_accuracy_holds_across_scales(mpp):
    """The same physical skin measured at other scales (pores only at 0.05 mm/px or finer)."""
    shape = (round(60 / mpp), round(80 / mpp))
    ph = make_phantom(shape=shape, mm_per_px=mpp, seed=0, spots=25, wrinkles=10, perturb=Perturbation.mild(0))
    r = measure_phantom(ph)
    t = ph.truth
    assert rel_err(r.metrics["spot_count"], t.spot_count) <= 0.05
    assert rel_err(r.metrics["spot_area_mm2"], t.spot_area_mm2) <= 0.10
    assert rel_err(r.metrics["wrinkle_count"], t.wrinkle_count) <= 0.10
    assert rel_err(r.metrics["wrinkle_length_mm"], t.wrinkle_length_mm) <= 0.15
    assert rel_err(r.metrics["red_area_pct"], t.red_area_pct) <= 0.10
    if mpp <= 0.05:
        assert rel_err(r.metrics["pore_count"], t.pore_count) <= 0.15
    else:
        assert r.metrics["pore_count"] is None


# --------------------------------------------------------------------------------------------
# fast paths give the same numbers as the plain definitions
# --------------------------------------------------------------------------------------------


def test_medians_and_stats_match_numpy_on_overlapping_regions():
    rng = np.random.default_rng(7)
    h, w = 300, 400
    lab = np.empty((h, w, 3), np.float32)
    lab[..., 0] = rng.uniform(20, 90, (h, w))
    lab[..., 1] = rng.normal(-15, 20, (h, w))  # negative and positive a*
    lab[..., 2] = rng.normal(12, 8, (h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    union = np.hypot(yy - 150, xx - 200) < 140
    left = union & (xx < 220)
    right = union & (xx >= 180)  # overlaps `left`
    sparse = union & (rng.random((h, w)) < 0.2)
    masks = {"union": union, "left": left, "right": right, "sparse": sparse}
    res = measure_regions(lab, masks, mm_per_px=0.05)
    for name, m in masks.items():
        r = res[name]
        assert r.area_px == m.sum() > 4096
        for c, key in enumerate(("L_median", "a_median", "b_median")):
            # medians to 0.005 units (values quantised to 0.01)
            assert r.metrics[key] == pytest.approx(float(np.median(lab[..., c][m])), abs=0.006), (name, key)


def _whole_image_level(fn, img: np.ndarray, s: float) -> np.ndarray:
    """``fn`` over the whole image smoothed as :func:`metrics._max_levels` defines it."""
    ks = int(2 * np.ceil(3 * s) + 1)
    g = cv2.GaussianBlur(img, (ks, ks), s, borderType=cv2.BORDER_REFLECT)
    return fn(g, (0, g.shape[0], 0, g.shape[1]), s)


def test_strip_evaluation_equals_whole_image():
    from exoderm.skinlab import metrics as mm

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.normal(60, 5, (523, 301)).astype(np.float32), (0, 0), 1.0)
    sigmas = [0.9, 1.7, 3.1]
    for fn in (mm._valley_level, mm._blob_level):
        whole = np.maximum.reduce([_whole_image_level(fn, img, s) for s in sigmas])
        old = mm._STRIP_PX
        try:
            mm._STRIP_PX = 301 * 8  # 8-row strips: many strip borders
            strips = mm._max_levels(fn, img, sigmas)
        finally:
            mm._STRIP_PX = old
        np.testing.assert_allclose(strips, whole, atol=1e-5)


def test_strips_restricted_to_needed_columns_are_exact_there():
    from exoderm.skinlab import metrics as mm

    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.normal(60, 5, (400, 350)).astype(np.float32), (0, 0), 1.0)
    yy, xx = np.mgrid[0:400, 0:350]
    need = (np.hypot(yy - 200, xx - 170) < 120) & ~(np.hypot(yy - 150, xx - 120) < 30)
    need[:, :2] = True  # touching the image border
    sigmas = [0.9, 2.2]
    whole = np.maximum.reduce([_whole_image_level(mm._valley_level, img, s) for s in sigmas])
    part = mm._max_levels(mm._valley_level, img, sigmas, need)
    np.testing.assert_allclose(part[need], whole[need], rtol=1e-6, atol=1e-4)


def test_decimated_strips_restricted_to_needed_columns_are_exact_there():
    from exoderm.skinlab import metrics as mm

    rng = np.random.default_rng(6)
    img = cv2.GaussianBlur(rng.normal(60, 5, (400, 352)).astype(np.float32), (0, 0), 2.0)
    yy, xx = np.mgrid[0:400, 0:352]
    need = (np.hypot(yy - 200, xx - 170) < 120) & ~(np.hypot(yy - 150, xx - 120) < 30)
    small = mm._shrink(img, 4)
    old = mm._STRIP_PX
    try:
        mm._STRIP_PX = 88 * 8  # 8-row strips on the 88-column grid
        whole = mm._grow(mm._max_levels(mm._valley_level, small, [1.5]), need.shape)
        part = mm._grow(mm._max_levels(mm._valley_level, small, [1.5], need, 4), need.shape)
    finally:
        mm._STRIP_PX = old
    np.testing.assert_allclose(part[need], whole[need], rtol=1e-6, atol=1e-4)


def test_every_metric_has_an_aim():
    from exoderm.skinlab.aims import AIMS

    assert list(AIMS) == list(METRIC_KEYS)
    assert {aim for aim in AIMS.values()} == {"lower", "higher", None}
