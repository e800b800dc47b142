"""The kernels against the OpenCV calls they replace, both backends (``skinlab/_kernels.pyx`` and its
NumPy twin ``skinlab/_kernels_numpy.py``), and the two against each other, bit for bit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from exoderm.skinlab import _kernels, _kernels_numpy
from exoderm.skinlab.metrics import WRINKLE_ANISOTROPY, WRINKLE_EDGE_PENALTY


@pytest.fixture(params=[_kernels, _kernels_numpy], ids=["native", "numpy"])
def km(request):
    """Each kernel module in turn: every check against OpenCV holds for both."""
    return request.param


def _hessian_opencv(g: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """σ²(Lxx + Lyy) and σ²·sqrt((Lxx − Lyy)² + 4·Lxy²) from 3x3 Sobel filters."""
    s2 = sigma * sigma / 4.0  # a 3x3 Sobel second derivative is 4x the derivative
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3, scale=s2)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3, scale=s2)
    dxy2 = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3, scale=2 * s2)
    return cv2.add(dxx, dyy), cv2.magnitude(cv2.subtract(dxx, dyy), dxy2)


def _valley_opencv(g: np.ndarray, sigma: float) -> np.ndarray:
    """The engine's valley strength as a chain of OpenCV calls (the engine before the kernel)."""
    tr, disc2 = _hessian_opencv(g, sigma)
    s1 = sigma / 8.0  # a 3x3 Sobel first derivative is 8x the derivative
    grad = cv2.magnitude(
        cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=s1), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=s1)
    )
    resp = cv2.scaleAdd(grad, -WRINKLE_EDGE_PENALTY, cv2.addWeighted(tr, 0.5, disc2, 0.5, 0.0))
    a = WRINKLE_ANISOTROPY
    test = cv2.addWeighted(tr, 1.0 - a, disc2, -(1.0 + a), 0.0)
    _, good = cv2.threshold(test, 0.0, 1.0, cv2.THRESH_BINARY_INV)
    return cv2.multiply(resp, good)


def _blob_opencv(g: np.ndarray, sigma: float) -> np.ndarray:
    tr, disc2 = _hessian_opencv(g, sigma)
    lam2 = cv2.addWeighted(tr, 0.5, disc2, -0.5, 0.0)
    _, good = cv2.threshold(cv2.addWeighted(tr, 1.0, disc2, -3.0, 0.0), 0.0, 1.0, cv2.THRESH_BINARY)
    return cv2.multiply(lam2, good)


def _smooth_field(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.normal(60, 5, shape).astype(np.float32), (0, 0), 1.5)


WINDOWS = [
    (0, 157, 0, 203),  # the whole image: every border reflected
    (5, 140, 3, 190),  # inside: the window's own edges are its borders, as for an OpenCV call on a view
    (0, 1, 0, 7),  # one row
    (4, 9, 11, 12),  # one column
    (2, 4, 100, 102),  # 2 x 2
]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("sigma", [0.9, 2.8])
def test_valley_and_blob_levels_equal_the_opencv_chain(window, sigma, km):
    g = _smooth_field((157, 203), seed=1)
    y0, y1, x0, x1 = window
    view = np.ascontiguousarray(g[y0:y1, x0:x1])
    for kernel, reference in (
        (
            lambda: km.valley_level(g, window, sigma, WRINKLE_EDGE_PENALTY, WRINKLE_ANISOTROPY),
            _valley_opencv,
        ),
        (lambda: km.blob_level(g, window, sigma), _blob_opencv),
    ):
        got, want = kernel(), reference(view, sigma)
        assert got.shape == want.shape and got.dtype == np.float32
        # the same up to float rounding: the sums run in another order, and a value within
        # rounding of the line-like test's 0 may fall on the other side (1 pixel in 10^4 here)
        close = np.isclose(got, want, rtol=1e-5, atol=2e-4)
        assert close.mean() >= 0.9995, (window, sigma, np.abs(got - want).max())
        assert (want > 0).any() or got.size < 10


