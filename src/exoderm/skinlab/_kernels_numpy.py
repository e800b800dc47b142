"""The engine's kernels (``_kernels.pyx``) in NumPy: the fallback where the compiled module is
not built (:mod:`exoderm.skinlab.kernels` chooses).

Every function takes the arguments of its compiled twin and returns the same values: the same
float32 operations in the same order (NumPy's float32 arithmetic and square root are IEEE's, as
the compiled loops', which are built without fused multiply-adds), the sums in double precision
in raster order. The results are therefore the compiled kernels' to the bit, not only close
(``tests/skinlab/test_kernels.py`` holds both to each other and to the OpenCV chains they
replace). Whole-image NumPy: several times slower than the compiled loops, and the planes of a
large crop are processed in strips of rows to bound the temporaries' memory.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_AREA_FACTOR",
    "area_downscale",
    "background_maps",
    "blob_level",
    "clipped_count",
    "max_upsampled",
    "region_sums",
    "srgb8_to_lab",
    "subtract_upsampled",
    "valley_level",
]

#: Largest whole factor of :func:`area_downscale` (the compiled kernel's 16-bit sums' limit,
#: kept so that both backends accept the same factors).
MAX_AREA_FACTOR = 16

#: Output rows per strip of the upsampling functions (bounds the full-width temporaries).
_STRIP_ROWS = 256

_F32 = np.float32


def _check(arr: np.ndarray, dtype: type[np.generic], ndim: int, name: str) -> np.ndarray:
    """``arr`` as an ndarray, if of the dtype and dimensions the compiled kernel's buffers take.

    The compiled kernel refuses other arrays; so does this one, so that code that runs on one
    backend runs on the other.
    """
    out = np.asarray(arr)
    if out.dtype != dtype or out.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D {np.dtype(dtype).name} array, got {out.ndim}-D {out.dtype}"
        )
    return out


def area_downscale(src: np.ndarray, k: int) -> np.ndarray:
    """Means of k x k blocks of an 8-bit image, rounded to the nearest (ties to even).

    out[y, x, c] = rint(S · fl(1 / k²)) with S the integer sum of the block
    ``src[k·y : k·y + k, k·x : k·x + k, c]`` and the product in float32 (OpenCV's whole-factor
    ``INTER_AREA``); rows and columns past the last whole block are left out.

    Parameters
    ----------
    src : ndarray
        (H, W, C) uint8.
    k : int
        Whole factor, 1 to :data:`MAX_AREA_FACTOR`.

    Returns
    -------
    ndarray
        (H // k, W // k, C) uint8.
    """
    if not 1 <= k <= MAX_AREA_FACTOR:
        raise ValueError(f"factor must be 1 to {MAX_AREA_FACTOR}, got {k}")
    src = _check(src, np.uint8, 3, "src")
    h, w, c = src.shape[0] // k, src.shape[1] // k, src.shape[2]
    blocks = src[: h * k, : w * k].reshape(h, k, w, k, c)
    sums = blocks.sum(axis=(1, 3), dtype=np.uint32)
    scale = _F32(1.0) / _F32(k * k)
    return np.rint(sums.astype(_F32) * scale).astype(np.uint8)


def _reflect_101(n: int) -> np.ndarray:
    """Indices -1, 0, …, n of an axis of n samples, the two outside reflected as OpenCV's
    BORDER_REFLECT_101 (-1 → 1, n → n - 2; a single sample reflects onto itself)."""
    idx = np.arange(-1, n + 1)
    if n > 1:
        idx[0], idx[-1] = 1, n - 2
    else:
        idx[:] = 0
    return idx


def _hessian(g: np.ndarray, window: tuple[int, int, int, int], sigma: float) -> tuple[np.ndarray, ...]:
    """The scale-normalised Hessian and gradient of ``g[y0:y1, x0:x1]`` from 3x3 Sobel filters,
    borders reflected (BORDER_REFLECT_101) at the window's edges.

    With the horizontal filters of each row, second difference d2 = (l + r) − 2c, smoothing
    sm = (l + r) + 2c and central difference df = r − l, and the rows above (u), at (c) and below
    (d) the pixel, s2 = σ²/4 (a Sobel second derivative is 4x the derivative) and s1 = σ/8 (a
    first derivative 8x):

    xx = (u.d2 + 2 c.d2 + d.d2)·s2, yy = (u.sm − 2 c.sm + d.sm)·s2, xy = (d.df − u.df)·2 s2,
    gx = (u.df + 2 c.df + d.df)·s1, gy = (d.sm − u.sm)·s1, tr = xx + yy and
    disc = sqrt((xx − yy)² + xy²), all in float32.

    Returns
    -------
    tuple of ndarray
        ``(tr, disc, gx, gy)``, each (y1 - y0, x1 - x0) float32.
    """
    g = _check(g, _F32, 2, "g")
    y0, y1, x0, x1 = window
    if not (0 <= y0 <= y1 <= g.shape[0] and 0 <= x0 <= x1 <= g.shape[1]):
        raise ValueError(f"window [{y0}:{y1}, {x0}:{x1}] is outside the {g.shape[0]}x{g.shape[1]} image")
    n, m = y1 - y0, x1 - x0
    if n == 0 or m == 0:
        empty = np.empty((n, m), _F32)
        return empty, empty, empty, empty
    # the window with one reflected pixel all round: (n + 2, m + 2)
    p = g[y0:y1, x0:x1][np.ix_(_reflect_101(n), _reflect_101(m))]
    left, centre, right = p[:, :-2], p[:, 1:-1], p[:, 2:]
    two = _F32(2.0)
    d2 = (left + right) - two * centre
    sm = (left + right) + two * centre
    df = right - left
    sig = _F32(sigma)
    s2 = sig * sig / _F32(4.0)
    s1 = sig / _F32(8.0)

    def rows(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return f[:-2], f[1:-1], f[2:]  # up, centre, down

    (u2, c2, dn2), (us, cs, ds), (ud, cd, dd) = rows(d2), rows(sm), rows(df)
    xx = ((u2 + two * c2) + dn2) * s2
    yy = ((us - two * cs) + ds) * s2
    xy = (dd - ud) * (two * s2)
    gx = ((ud + two * cd) + dd) * s1
    gy = (ds - us) * s1
    diff = xx - yy
    return xx + yy, np.sqrt(diff * diff + xy * xy), gx, gy


def valley_level(
    g: np.ndarray, window: tuple[int, int, int, int], sigma: float, edge_penalty: float, anisotropy: float
) -> np.ndarray:
    """Line-like valley strength over ``g[y0:y1, x0:x1]``, borders reflected (BORDER_REFLECT_101).

    σ²λ1 − ``edge_penalty``·σ|∇g| = (tr + disc)/2 − p·sqrt(gx² + gy²) where the Hessian is
    line-like, (1 − a)·tr − (1 + a)·disc <= 0 (λ2 <= a·λ1 with a = ``anisotropy``), else 0
    (terms as in :func:`_hessian`).

    Parameters
    ----------
    g : ndarray
        (H, W) float32: the image smoothed at ``sigma``.
    window : tuple of int
        ``(y0, y1, x0, x1)``.
    sigma : float
        Scale of the smoothing, in pixels.

    Returns
    -------
    ndarray
        (y1 - y0, x1 - x0) float32.
    """
    tr, disc, gx, gy = _hessian(g, window, sigma)
    half, a = _F32(0.5), _F32(anisotropy)
    resp = (tr * half + disc * half) - _F32(edge_penalty) * np.sqrt(gx * gx + gy * gy)
    line_like = tr * (_F32(1.0) - a) + disc * -(_F32(1.0) + a) <= _F32(0.0)
    return np.where(line_like, resp, _F32(0.0))


def blob_level(g: np.ndarray, window: tuple[int, int, int, int], sigma: float) -> np.ndarray:
    """Round-dot strength over ``g[y0:y1, x0:x1]``, borders reflected: σ²λ2 = (tr − disc)/2
    where tr − 3·disc > 0 (both Hessian eigenvalues positive and λ2 >= λ1 / 2), else 0 (see
    :func:`valley_level`).

    Parameters and result as :func:`valley_level`.
    """
    tr, disc, _, _ = _hessian(g, window, sigma)
    half = _F32(0.5)
    return np.where(tr - _F32(3.0) * disc > _F32(0.0), tr * half - disc * half, _F32(0.0))


def _raster_sum(v: np.ndarray) -> float:
    """Σ v in double precision, added one by one in order (the compiled loop's rounding; NumPy's
    ``sum`` adds pairwise)."""
    return float(np.cumsum(v, dtype=np.float64)[-1]) if v.size else 0.0


def region_sums(
    labels: np.ndarray,
    y0: int,
    x0: int,
    n_labels: int,
    L: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    lo: tuple[int, int, int] | None,
    n_bins: int,
    tone: np.ndarray | None,
    red: np.ndarray | None,
    a_excess: np.ndarray | None,
    texture: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The additive statistics of labelled regions.

    For region v (the pixels of ``labels`` equal to v, a box placed at (``y0``, ``x0``) of the
    planes): npx = its pixel count; per channel c of (L*, a*, b*) the histogram of
    q = clip(rint(fl32(100·v_c)) − lo_c, 0, ``n_bins`` − 1); tone = Σ t, tone_sq = Σ t²,
    a_excess = Σ e, texture_sq = Σ x² (each value widened to double, added in raster order) and
    red = #(red ≠ 0).

    Parameters
    ----------
    labels : ndarray
        (h, w) uint8 inside the box: 0 outside every region, else the region's number 1 to
        ``n_labels`` (a bool mask viewed as uint8 is one region).
    y0, x0 : int
        The box's first pixel in the planes.
    n_labels : int
        Number of regions, 1 to 255.
    L, a, b : ndarray
        Float32 planes of the crop, all of one shape.
    lo : tuple of int or None
        Per channel, the offset lo_c above; None: no histograms.
    n_bins : int
        Histogram bins per channel, 1 to 65536.
    tone, a_excess, texture : ndarray or None
        Float32 planes of the crop's shape; None: that sum is 0.
    red : ndarray or None
        uint8 plane (a bool viewed as uint8) of the crop's shape; None: no red pixels.

    Returns
    -------
    tuple
        ``(hist, npx, tone, tone_sq, red, a_excess, texture_sq)``: ``hist`` a (n_labels, 3,
        n_bins) uint32 array or None, the others arrays of n_labels (int64 for the counts
        ``npx`` and ``red``, float64 for the sums).

    Raises
    ------
    ValueError
        For planes of different shapes, a box outside them, or a label above ``n_labels``.
    """
    labels = _check(labels, np.uint8, 2, "labels")
    planes = [_check(p, _F32, 2, name) for p, name in ((L, "L"), (a, "a"), (b, "b"))]
    tone_p, aex_p, tex_p = (
        None if p is None else _check(p, _F32, 2, name)
        for p, name in ((tone, "tone"), (a_excess, "a_excess"), (texture, "texture"))
    )
    red_p = None if red is None else _check(red, np.uint8, 2, "red")
    shape = planes[0].shape
    if any(p is not None and p.shape != shape for p in (*planes, tone_p, aex_p, tex_p, red_p)):
        raise ValueError("planes of different shapes")
    n, m = labels.shape
    if not (y0 >= 0 and y0 + n <= shape[0] and x0 >= 0 and x0 + m <= shape[1]):
        raise ValueError("region box outside the planes")
    if not 1 <= n_labels <= 255:
        raise ValueError(f"n_labels must be 1 to 255, got {n_labels}")
    if not 1 <= n_bins <= 65536:
        raise ValueError(f"n_bins must be 1 to 65536, got {n_bins}")
    if labels.size and int(labels.max()) > n_labels:
        raise ValueError(f"a label above n_labels = {n_labels}")
    box = (slice(y0, y0 + n), slice(x0, x0 + m))
    hist, q = None, []
    if lo is not None:
        hist = np.zeros((n_labels, 3, n_bins), np.uint32)
        q = [
            np.clip(np.rint(p[box] * _F32(100.0)).astype(np.int64) - c, 0, n_bins - 1)
            for p, c in zip(planes, lo, strict=True)
        ]
    npx, n_red = np.zeros(n_labels, np.int64), np.zeros(n_labels, np.int64)
    sums = {k: np.zeros(n_labels, np.float64) for k in ("tone", "tone_sq", "a_excess", "texture_sq")}
    for v in range(1, n_labels + 1):
        sel = labels == v  # boolean indexing keeps raster order
        npx[v - 1] = np.count_nonzero(sel)
        if hist is not None:
            for c in range(3):
                hist[v - 1, c] = np.bincount(q[c][sel], minlength=n_bins)
        if tone_p is not None:
            tv = tone_p[box][sel].astype(np.float64)
            sums["tone"][v - 1], sums["tone_sq"][v - 1] = _raster_sum(tv), _raster_sum(tv * tv)
        if red_p is not None:
            n_red[v - 1] = np.count_nonzero(red_p[box][sel])
        if aex_p is not None:
            sums["a_excess"][v - 1] = _raster_sum(aex_p[box][sel])
        if tex_p is not None:
            xv = tex_p[box][sel].astype(np.float64)
            sums["texture_sq"][v - 1] = _raster_sum(xv * xv)
    return hist, npx, sums["tone"], sums["tone_sq"], n_red, sums["a_excess"], sums["texture_sq"]


def clipped_count(rgb: np.ndarray, mask: np.ndarray | None, full: int) -> tuple[int, int]:
    """Pixels of an RGB image whose brightest channel is at 0 or at ``full``.

    With top = max(R, G, B) per pixel: ``(#pixels, #(top == 0 or top >= full))`` over the
    pixels inside ``mask`` (all without one).

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16, each row contiguous.
    mask : ndarray or None
        (H, W) uint8 (a bool viewed as uint8), each row contiguous.
    full : int
        Full-scale sample value (255 or 65535).

    Returns
    -------
    tuple of int
        ``(pixels, clipped)``.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype not in (np.uint8, np.uint16) or rgb.ndim != 3:
        raise ValueError(f"rgb must be a 3-D uint8 or uint16 array, got {rgb.ndim}-D {rgb.dtype}")
    h, w = rgb.shape[:2]
    # the compiled kernel walks each row as contiguous pixels; the same contract here
    if (
        rgb.shape[2] != 3
        or (w > 1 and rgb.strides[1] != 3 * rgb.strides[2])
        or rgb.strides[2] != rgb.itemsize
    ):
        raise ValueError("expected (H, W, 3) with contiguous rows")
    if mask is not None:
        mask = _check(mask, np.uint8, 2, "mask")
        if mask.shape != (h, w) or (w > 1 and mask.strides[1] != 1):
            raise ValueError("mask must be (H, W) with contiguous rows")
    top = rgb.max(axis=2)
    clipped = (top == 0) | (top >= full)
    if mask is None:
        return int(top.size), int(np.count_nonzero(clipped))
    inside = mask != 0
    return int(np.count_nonzero(inside)), int(np.count_nonzero(clipped & inside))


_Axis = tuple[np.ndarray, np.ndarray, np.ndarray]


def _axis(n_src: int, n_dst: int) -> _Axis:
    """OpenCV's INTER_LINEAR geometry along one axis: output sample d reads the source at
    s = fl32((d + 0.5)·n_src/n_dst − 0.5) (computed in double), between i0 = ⌊s⌋ and
    i1 = min(i0 + 1, n_src − 1) with the weight f = s − i0 of i1; clamped to the first and last
    sample (i0 = 0 or n_src − 1, f = 0) beyond them.

    Returns
    -------
    tuple of ndarray
        ``(i0, i1, f)``: int64, int64, float32, each of n_dst.
    """
    ratio = n_src / max(n_dst, 1)  # (no samples when n_dst is 0)
    s = ((np.arange(n_dst) + 0.5) * ratio - 0.5).astype(_F32)
    i0 = np.floor(s).astype(np.int64)
    f = s - i0.astype(_F32)
    low, high = i0 < 0, i0 >= n_src - 1
    i0[low], f[low] = 0, 0.0
    i0[high], f[high] = n_src - 1, 0.0
    return i0, np.minimum(i0 + 1, n_src - 1), f


def _upsampler(grid: np.ndarray, h: int, w: int) -> tuple[np.ndarray, _Axis]:
    """Bilinear upsampling of ``grid`` to (h, w), first along x, then along y.

    Returns the grid's rows interpolated along x, (gh, w) float32: row[i0]·(1 − f) + row[i1]·f,
    and the rows' (i0, i1, f) of :func:`_axis` along y (see :func:`_upsampled_rows`).
    """
    grid = _check(grid, _F32, 2, "grid")
    if grid.shape[0] < 1 or grid.shape[1] < 1:
        raise ValueError("empty grid")
    x0, x1, fx = _axis(grid.shape[1], w)
    along_x = grid[:, x0] * (_F32(1.0) - fx) + grid[:, x1] * fx
    return along_x, _axis(grid.shape[0], h)


def _upsampled_rows(up: tuple[np.ndarray, _Axis], rows: slice) -> np.ndarray:
    """Output ``rows`` of an :func:`_upsampler`: ra·(1 − f) + rb·f with ra, rb its rows i0, i1."""
    along_x, (r0, r1, fy) = up
    f = fy[rows, None]
    return along_x[r0[rows]] * (_F32(1.0) - f) + along_x[r1[rows]] * f


def _nearest(n_src: int, n_dst: int) -> np.ndarray:
    """OpenCV's INTER_NEAREST source index of each output sample: min(⌊d·n_src/n_dst⌋, n_src − 1)."""
    ratio = n_src / max(n_dst, 1)  # (no samples when n_dst is 0)
    return np.minimum(np.floor(np.arange(n_dst) * ratio).astype(np.int64), n_src - 1)


def background_maps(
    L: np.ndarray,
    a: np.ndarray,
    skin: np.ndarray,
    grids: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    far: np.ndarray,
    red_da: float,
    spot_dl: float,
    group_dl: float,
    spot_da: float,
    level_floor: float,
    level_offset: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The per-pixel maps of the backgrounds.

    With the grids B10 (L*), B10a, B5l, B5a and ``fill`` upsampled bilinearly to the crop
    (OpenCV's ``INTER_LINEAR`` geometry, :func:`_axis`), ``far`` by nearest neighbour, and the
    level λ = (max(B10, ``level_floor``) + ``level_offset``)·0.01, all in float32:

    * per_level = 100 / (max(B10, ``level_floor``) + ``level_offset``);
    * tone = (L − B10)·per_level; a_excess = max(a − B10a, 0) / λ (both in percent of the
      local level);
    * red = skin ∧ (a − B10a >= ``red_da``·λ);
    * candidates = skin ∧ (L − B5l <= ``spot_dl``·λ) ∧ (a − B5a <= ``spot_da``·λ);
    * group = the same with ``group_dl``;
    * filled = L on the skin, else B5l where ``far``, else fill.

    Parameters
    ----------
    L, a : ndarray
        (H, W) float32 L* and a* of the crop.
    skin : ndarray
        (H, W) uint8 (a bool viewed as uint8), the skin.
    grids : tuple of ndarray
        Five float32 grids: B10, B10a, B5l, B5a and fill.
    far : ndarray
        uint8 grid of ``fill``'s shape: no skin near.
    red_da, spot_dl, group_dl, spot_da : float
        Thresholds in percent of the local level.
    level_floor, level_offset : float
        The floor of B10 and the offset added to it in the level.

    Returns
    -------
    tuple of ndarray
        ``(tone, a_excess, red, candidates, group, filled, per_level)``: float32, float32, bool,
        bool, bool, float32, float32, each (H, W).
    """
    L, a = _check(L, _F32, 2, "L"), _check(a, _F32, 2, "a")
    skin = _check(skin, np.uint8, 2, "skin")
    h, w = L.shape
    if a.shape != (h, w) or skin.shape != (h, w):
        raise ValueError("L, a and skin must have one shape")
    if len(grids) != 5:
        raise ValueError("five grids expected")
    ups = [_upsampler(g, h, w) for g in grids]
    far = _check(far, np.uint8, 2, "far")
    if far.shape != grids[4].shape:
        raise ValueError("far must have the fill grid's shape")
    far_x = _nearest(far.shape[1], w)
    far_y = _nearest(far.shape[0], h)
    red_da32, spot_dl32, group_dl32, spot_da32 = (_F32(v) for v in (red_da, spot_dl, group_dl, spot_da))
    floor, offset, zero = _F32(level_floor), _F32(level_offset), _F32(0.0)
    tone = np.empty((h, w), _F32)
    excess = np.empty((h, w), _F32)
    red = np.empty((h, w), np.bool_)
    cand = np.empty((h, w), np.bool_)
    group = np.empty((h, w), np.bool_)
    filled = np.empty((h, w), _F32)
    per_level = np.empty((h, w), _F32)
    for y in range(0, h, _STRIP_ROWS):
        rows = slice(y, min(h, y + _STRIP_ROWS))
        b10, b10a, b5l, b5a, fill = (_upsampled_rows(u, rows) for u in ups)
        lx, ax, sk = L[rows], a[rows], skin[rows] != 0
        far_rows = far[far_y[rows]][:, far_x] != 0
        da10 = ax - b10a
        inv = _F32(100.0) / (np.where(b10 > floor, b10, floor) + offset)
        per_level[rows] = inv
        tone[rows] = (lx - b10) * inv
        filled[rows] = np.where(sk, lx, np.where(far_rows, b5l, fill))
        # the thresholds are percent of the local level: (floored B10 + offset) / 100
        level = (np.where(b10 > floor, b10, floor) + offset) * _F32(0.01)
        excess[rows] = np.where(da10 > zero, da10 / level, zero)  # in percent of the level
        not_red = ax - b5a <= spot_da32 * level
        dl = lx - b5l
        red[rows] = sk & (da10 >= red_da32 * level)
        cand[rows] = sk & (dl <= spot_dl32 * level) & not_red
        group[rows] = sk & (dl <= group_dl32 * level) & not_red
    return tone, excess, red, cand, group, filled, per_level


def _combine_upsampled(img: np.ndarray, grid: np.ndarray, *, subtract: bool) -> None:
    img = _check(img, _F32, 2, "img")
    h, w = img.shape
    up = _upsampler(grid, h, w)
    for y in range(0, h, _STRIP_ROWS):
        rows = slice(y, min(h, y + _STRIP_ROWS))
        r, d = _upsampled_rows(up, rows), img[rows]
        # d > r ? d : r, as the compiled loop (np.maximum would differ at a NaN)
        img[rows] = d - r if subtract else np.where(d > r, d, r)


def max_upsampled(img: np.ndarray, grid: np.ndarray) -> None:
    """``img = max(img, up(grid))`` in place: ``grid`` (float32) upsampled bilinearly to
    ``img``'s (H, W) float32 shape (OpenCV's ``INTER_LINEAR`` geometry, see :func:`_axis`)."""
    _combine_upsampled(img, grid, subtract=False)


def subtract_upsampled(img: np.ndarray, grid: np.ndarray) -> None:
    """``img = img - up(grid)`` in place (see :func:`max_upsampled`)."""
    _combine_upsampled(img, grid, subtract=True)


def _cbrt(t: np.ndarray) -> np.ndarray:
    """Cube root of float32 ``t`` > 0 as the compiled kernel takes it: a first guess from the
    float's bits (bits / 3 + 0x2a5137a0), then two Halley steps y·(y³ + 2t) / (2y³ + t)."""
    y = (t.view(np.uint32) // np.uint32(3) + np.uint32(0x2A5137A0)).view(_F32)
    for _ in range(2):
        y3 = y * y * y
        y = y * (y3 + _F32(2.0) * t) / (_F32(2.0) * y3 + t)
    return y


def _lab_f(t: np.ndarray) -> np.ndarray:
    """CIE f(t): t^(1/3) above 0.008856452 ((6/29)³), else t·7.787037 + 0.13793103."""
    return np.where(
        t > _F32(0.008856452), _cbrt(np.maximum(t, _F32(1e-30))), t * _F32(7.787037) + _F32(0.13793103)
    )


def srgb8_to_lab(
    rgb: np.ndarray, lut: np.ndarray, ccm: np.ndarray | None, to_xyz: np.ndarray, need: np.ndarray | None
) -> np.ndarray:
    """CIE L*a*b* of an 8-bit sRGB image as three planes.

    In float32: linear light r, g, b = ``lut``[sRGB]; with ``ccm`` (3 x 3) the corrected
    r' = c₀r + c₁g + c₂b (and so on); each clipped to [0, 1]; X, Y, Z = ``to_xyz`` · (r, g, b)
    (rows already divided by the white); L* = 116·f(Y) − 16, a* = 500·(f(X) − f(Y)),
    b* = 200·(f(Y) − f(Z)) with :func:`_lab_f`. With ``need`` (uint8 (H, W)), only the pixels of
    each row from its first to its last non-zero one are converted; the others are 0.

    Returns
    -------
    ndarray
        (3, H, W) float32.
    """
    rgb = _check(rgb, np.uint8, 3, "rgb")
    lut = _check(lut, _F32, 1, "lut")
    m = _check(to_xyz, _F32, 2, "to_xyz")
    if rgb.shape[2] != 3:
        raise ValueError("expected (H, W, 3) with contiguous rows")
    if lut.shape[0] != 256 or m.shape != (3, 3):
        raise ValueError("expected a 256-entry table and a 3 x 3 matrix")
    c = np.eye(3, dtype=_F32) if ccm is None else _check(ccm, _F32, 2, "ccm")
    if c.shape != (3, 3):
        raise ValueError("ccm must be 3 x 3")
    h, w = rgb.shape[:2]
    out = np.zeros((3, h, w), _F32)
    inside = np.ones((h, w), bool)
    if need is not None:
        nd = _check(need, np.uint8, 2, "need")
        if nd.shape != (h, w):
            raise ValueError("need must be (H, W) with contiguous rows")
        on = nd != 0
        cols = np.arange(w)
        first = np.where(on.any(axis=1), on.argmax(axis=1), w)
        last = w - on[:, ::-1].argmax(axis=1)
        inside = (cols >= first[:, None]) & (cols < last[:, None])
    lin = lut[rgb[inside]]  # (n, 3), raster order
    r0, g0, b0 = lin[:, 0], lin[:, 1], lin[:, 2]
    r, g, b = ((c[i, 0] * r0 + c[i, 1] * g0) + c[i, 2] * b0 for i in range(3))
    r, g, b = (np.clip(v, _F32(0.0), _F32(1.0)) for v in (r, g, b))
    fx, fy, fz = (_lab_f((m[i, 0] * r + m[i, 1] * g) + m[i, 2] * b) for i in range(3))
    out[0][inside] = _F32(116.0) * fy - _F32(16.0)
    out[1][inside] = _F32(500.0) * (fx - fy)
    out[2][inside] = _F32(200.0) * (fy - fz)
    return out