def test_levels_refuse_a_window_outside_the_image(km):
    g = _smooth_field((20, 30), seed=2)
    with pytest.raises(ValueError, match="outside"):
        km.valley_level(g, (0, 21, 0, 30), 1.0, 2.5, 0.5)
    with pytest.raises(ValueError, match="outside"):
        km.blob_level(g, (5, 4, 0, 30), 1.0)


@pytest.mark.parametrize("k", [3, 4, 5, 7, 8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_area_downscale_equals_opencv_block_averaging(k, channels, km):
    rng = np.random.default_rng(k)
    img = rng.integers(0, 256, (8 * k + 5, 11 * k + 3, channels), dtype=np.uint8)
    img[:k, :k] = 255  # a full block of 255s: the 16-bit sums' largest value
    h, w = img.shape[:2]
    want = cv2.resize(img[: h - h % k, : w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)
    got = km.area_downscale(img, k)
    np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_area_downscale_refuses_factors_it_cannot_hold(km):
    img = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="factor"):
        km.area_downscale(img, km.MAX_AREA_FACTOR + 1)
    with pytest.raises(ValueError, match="factor"):
        km.area_downscale(img, 0)
    assert km.area_downscale(np.zeros((10, 10, 3), np.uint8), 16).shape == (0, 0, 3)  # no whole block


def _clipped_opencv(rgb: np.ndarray, mask: np.ndarray | None, full: int) -> tuple[int, int]:
    r, g, b = cv2.split(np.ascontiguousarray(rgb))
    fine = cv2.inRange(cv2.max(cv2.max(r, g), b), 1, full - 1)
    if mask is None:
        return fine.size, fine.size - cv2.countNonZero(fine)
    m = mask.astype(np.uint8)
    return cv2.countNonZero(m), cv2.countNonZero(m) - cv2.countNonZero(cv2.bitwise_and(fine, m))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_clipped_count_equals_the_opencv_chain(dtype, km):
    full = int(np.iinfo(dtype).max)
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, full, (61, 83, 3), endpoint=True, dtype=dtype)
    rgb[::7, ::5] = full  # clipped highlights
    rgb[3::11, 2::9] = 0  # black
    rgb[5::13, 1::4, 1] = full  # one channel at full scale
    rgb[1::6, ::3] = (0, 0, 1)  # nearly black: not clipped
    mask = rng.random((61, 83)) < 0.6
    view = rgb[4:50, 3:70]  # rows apart in memory
    for img, m in ((rgb, None), (rgb, mask), (view, mask[4:50, 3:70])):
        m8 = None if m is None else m.view(np.uint8)
        got = km.clipped_count(img, m8, full)
        assert got == _clipped_opencv(img, m, full)
        assert got[1] > 0


def test_clipped_count_refuses_what_it_cannot_walk(km):
    rgb = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="rows"):
        km.clipped_count(rgb[:, :, ::-1], None, 255)  # channels reversed in memory
    with pytest.raises(ValueError, match="mask"):
        km.clipped_count(rgb, np.zeros((10, 11), np.uint8), 255)
    assert km.clipped_count(rgb[:0], None, 255) == (0, 0)


def test_region_sums_equal_numpy_over_each_region(km):
    rng = np.random.default_rng(11)
    shape = (90, 120)
    planes = [rng.normal(mu, 8, shape).astype(np.float32) for mu in (60.0, 12.0, 18.0)]
    tone, a_excess, texture = (rng.normal(0, 2, shape).astype(np.float32) for _ in range(3))
    red = rng.random(shape) < 0.1
    y0, y1, x0, x1 = 10, 80, 15, 110
    # three regions numbered on one label image, a fourth label never used
    labels = np.where(rng.random(shape) < 0.6, rng.integers(1, 4, shape), 0).astype(np.uint8)
    box = labels[y0:y1, x0:x1]  # a strided view, as the engine may pass it
    q = [np.rint(np.float32(100.0) * p).astype(np.int64) for p in planes]
    sel = (slice(y0, y1), slice(x0, x1))
    lo = tuple(int(v[sel][box > 0].min()) for v in q)
    bins = max(int(v[sel][box > 0].max()) - c + 1 for v, c in zip(q, lo, strict=True))

    hist, npx, t, t2, r, ax, tx = km.region_sums(
        box, y0, x0, 4, *planes, lo, bins, tone, red.view(np.uint8), a_excess, texture
    )
    assert hist.shape == (4, 3, bins)
    for i in range(4):
        m = box == i + 1
        assert npx[i] == int(m.sum())
        for c in range(3):
            np.testing.assert_array_equal(hist[i, c], np.bincount(q[c][sel][m] - lo[c], minlength=bins))
        assert t[i] == pytest.approx(float(tone[sel][m].astype(np.float64).sum()), rel=1e-12, abs=1e-9)
        assert t2[i] == pytest.approx(
            float((tone[sel][m].astype(np.float64) ** 2).sum()), rel=1e-12, abs=1e-9
        )
        assert r[i] == int((red[sel] & m).sum())
        assert ax[i] == pytest.approx(float(a_excess[sel][m].astype(np.float64).sum()), rel=1e-12, abs=1e-9)
        assert tx[i] == pytest.approx(
            float((texture[sel][m].astype(np.float64) ** 2).sum()), rel=1e-12, abs=1e-9
        )
    assert npx[3] == 0 and npx[:3].min() > 0

    # one region alone (a bool mask viewed as uint8) gets exactly its sums in the label pass
    m2 = box == 2
    one = km.region_sums(m2.view(np.uint8), y0, x0, 1, *planes, lo, bins, tone, red.view(np.uint8),
                               a_excess, texture)  # fmt: skip
    np.testing.assert_array_equal(one[0][0], hist[1])
    assert [float(v[0]) for v in one[1:]] == [float(v[1]) for v in (npx, t, t2, r, ax, tx)]

    # without a scale there are only the histograms
    hist2, npx2, *rest = km.region_sums(box, y0, x0, 4, *planes, lo, bins, None, None, None, None)
    np.testing.assert_array_equal(hist2, hist)
    np.testing.assert_array_equal(npx2, npx)
    assert all(not v.any() for v in rest)
    with pytest.raises(ValueError, match="outside"):
        km.region_sums(box, 30, x0, 4, *planes, None, 1, None, None, None, None)
    with pytest.raises(ValueError, match="label above"):
        km.region_sums(box, y0, x0, 2, *planes, None, 1, None, None, None, None)


def _upsampled_opencv(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


# OpenCV's float bilinear resize (Intel IPP here) rounds its weights coarser than float32, by up
# to 1e-3 L* units on grids of values 50 ± 10 (the plane test holds the kernels to the exact
# interpolation)
UPSAMPLE_TOL = {"rtol": 0.0, "atol": 2e-3}


def test_bilinear_upsampling_reproduces_a_plane_exactly_inside(km):
    # a plane sampled at the grid's pixel centres; bilinear interpolation is exact for it
    gh, gw, h, w = 9, 12, 61, 97
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64)
    grid = (3.0 + 0.5 * gx - 0.25 * gy).astype(np.float32)
    img = np.zeros((h, w), np.float32)
    km.subtract_upsampled(img, grid)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sx, sy = (x + 0.5) * gw / w - 0.5, (y + 0.5) * gh / h - 0.5
    want = -(3.0 + 0.5 * np.clip(sx, 0, gw - 1) - 0.25 * np.clip(sy, 0, gh - 1))
    np.testing.assert_allclose(img, want, atol=2e-5)


@pytest.mark.parametrize("grid_shape", [(59, 50), (119, 100), (377, 316), (603, 505), (1, 1), (3, 2)])
def test_max_and_subtract_upsampled_equal_opencv_resize(grid_shape, km):
    rng = np.random.default_rng(sum(grid_shape))
    shape = (603, 505)
    grid = rng.normal(50, 10, grid_shape).astype(np.float32)
    img = rng.normal(50, 10, shape).astype(np.float32)
    up = _upsampled_opencv(grid, shape)
    got = img.copy()
    km.max_upsampled(got, grid)
    np.testing.assert_allclose(got, np.maximum(img, up), **UPSAMPLE_TOL)
    got = img.copy()
    km.subtract_upsampled(got, grid)
    np.testing.assert_allclose(got, img - up, **UPSAMPLE_TOL)


def test_background_maps_equal_the_opencv_chain(km):
    rng = np.random.default_rng(12)
    shape = (301, 257)
    L = rng.normal(60, 6, shape).astype(np.float32)
    a = rng.normal(12, 5, shape).astype(np.float32)
    skin = rng.random(shape) < 0.7
    grids = (
        rng.normal(60, 2, (12, 10)).astype(np.float32),  # 10 mm, L*
        rng.normal(12, 2, (12, 10)).astype(np.float32),  # 10 mm, a*
        rng.normal(60, 2, (24, 21)).astype(np.float32),  # 5 mm, L*
        rng.normal(12, 2, (24, 21)).astype(np.float32),  # 5 mm, a*
        rng.normal(55, 3, (75, 64)).astype(np.float32),  # fill
    )
    far = (rng.random((75, 64)) < 0.2).astype(np.uint8)
    # some of the 10 mm background below the floor of L* 8, so that the floor is exercised
    grids[0][:3] = rng.uniform(0, 8, (3, 10)).astype(np.float32)
    # thresholds in % of the local level max(B10 L*, 8) + 16
    tone, excess, red, cand, group, filled, per_level = km.background_maps(
        L, a, skin.view(np.uint8), grids, far, 7.5, -6.25, -3.125, 5.0, 8.0, 16.0
    )

    b10, b10a, b5l, b5a, fill = (_upsampled_opencv(g, shape) for g in grids)
    level = (np.maximum(b10, 8.0) + 16.0) / 100.0
    # tone residual and a* excess in percent of the local level (engines 1.3.0 and 1.5.0)
    np.testing.assert_allclose(per_level, 1.0 / level, rtol=1e-4)
    np.testing.assert_allclose(tone, (L - b10) / level, rtol=1e-5, atol=4e-3)
    np.testing.assert_allclose(excess, np.maximum(a - b10a, 0) / level, rtol=1e-5, atol=4e-3)
    # masks: equal wherever the value is not within the tolerance of its threshold
    margin = UPSAMPLE_TOL["atol"] * 4
    da10, dl5, da5 = a - b10a, L - b5l, a - b5a
    red_at, spot_at, group_at, da_at = 7.5 * level, -6.25 * level, -3.125 * level, 5.0 * level
    sure = np.abs(da10 - red_at) > margin
    np.testing.assert_array_equal(red[sure], (skin & (da10 >= red_at))[sure])
    sure = (np.abs(dl5 - spot_at) > margin) & (np.abs(da5 - da_at) > margin)
    np.testing.assert_array_equal(cand[sure], (skin & (dl5 <= spot_at) & (da5 <= da_at))[sure])
    sure = (np.abs(dl5 - group_at) > margin) & (np.abs(da5 - da_at) > margin)
    np.testing.assert_array_equal(group[sure], (skin & (dl5 <= group_at) & (da5 <= da_at))[sure])
    assert red.any() and cand.any() and (group & ~cand).any()
    # the thresholds follow the level: on this darker skin (L* about 60, some below the floor)
    # pixels lighter than the -5 of L* 64 are candidates when darker than their own threshold
    fainter = skin & (dl5 > -5.0 + margin) & (dl5 < spot_at - margin) & (da5 < da_at - margin)
    assert fainter.any() and cand[fainter].all()
    assert (b10 < 8.0).any()
    far_full = cv2.resize(far, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).view(bool)
    want = np.where(skin, L, np.where(far_full, b5l, fill))
    np.testing.assert_allclose(filled, want, **UPSAMPLE_TOL)
    assert (far_full & ~skin).any()


def test_background_maps_refuse_mismatched_inputs(km):
    L = np.zeros((20, 30), np.float32)
    skin = np.ones((20, 30), np.uint8)
    grids = tuple(np.zeros((3, 4), np.float32) for _ in range(5))
    with pytest.raises(ValueError, match="shape"):
        km.background_maps(
            L, L[:, :29].copy(), skin, grids, np.zeros((3, 4), np.uint8), 7.5, -6.25, -3.125, 5.0, 8.0, 16.0
        )
    with pytest.raises(ValueError, match="far"):
        km.background_maps(L, L, skin, grids, np.zeros((3, 5), np.uint8), 7.5, -6.25, -3.125, 5.0, 8.0, 16.0)
    with pytest.raises(ValueError, match="five"):
        km.background_maps(
            L, L, skin, grids[:4], np.zeros((3, 4), np.uint8), 7.5, -6.25, -3.125, 5.0, 8.0, 16.0
        )


# --------------------------------------------------------------------------------------------
# native against NumPy: the NumPy kernels make the same float32 operations in the same order
# (the compiled loops are built without fused multiply-adds) and add the double sums in raster
# order, so both give the same bits, not merely close values
# --------------------------------------------------------------------------------------------


def _same(got: np.ndarray | None, want: np.ndarray | None) -> None:
    if want is None:
        assert got is None
        return
    assert got is not None and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("window", [*WINDOWS, (3, 3, 0, 5), (0, 2, 0, 1), (156, 157, 202, 203)])
@pytest.mark.parametrize("sigma", [0.6, 0.9, 2.8])
def test_valley_and_blob_levels_agree(window, sigma):
    g = _smooth_field((157, 203), seed=1)
    # flat, steep and noisy: every branch of the line-like and round-dot tests
    g[60:70] = 60.0
    g[80:90, ::2] += 30.0
    for args in ((sigma, WRINKLE_EDGE_PENALTY, WRINKLE_ANISOTROPY), (sigma, 0.0, 1.0)):
        _same(_kernels_numpy.valley_level(g, window, *args), _kernels.valley_level(g, window, *args))
    _same(_kernels_numpy.blob_level(g, window, sigma), _kernels.blob_level(g, window, sigma))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (3, 4)])
def test_levels_agree_on_the_smallest_images(shape):
    g = _smooth_field((20, 20), seed=3)[: shape[0], : shape[1]].copy()
    window = (0, shape[0], 0, shape[1])
    _same(
        _kernels_numpy.valley_level(g, window, 1.3, WRINKLE_EDGE_PENALTY, WRINKLE_ANISOTROPY),
        _kernels.valley_level(g, window, 1.3, WRINKLE_EDGE_PENALTY, WRINKLE_ANISOTROPY),
    )
    _same(_kernels_numpy.blob_level(g, window, 1.3), _kernels.blob_level(g, window, 1.3))


@pytest.mark.parametrize("k", range(1, _kernels.MAX_AREA_FACTOR + 1))
def test_area_downscale_agrees(k):
    rng = np.random.default_rng(100 + k)
    assert _kernels_numpy.MAX_AREA_FACTOR == _kernels.MAX_AREA_FACTOR
    for shape in ((5 * k + 3, 7 * k + 1, 3), (2 * k, k, 1), (k, 3 * k - 1, 4), (k - 1, 4 * k, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        img[:k, :k] = 255
        _same(_kernels_numpy.area_downscale(img, k), _kernels.area_downscale(img, k))


def test_clipped_count_agrees():
    rng = np.random.default_rng(8)
    for dtype in (np.uint8, np.uint16):
        full = int(np.iinfo(dtype).max)
        rgb = rng.integers(0, full, (37, 41, 3), endpoint=True, dtype=dtype)
        rgb[::3, ::4] = full
        rgb[1::5, ::2] = 0
        mask = rng.random((37, 41)) < 0.5
        cases = [
            (rgb, None),
            (rgb, mask.view(np.uint8)),
            (rgb, np.zeros((37, 41), np.uint8)),  # no pixel inside
            (rgb[3:30, 5:6], mask[3:30, 5:6].view(np.uint8)),  # one column
            (rgb[7:8], None),  # one row
            (rgb[:0], None),
        ]
        for img, m in cases:
            assert _kernels_numpy.clipped_count(img, m, full) == _kernels.clipped_count(img, m, full)


def _planes(shape: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {
        c: rng.normal(mu, 8, shape).astype(np.float32) for c, mu in (("L", 60.0), ("a", 12.0), ("b", 18.0))
    }
    for name in ("tone", "a_excess", "texture"):
        out[name] = rng.normal(0, 2, shape).astype(np.float32)
    out["red"] = (rng.random(shape) < 0.1).view(np.uint8)
    return out


@pytest.mark.parametrize(
    ("box", "n_labels"),
    [
        ((10, 80, 15, 110), 4),  # three regions and a label never used
        ((0, 90, 0, 120), 255),  # the whole crop, the most labels
        ((40, 41, 0, 120), 3),  # one row
        ((0, 90, 60, 61), 3),  # one column
        ((20, 22, 30, 32), 3),  # 2 x 2
        ((30, 30, 10, 50), 2),  # no rows
    ],
)
def test_region_sums_agree(box, n_labels):
    p = _planes((90, 120), seed=12)
    rng = np.random.default_rng(13)
    labels = np.where(rng.random((90, 120)) < 0.6, rng.integers(1, 4, (90, 120)), 0).astype(np.uint8)
    y0, y1, x0, x1 = box
    view = labels[y0:y1, x0:x1]
    q = [np.rint(np.float32(100.0) * p[c]).astype(np.int64) for c in "Lab"]
    lo = tuple(int(v.min()) - 3 for v in q)  # some bins at each end left empty
    bins = max(int(v.max()) - c + 1 for v, c in zip(q, lo, strict=True)) - 40  # and some clipped
    planes = (p["L"], p["a"], p["b"])
    cases = [
        (view, n_labels, lo, bins, p["tone"], p["red"], p["a_excess"], p["texture"]),
        (view, n_labels, None, 1, None, None, None, None),
        (np.zeros_like(view), n_labels, lo, bins, p["tone"], p["red"], p["a_excess"], p["texture"]),  # empty
        ((view == 2).view(np.uint8), 1, lo, bins, p["tone"], None, p["a_excess"], None),
    ]
    for lab, n, lo_, nb, tone, red, aex, tex in cases:
        want = _kernels.region_sums(lab, y0, x0, n, *planes, lo_, nb, tone, red, aex, tex)
        got = _kernels_numpy.region_sums(lab, y0, x0, n, *planes, lo_, nb, tone, red, aex, tex)
        assert len(got) == len(want) == 7
        for g, w in zip(got, want, strict=True):
            _same(g, w)
    with pytest.raises(ValueError, match="label above"):
        _kernels_numpy.region_sums(labels, 0, 0, 2, *planes, None, 1, None, None, None, None)
    with pytest.raises(ValueError, match="different shapes"):
        _kernels_numpy.region_sums(view, y0, x0, 4, *planes, None, 1, p["tone"][1:], None, None, None)


@pytest.mark.parametrize("grid_shape", [(1, 1), (3, 2), (1, 5), (7, 1), (59, 50), (200, 300)])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (61, 97), (0, 4)])
def test_max_and_subtract_upsampled_agree(grid_shape, shape):
    rng = np.random.default_rng(sum(grid_shape) + sum(shape))
    grid = rng.normal(50, 10, grid_shape).astype(np.float32)
    img = rng.normal(50, 10, shape).astype(np.float32)
    for op in ("max_upsampled", "subtract_upsampled"):
        got, want = img.copy(), img.copy()
        getattr(_kernels_numpy, op)(got, grid)
        getattr(_kernels, op)(want, grid)
        _same(got, want)


@pytest.mark.parametrize("shape", [(301, 257), (600, 5), (1, 1), (2, 2), (1, 40), (0, 3)])
def test_background_maps_agree(shape):
    rng = np.random.default_rng(14)
    p = _planes(shape, seed=15)
    skin = (rng.random(shape) < 0.7).view(np.uint8)
    grids = (
        rng.normal(60, 2, (12, 10)).astype(np.float32),
        rng.normal(12, 2, (12, 10)).astype(np.float32),
        rng.normal(60, 2, (24, 1)).astype(np.float32),
        rng.normal(12, 2, (1, 21)).astype(np.float32),
        rng.normal(55, 3, (75, 64)).astype(np.float32),
    )
    grids[0][:3] = rng.uniform(0, 8, (3, 10)).astype(np.float32)  # below the floor
    far = (rng.random((75, 64)) < 0.3).view(np.uint8)
    args = (7.5, -6.25, -3.125, 5.0, 8.0, 16.0)
    want = _kernels.background_maps(p["L"], p["a"], skin, grids, far, *args)
    got = _kernels_numpy.background_maps(p["L"], p["a"], skin, grids, far, *args)
    assert len(got) == len(want) == 7
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    if shape == (301, 257):
        assert all(m.any() and not m.all() for m in want[2:5])  # every mask has both answers


def _lab_exact(rgb: np.ndarray, ccm: np.ndarray | None) -> np.ndarray:
    """L*a*b* in float64 with OpenCV's sRGB coefficients and D65 white, cube roots exact."""
    from exoderm.skinlab.color import _lut

    lin = _lut(8).astype(np.float64)[rgb]
    if ccm is not None:
        lin = lin @ ccm.astype(np.float64).T
    lin = np.clip(lin, 0.0, 1.0)
    m = np.array(
        [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
    )
    t = lin @ m.T / np.array([0.950456, 1.0, 1.088754])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])])


#: A colour correction with negative terms and a gain above 1: some channels leave [0, 1].
CCM = np.array([[1.3, -0.2, -0.05], [-0.1, 1.2, -0.05], [0.02, -0.3, 1.25]], np.float32)


@pytest.mark.parametrize("ccm", [None, CCM], ids=["plain", "ccm"])
def test_srgb8_to_lab_is_exact_and_beats_opencv(ccm, km):
    """Every 8-bit colour of a 64-step cube (and the extremes): within 2e-4 of the exact
    float64 conversion, where OpenCV's float32 path (a spline of the cube root) is off by up to
    0.03 a*. A strided crop is read as it is."""
    from exoderm.skinlab.color import _LRGB_TO_WHITE_XYZ, _lut

    v = np.r_[0:256:4, 255].astype(np.uint8)
    cube = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(65 * 65, 65, 3)
    big = np.zeros((65 * 65 + 4, 65 + 6, 3), np.uint8)
    big[2:-2, 3:-3] = cube
    rgb = big[2:-2, 3:-3]  # rows of a wider image
    got = km.srgb8_to_lab(rgb, _lut(8), ccm, _LRGB_TO_WHITE_XYZ, None)
    assert got.shape == (3, *rgb.shape[:2]) and got.dtype == np.float32
    want = _lab_exact(rgb, ccm)
    assert np.abs(got - want).max() < 2e-4
    if ccm is None:
        lin = cv2.LUT(np.ascontiguousarray(rgb), _lut(8).reshape(1, 256))
        opencv = cv2.cvtColor(lin, cv2.COLOR_LRGB2Lab).transpose(2, 0, 1)
        assert np.abs(opencv - want).max() > 10 * np.abs(got - want).max()


def test_srgb8_to_lab_converts_each_row_between_its_first_and_last_needed_pixel(km):
    from exoderm.skinlab.color import _LRGB_TO_WHITE_XYZ, _lut

    rng = np.random.default_rng(3)
    rgb = rng.integers(20, 236, (6, 9, 3), dtype=np.uint8)
    need = np.zeros((6, 9), np.uint8)
    need[1, 2] = need[1, 6] = 1  # row 1: columns 2 to 6, the gap included
    need[3, 0] = 1
    need[4, 8] = 1
    got = km.srgb8_to_lab(rgb, _lut(8), None, _LRGB_TO_WHITE_XYZ, need)
    full = km.srgb8_to_lab(rgb, _lut(8), None, _LRGB_TO_WHITE_XYZ, None)
    inside = np.zeros((6, 9), bool)
    inside[1, 2:7] = inside[3, 0] = inside[4, 8] = True
    np.testing.assert_array_equal(got[:, inside], full[:, inside])
    assert not got[:, ~inside].any()


def test_srgb8_to_lab_refuses_what_it_cannot_read(km):
    from exoderm.skinlab.color import _LRGB_TO_WHITE_XYZ, _lut

    rgb = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError):
        km.srgb8_to_lab(rgb, _lut(8)[:100], None, _LRGB_TO_WHITE_XYZ, None)
    with pytest.raises(ValueError):
        km.srgb8_to_lab(rgb, _lut(8), np.eye(2, dtype=np.float32), _LRGB_TO_WHITE_XYZ, None)
    with pytest.raises(ValueError):
        km.srgb8_to_lab(rgb, _lut(8), None, _LRGB_TO_WHITE_XYZ, np.zeros((4, 6), np.uint8))


@pytest.mark.parametrize("ccm", [None, CCM], ids=["plain", "ccm"])
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (37, 41)])
def test_srgb8_to_lab_agree(ccm, shape):
    from exoderm.skinlab.color import _LRGB_TO_WHITE_XYZ, _lut

    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    need = (rng.random(shape) < 0.3).view(np.uint8)
    for mask in (None, need):
        want = _kernels.srgb8_to_lab(rgb, _lut(8), ccm, _LRGB_TO_WHITE_XYZ, mask)
        got = _kernels_numpy.srgb8_to_lab(rgb, _lut(8), ccm, _LRGB_TO_WHITE_XYZ, mask)
        _same(got, want)


def test_lab_planes_are_read_as_views_of_a_wider_image(km):
    """The metrics read L*, a*, b* as views of the planar image of :func:`srgb8_to_lab` cut to
    the regions' box: rows a whole image row apart. The sums and maps are those of copies."""
    p = _planes((90, 120), seed=21)
    planar = np.stack([p["L"], p["a"], p["b"]])
    views = tuple(planar[c, 5:70, 8:100] for c in range(3))
    copies = tuple(np.ascontiguousarray(v) for v in views)
    assert not views[0].flags.c_contiguous
    rng = np.random.default_rng(22)
    labels = rng.integers(0, 3, (65, 92)).astype(np.uint8)
    tone = rng.normal(0, 2, (65, 92)).astype(np.float32)
    lo, bins = (4000, 0, 0), 6000
    want = km.region_sums(labels, 0, 0, 2, *copies, lo, bins, tone, None, None, None)
    got = km.region_sums(labels, 0, 0, 2, *views, lo, bins, tone, None, None, None)
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    skin = (rng.random((65, 92)) < 0.7).view(np.uint8)
    grids = tuple(rng.normal(mu, 2, (6, 8)).astype(np.float32) for mu in (60, 12, 60, 12, 55))
    far = np.zeros((6, 8), np.uint8)
    args = (7.5, -6.25, -3.125, 5.0, 8.0, 16.0)
    want = km.background_maps(copies[0], copies[1], skin, grids, far, *args)
    got = km.background_maps(views[0], views[1], skin, grids, far, *args)
    for g, w in zip(got, want, strict=True):
        _same(g, w)
