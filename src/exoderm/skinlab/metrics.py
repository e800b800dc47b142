"""Per-region skin metrics on CIE L*a*b* images (``shared/specs/skin-metrics.md``).

The single entry point is :func:`measure_regions`. It crops the image to the bounding box of
the union of all region masks, computes the shared work once on that crop (robust local
backgrounds, the multi-scale valley response, spot and red-pixel maps, pore candidates) and
then reduces it per region with vectorised statistics.

Definitions follow the measurement contract:

* every detection threshold below is given in L* or a* units at the local L* + 16 of 80
  (L* 64, :data:`REFERENCE_LEVEL`) and scales with the local L* + 16 (that of the plain 10 mm
  background, floored at L* 8) from engine 1.4.0 on: a pixel is a spot candidate when
  100·ΔL*/(L* + 16) <= −6.25, red when 100·Δa*/(L* + 16) >= 7.5, and so on; the valley and pore
  responses are brought to the reference level before their thresholds. The same change of
  reflectance (pigment, a line's shadow, a flush) and the same exposure change move L* and a*
  in proportion to L* + 16 (cube-root law), so one threshold holds on every skin type and
  exposure. Before 1.4.0 they were absolute, as the spec states them;
* backgrounds are normalised Gaussian convolutions over the skin pixels (the union of the
  masks) computed on a grid of about σ/4 and bilinearly upsampled; for spots (σ = 5 mm) and
  redness (σ = 10 mm) candidate lesions (coarse cells with ΔL* <= -2 or Δa* >= +3 at the
  reference level) are excluded in two passes; ``tone_sd_L`` uses the plain 10 mm background;
* ``tone_sd_L`` and ``texture_rms`` are relative: each pixel's ΔL* is divided by the 10 mm
  background's L* + 16 and given in percent (engine 1.3.0 on; before, in L* units). L* + 16
  is proportional to the cube root of luminance, so exposure, a factor on luminance, scales
  the ΔL* and the level alike and cancels;
* spots are 8-connected components of ``ΔL* <= -5`` and ``Δa* <= +4`` of area 0.1 mm² to
  100 mm², fragments up to 0.3 mm (at least one pixel) apart joined through pixels of
  ``ΔL* <= -2.5`` (noise breaks a faint spot apart), at least half of the extent so joined at
  ``ΔL* <= -5``, that are not wrinkle-like: not elongated (second-moment axis ratio >= 3 with
  a width <= 2 mm), not mostly covered by a counted wrinkle's skeleton, and not a fragment of
  a counted wrinkle (>= 25 % of the component within 0.1 mm of its valley);
* red pixels have ``Δa* >= +6``; ``a_excess_mean`` is the mean of max(Δa*, 0) (σ = 10 mm),
  each pixel's in percent of the 10 mm background's L* + 16 (engine 1.5.0 on; before, in a*
  units): a* scales with exposure as L* + 16 does, so the ratio cancels it as for tone;
* wrinkles are valleys of L*: scale-normalised largest Hessian eigenvalue σ²λ1 at five σ from
  0.2/2.355 to 2/2.355 mm (matched to Gaussian valleys 0.2 to 2 mm wide, FWHM), kept where the
  Hessian is line-like (λ2 <= 0.5·λ1) and penalised by 2.5·σ|∇L*| so that a lesion's edge is
  not a valley; hysteresis at 1.4 / 0.6 L* (at the reference level); breaks up to 0.5 mm
  closed; Guo-Hall thinning; skeleton pieces whose ends face each other (each end's direction
  within 45° of the other end) at most 2 mm apart are one line (engine 1.4.0 on: noise breaks a
  faint line, and a closing does not bridge thin valleys); lines of length >= 3 mm with an end
  count (8-neighbour length: 1 per step, √2 per diagonal; a joined line's breaks add no length);
  lines lying mostly inside counted spots are lesion borders and do not count. Lines are
  looked for at least 0.5 mm inside the skin mask, and beyond the mask the skin's nearby values
  are extrapolated (normalised Gaussian, σ = 1 mm), so that excluded features (hair line, eyes,
  lips, face outline) make no lines;
* texture is the RMS over the region of L* band-passed as G(σ = 0.1 mm) − G(σ = 1 mm),
  relative to the local L* + 16 as above;
* pores are local maxima of σ²λ2 >= 0.8 at the reference level (both eigenvalues positive,
  λ2 >= λ1/2: round dark dots) at σ for diameters 0.1, 0.2 and 0.4 mm, outside counted spots
  and wrinkles, only when the scale is 0.05 mm/px or finer.

A component (spot, skeleton piece) is attributed to the region holding most of its pixels, so
counts of disjoint regions add up; lengths and areas are summed inside each region. Every metric
that needs a physical scale is ``None`` (with a note) when ``mm_per_px`` is unknown; only the
colour medians and ITA are then reported.
"""

from __future__ import annotations

import functools
import math
import operator
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import scipy.spatial
from numpy.typing import NDArray

from . import kernels

__all__ = [
    "METRIC_KEYS",
    "RegionMeasurement",
    "measure_regions",
]

#: Every metric key reported per region, in the order of the spec.
METRIC_KEYS: tuple[str, ...] = (
    "L_median",
    "a_median",
    "b_median",
    "ita_deg",
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

#: CPU seconds (``time.process_time``, all threads) per stage of the last
#: :func:`measure_regions` call (for benchmarks; not thread-safe).
LAST_CPU_TIMINGS: dict[str, float] = {}

# --- parameters fixed by the spec -----------------------------------------------------------
# (the thresholds in L* or a* units hold at the local L* + 16 of REFERENCE_LEVEL, see there)
SPOT_SIGMA_MM = 5.0
SPOT_DL = -5.0
SPOT_DA_MAX = 4.0
SPOT_AREA_MM2 = (0.1, 100.0)
RED_SIGMA_MM = 10.0
RED_DA = 6.0
TONE_SIGMA_MM = 10.0
WRINKLE_WIDTH_MM = (0.2, 2.0)
WRINKLE_MIN_LENGTH_MM = 3.0
TEXTURE_BAND_MM = (0.1, 1.0)
#: CIE L* = 116·(Y/Yn)^(1/3) − 16: L* + 16 scales with the cube root of luminance, so
#: exposure (a factor on luminance) scales L* + 16 and every L* difference by one factor.
L_OFFSET = 16.0
#: ``tone_sd_L``, ``texture_rms`` and every detection threshold divide by (or scale with) the
#: local L* + 16 of a background of at least this L* (the cube-root law holds above L* 8, far
#: darker than any skin).
LEVEL_FLOOR = 8.0
#: The local L* + 16 at which a detection threshold equals its value in L* or a* units below
#: (engine 1.4.0 on): L* 64, the skin on which the spec's thresholds were set (the default
#: phantom's). Elsewhere each threshold scales with the local L* + 16: the same change of
#: reflectance (a pigment, a shadow, a flush) and the same exposure change move L* and a* by
#: that factor (cube-root law), so e.g. a spot pixel has 100·ΔL*/(L* + 16) <= 100·(−5)/80 =
#: −6.25 %, a red pixel 100·Δa*/(L* + 16) >= 7.5 %.
REFERENCE_LEVEL = 80.0
PORE_DIAMETER_MM = (0.1, 0.5)
PORE_MAX_MM_PER_PX = 0.05

# --- engine choices (not fixed by the spec; changing them changes results) ------------------
#: Valley strength thresholds (scale-normalised σ²·λ, L* units at REFERENCE_LEVEL: the response
#: is multiplied by 80 / (local L* + 16) first). A Gaussian valley of depth D reaches about
#: 0.35·D at its matched scale, so 1.4 is a valley about 4 L* deep on skin of L* 64.
WRINKLE_HIGH = 1.4
WRINKLE_LOW = 0.6
#: Number of Hessian scales between the narrowest and the widest line (geometric).
WRINKLE_SCALES = 5
#: Second Hessian eigenvalue must stay below this fraction of the first (line, not blob).
WRINKLE_ANISOTROPY = 0.5
#: Step-edge suppression: the valley strength is σ²·λ1 minus this multiple of σ·|∇L*| (zero at
#: a valley's centre; a step edge of height D then peaks at about 0.03·D instead of 0.24·D).
WRINKLE_EDGE_PENALTY = 2.5
#: Wrinkles are detected at least this far (mm) inside the skin mask's border.
WRINKLE_BORDER_MM = 0.5
#: Breaks up to about this length (mm) along a line are bridged (morphological closing).
WRINKLE_GAP_MM = 0.5
#: Skeleton pieces whose ends face each other at most this far apart (mm) are one line (see
#: :func:`_lines_of_pieces`): the breaks noise makes in a faint line (engine 1.4.0 on).
WRINKLE_JOIN_MM = 2.0
#: An end's direction is taken over this length (mm) of its piece.
WRINKLE_TANGENT_MM = 0.5
#: Scale (mm) of the extrapolation of skin values beyond the mask's border.
FILL_SIGMA_MM = 1.0
#: Pore strength threshold (σ²·λ_min, L* units at REFERENCE_LEVEL, as the valley thresholds); a
#: Gaussian dot of depth D gives about D/4.
PORE_THRESHOLD = 0.8
#: Minimum number of region pixels for any statistic.
MIN_REGION_PX = 64
#: Spots: a component is wrinkle-like (not a spot) above this elongation.
SPOT_MAX_ELONGATION = 3.0
#: Spots: pixel noise and skin texture break a faint spot (ΔL* near the spot threshold, −5 at
#: the reference level) into fragments. Fragments up to this far apart (mm; at least across
#: one pixel), with the pixels between them at least SPOT_GROUP_DL dark (at the reference
#: level, scaled as SPOT_DL), are one spot. Its extent is its fragments plus the pixels at least
#: SPOT_GROUP_DL dark within half that distance; it counts only if at least SPOT_MIN_FILL of its
#: extent reaches the spot threshold (a patch lighter than it, whose noise crosses it here and
#: there, is no spot). Its area stays that of its pixels at the threshold or darker.
SPOT_GAP_MM = 0.3
SPOT_GROUP_DL = -2.5
SPOT_MIN_FILL = 0.5


@dataclass
class RegionMeasurement:
    """Measurements of one region.

    Attributes
    ----------
    area_px : int
        Number of skin pixels in the region.
    area_mm2 : float or None
        Their area, ``None`` without a scale.
    metrics : dict
        Every key of :data:`METRIC_KEYS`, a number or ``None``.
    notes : list of str
        Why a metric is ``None`` (or anything else worth knowing).
    detections : dict of ndarray
        Boolean masks of the full image size: ``'spots'`` (counted spot pixels),
        ``'wrinkles'`` (counted skeleton pixels) and ``'red'`` (red pixels), each restricted
        to the region.
    """

    area_px: int
    area_mm2: float | None
    metrics: dict[str, float | int | None]
    notes: list[str] = field(default_factory=list)
    detections: Mapping[str, np.ndarray] = field(default_factory=dict)


class _Detections(Mapping[str, np.ndarray]):
    """Detection masks made on first access: most callers never look at them, and each is an
    image-sized array."""

    def __init__(self, makers: dict[str, Callable[[], np.ndarray]]) -> None:
        self._makers = makers
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._made:
            self._made[key] = self._makers[key]()
        return self._made[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


@dataclass
class _Sums:
    """Additive statistics of one region: those of disjoint regions add up to their union's."""

    npx: int
    hists: np.ndarray | None = None
    """(3, bins) counts of q = rint(100·v) − ``hist_lo`` per channel (None: no histograms)."""
    hist_lo: tuple[int, int, int] | None = None
    medians: list[float] | None = None
    """Exact medians (small regions, or no histograms); None: from the histograms."""
    tone: float = 0.0
    tone_sq: float = 0.0
    red: int = 0
    a_excess: float = 0.0
    texture_sq: float = 0.0

    def __add__(self, other: _Sums) -> _Sums:
        if self.hists is None or other.hists is None or self.hist_lo != other.hist_lo:
            raise ValueError("only histogram sums of the same quantisation add up")
        return _Sums(
            self.npx + other.npx,
            self.hists + other.hists,
            self.hist_lo,
            None,
            self.tone + other.tone,
            self.tone_sq + other.tone_sq,
            self.red + other.red,
            self.a_excess + other.a_excess,
            self.texture_sq + other.texture_sq,
        )

    def channel_medians(self) -> tuple[float, float, float]:
        """L*, a*, b* medians, from the histograms to 0.005 units (as :func:`_median`)."""
        if self.medians is not None:
            return self.medians[0], self.medians[1], self.medians[2]
        assert self.hists is not None and self.hist_lo is not None
        # the ((n+1)//2)-th and (n//2+1)-th smallest (1-based) give the median
        ranks = [(self.npx + 1) // 2, self.npx // 2 + 1]
        out = []
        for hist, lo in zip(self.hists, self.hist_lo, strict=True):
            i1, i2 = np.searchsorted(np.cumsum(hist, dtype=np.int64), ranks)
            out.append((int(i1) + int(i2) + 2 * lo) / 200.0)
        return out[0], out[1], out[2]


# ============================================================================================
# helpers
# ============================================================================================


Exclude = Callable[[np.ndarray], np.ndarray]


def _percent_of_level(threshold: float) -> float:
    """A threshold in L* or a* units at :data:`REFERENCE_LEVEL`, in percent of the local L* + 16."""
    return 100.0 * threshold / REFERENCE_LEVEL


def _background_grid(sigma_px: float, shape: tuple[int, int]) -> tuple[float, int, int]:
    """Grid of :func:`_robust_background`: (step, rows, cols) with a step of about σ/4."""
    h, w = shape
    step = max(1.0, sigma_px / 4.0)
    return step, max(1, round(h / step)), max(1, round(w / step))


def _background_cells(stack: np.ndarray, sigma_px: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Area averages of ``stack`` (h, w, 4) over the cells of :func:`_robust_background`'s
    grid for ``sigma_px`` (one call for four channels: OpenCV's fastest area resampling).

    ``shape``: the full-resolution (H, W) when ``stack`` holds the cells of a finer grid rather
    than the image itself (area averages of area averages: exact but for the finer cells cut by
    a coarse cell's border, a detail far below the background's σ).
    """
    h, w = stack.shape[:2] if shape is None else shape
    _, sh, sw = _background_grid(sigma_px, (h, w))
    out: np.ndarray = cv2.resize(stack, (sw, sh), interpolation=cv2.INTER_AREA)
    return out.reshape(sh, sw, -1)


def _robust_background(
    cells: np.ndarray,
    channels: list[int],
    shape: tuple[int, int],
    sigma_px: float,
    *,
    exclude: Exclude | None = None,
    n_iter: int = 2,
) -> list[np.ndarray]:
    """Normalised Gaussian convolution of images over a weight, computed on a coarse grid.

    Parameters
    ----------
    cells : ndarray
        (h, w, C) float32 from :func:`_background_cells`: channel 0 the weight (1 for the pixels
        that may contribute, else 0), the others images already multiplied by the weight.
    channels : list of int
        Channels of ``cells`` to estimate the background of.
    shape : (H, W)
        Full-resolution shape.
    sigma_px : float
        Gaussian σ in full-resolution pixels.
    exclude : callable, optional
        ``exclude(residual_lowres) -> bool mask`` of coarse cells to drop from the weights
        (candidate lesions); applied ``n_iter`` times. The residual is (h, w) for one channel,
        (h, w, C) for several.

    Returns
    -------
    list of ndarray
        Background of each channel on the grid, C-contiguous float32 (bilinearly upsampled to
        (H, W) by :func:`_kernels.background_maps`).
    """
    step, _, _ = _background_grid(sigma_px, shape)
    cov = np.ascontiguousarray(cells[..., 0])
    safe = np.maximum(cov, 1e-6)
    lows = [cells[..., c] / safe for c in channels]
    low = lows[0] if len(lows) == 1 else cv2.merge(lows)
    multi = low.ndim == 3
    s = sigma_px / step
    ksize = int(2 * math.ceil(3 * s) + 1)

    def conv(wt: np.ndarray) -> np.ndarray:
        wl = low * (wt[..., None] if multi else wt)
        nb = cv2.GaussianBlur(wl, (ksize, ksize), s, borderType=cv2.BORDER_CONSTANT)
        db = cv2.GaussianBlur(wt, (ksize, ksize), s, borderType=cv2.BORDER_CONSTANT)
        db = np.maximum(db, 1e-6)
        out: np.ndarray = nb / (db[..., None] if multi else db)
        return out

    wt = cov
    bg = conv(wt)
    if exclude is not None:
        for _ in range(n_iter):
            drop = exclude(low - bg)
            wt2 = np.where(drop, 0.0, cov).astype(np.float32)
            # keep a trace of weight so that fully excluded neighbourhoods stay defined
            wt2 = np.maximum(wt2, cov * 1e-3)
            bg = conv(wt2)
    planes = [bg[..., i] for i in range(len(channels))] if multi else [bg]
    return [np.ascontiguousarray(p, np.float32) for p in planes]


Window = tuple[int, int, int, int]
"""(y0, y1, x0, x1) of an image."""


def _valley_level(g: np.ndarray, window: Window, sigma: float) -> np.ndarray:
    """σ²λ1 − penalty·σ|∇| where the Hessian is line-like, else 0 (see :func:`_valley_response`),
    over ``g[y0:y1, x0:x1]``, the image smoothed at ``sigma`` (a one-pass kernel, :mod:`.kernels`)."""
    return kernels.active().valley_level(g, window, sigma, WRINKLE_EDGE_PENALTY, WRINKLE_ANISOTROPY)


def _blob_level(g: np.ndarray, window: Window, sigma: float) -> np.ndarray:
    """σ²λ2 where both eigenvalues are positive and λ2 >= λ1 / 2 (a round dark dot), else 0,
    over ``g[y0:y1, x0:x1]``, the image smoothed at ``sigma`` (a one-pass kernel, :mod:`.kernels`)."""
    return kernels.active().blob_level(g, window, sigma)


#: Pixels per strip of :func:`_max_levels` (a strip's temporaries stay in the CPU cache).
_STRIP_PX = 1 << 17

LevelFn = Callable[[np.ndarray, Window, float], np.ndarray]


def _max_levels(
    fn: LevelFn, img: np.ndarray, sigmas: list[float], need: Mask | None = None, k: int = 1
) -> np.ndarray:
    """Pixelwise maximum of ``fn(G_σ * img, σ)`` over ``sigmas`` (Gaussian smoothing, reflected
    at the image's border).

    Smoothing and ``fn`` (3x3 derivatives only) are evaluated on horizontal strips, each cut
    out with the margin its kernels reach: the result is the same as on the whole image, but
    each strip's temporaries stay in the CPU cache (2 to 3 times faster than whole-image
    passes, which are memory bound). With ``need``, each strip is evaluated only between its
    first and last needed column; elsewhere the result is 0. ``img`` may be the image
    decimated ``k`` times and ``need`` the full-resolution mask: the strip then covers the
    grid pixels that a bilinear upsampling to the needed pixels reads.
    """
    h, w = img.shape[:2]
    rows = max(8, _STRIP_PX // max(w, 1))
    out = np.empty((h, w), np.float32) if need is None else np.zeros((h, w), np.float32)
    m = 0 if k == 1 else 1  # grid pixels of margin for the upsampling
    for y in range(0, h, rows):
        n = min(rows, h - y)
        x0, x1 = 0, w
        if need is not None:
            fy0, fy1 = max(0, (y - m) * k), (y + n + m) * k
            fx, _, fw, _ = cv2.boundingRect(need[fy0:fy1].view(np.uint8))
            if fw == 0:
                continue
            x0, x1 = max(0, fx // k - m), min(w, -(-(fx + fw) // k) + m)
        # fn needs one pixel around the strip, the smoothing its kernel's reach around that
        ya, yb, xa, xb = max(0, y - 1), min(h, y + n + 1), max(0, x0 - 1), min(w, x1 + 1)
        best: np.ndarray | None = None
        for s in sigmas:
            ks = int(2 * math.ceil(3 * s) + 1)
            r = ks // 2
            a, b, c, d = max(0, ya - r), min(h, yb + r), max(0, xa - r), min(w, xb + r)
            g = cv2.GaussianBlur(img[a:b, c:d], (ks, ks), s, borderType=cv2.BORDER_REFLECT)
            lvl = fn(g, (ya - a, yb - a, xa - c, xb - c), s)[y - ya : y - ya + n, x0 - xa : x1 - xa]
            best = lvl if best is None else cv2.max(best, lvl)
        assert best is not None
        out[y : y + n, x0:x1] = best
    return out


def _shrink(img: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def _grow(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == shape:
        return img
    return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _level_sigma(sigma_px: float, k: int) -> float:
    """σ to apply on a grid decimated ``k`` times by area averaging, for a total of ``sigma_px``.

    A k-pixel box has variance (k² − 1) / 12 full-resolution px², i.e. (1 − 1/k²) / 12 grid px².
    """
    v = (sigma_px / k) ** 2 - (1.0 - 1.0 / (k * k)) / 12.0
    return max(0.5, math.sqrt(max(v, 0.25)))


def _level_for(sigma_px: float, min_sigma: float = 1.6) -> int:
    """Power-of-two decimation that keeps σ at least ``min_sigma`` pixels."""
    k = 1
    while sigma_px / (2 * k) >= min_sigma:
        k *= 2
    return k


def _multiscale_max(
    fn: LevelFn, img: np.ndarray, levels: list[tuple[int, float]], need: Mask | None = None
) -> np.ndarray:
    """Max over ``levels`` of ``fn`` at full resolution (exact where ``need``, if given; values
    below 0 are of no interest); ``levels`` = [(k, σ_k), ...] evaluates ``fn`` at σ_k on ``img``
    decimated ``k`` times (a power of two), bilinearly upsampled.

    Each decimated grid is made from the next finer one (area averages of area averages).
    """
    shape = img.shape[:2]
    fine = [s for k, s in levels if k == 1]
    best = _max_levels(fn, img, fine, need) if fine else np.zeros(shape, np.float32)
    cur, prev = img, 1
    for k in sorted({k for k, _ in levels if k > 1}):
        cur = _shrink(cur, k // prev)
        prev = k
        lvl = _max_levels(fn, cur, [s for kk, s in levels if kk == k], need, k)
        kernels.active().max_upsampled(best, lvl)
    return best


def _valley_response(filled_l: np.ndarray, mm_per_px: float, need: Mask | None = None) -> np.ndarray:
    """Multi-scale valley strength of L*.

    The maximum over scales of the scale-normalised σ²·λ1 minus :data:`WRINKLE_EDGE_PENALTY`
    times σ·|∇L*| (zero at a valley's centre, large beside a step edge such as a spot's
    border), where the Hessian is line-like (λ2 at most :data:`WRINKLE_ANISOTROPY` of λ1).
    """
    lo, hi = WRINKLE_WIDTH_MM
    # a Gaussian valley of FWHM w answers best at σ ≈ w / 2.355
    sigmas_mm = np.geomspace(lo / 2.355, hi / 2.355, WRINKLE_SCALES)
    levels = []
    for s_mm in sigmas_mm:
        s_px = float(s_mm) / mm_per_px
        k = _level_for(s_px)
        levels.append((k, _level_sigma(s_px, k)))
    return _multiscale_max(_valley_level, filled_l, levels, need)


def _coords(mask: np.ndarray) -> tuple[Index, Index]:
    """Rows and columns of the non-zero pixels of a 2-D bool mask, in raster order (as
    ``np.nonzero``, from the flat indices: two to three times faster on a large mask)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _components_with_boxes(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a sparse bool mask: (count, labels, boxes).

    ``boxes`` is (count, 4) with the columns ``x, y, width, height`` (as OpenCV's statistics,
    which cost five times the labelling itself on a mask with many small components: the
    boxes are taken from the pixels' coordinates instead).
    """
    n, lab = cv2.connectedComponentsWithAlgorithm(mask.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA)
    boxes = np.zeros((n, 4), np.int64)
    ys, xs = _coords(mask)
    if ys.size:
        pl = lab[ys, xs]
        order = np.argsort(pl, kind="stable")  # by label, raster order within a label
        pl, ys, xs = pl[order], ys[order], xs[order]
        start = np.flatnonzero(np.r_[True, pl[1:] != pl[:-1]])
        last = np.r_[start[1:], pl.size] - 1
        x0 = np.minimum.reduceat(xs, start)
        boxes[pl[start], 0] = x0
        boxes[pl[start], 1] = ys[start]
        boxes[pl[start], 2] = np.maximum.reduceat(xs, start) - x0 + 1
        boxes[pl[start], 3] = ys[last] - ys[start] + 1
    return n, lab, boxes


def _hysteresis(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Pixels of ``low`` 8-connected to a pixel of ``high`` (a subset of ``low``), worked on
    through the flat indices of the (sparse) masks."""
    n, lab = cv2.connectedComponentsWithAlgorithm(low.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA)
    flat = lab.ravel()
    keep = np.zeros(n, bool)
    keep[flat[np.flatnonzero(high)]] = True
    keep[0] = False
    idx = np.flatnonzero(low)
    out = np.zeros(low.shape, bool)
    out.ravel()[idx[keep[flat[idx]]]] = True
    return out


_SQ2 = math.sqrt(2.0)


def _skeleton_lengths(
    skel: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel length weights of a 1-px skeleton.

    Returns ``(ys, xs, weight_px, is_endpoint)`` for every skeleton pixel. Adjacent 4-neighbours
    contribute 1, diagonal neighbours √2 unless already joined through a shared 4-neighbour; each
    link is split between its two pixels. Endpoints get an extra half pixel.
    """
    p = np.pad(skel, 1)
    ys, xs = np.nonzero(p)
    if ys.size == 0:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0, np.float64), np.zeros(0, bool)
    n4 = np.zeros(ys.size, np.float64)
    nd = np.zeros(ys.size, np.float64)
    nbrs = np.zeros(ys.size, np.int32)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        v = p[ys + dy, xs + dx]
        n4 += v
        nbrs += v
    for dy, dx in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        v = p[ys + dy, xs + dx]
        nbrs += v
        shared = p[ys + dy, xs] | p[ys, xs + dx]
        nd += v & ~shared
    weight = 0.5 * n4 + 0.5 * _SQ2 * nd
    endpoint = nbrs <= 1
    weight = weight + 0.5 * endpoint
    return ys - 1, xs - 1, weight, endpoint


def _lines_of_pieces(
    ys: Index,
    xs: Index,
    end: Mask,
    piece: NDArray[np.int64],
    n: int,
    *,
    join_px: float,
    tangent_px: float,
) -> NDArray[np.int64]:
    """The line of every skeleton piece: pieces whose ends face each other across a short break
    are one line.

    Noise and texture make a faint line's valley response dip below the hysteresis' low
    threshold here and there; each dip leaves two skeleton pieces whose ends face each other
    across it. The morphological closing before the thinning does not bridge such a break
    between thin valleys (a disc beside the break touches neither end), so the ends are joined
    here: two ends of different pieces at most ``join_px`` apart, each pointing at the other
    (the line from one end to the other within 45° of each end's outward direction), link
    their pieces, and a line is a set of linked pieces.

    Parameters
    ----------
    ys, xs : ndarray
        Coordinates of the skeleton pixels.
    end : ndarray
        Which of them are endpoints.
    piece : ndarray
        The piece (1 to ``n`` − 1) of each pixel.
    n : int
        Number of piece labels, 0 (no piece) included.
    join_px : float
        Largest distance between two joined ends, in pixels.
    tangent_px : float
        An end's outward direction is from the mean of its piece's pixels within this distance
        to the end.

    Returns
    -------
    ndarray
        (n,) int64: the line (1, 2, …; 0 for label 0) of each piece label.
    """
    line = np.arange(n, dtype=np.int64)
    ends = np.flatnonzero(end)
    if ends.size < 2:
        return line
    ep = np.column_stack([ys[ends], xs[ends]]).astype(np.float64)
    pairs = scipy.spatial.cKDTree(ep).query_pairs(join_px, output_type="ndarray")
    pairs = pairs[piece[ends[pairs[:, 0]]] != piece[ends[pairs[:, 1]]]]
    if pairs.size == 0:
        return line
    # outward direction of the ends that may join: from their piece's nearby pixels to the end
    cand = np.unique(pairs)
    pix = np.column_stack([ys, xs]).astype(np.float64)
    near = scipy.spatial.cKDTree(pix).query_ball_point(ep[cand], tangent_px)
    out = np.zeros((ends.size, 2))
    for k, idx in zip(cand, near, strict=True):
        idx = np.asarray(idx, np.int64)
        idx = idx[piece[idx] == piece[ends[k]]]
        d = ep[k] - pix[idx].mean(axis=0)
        norm = math.hypot(d[0], d[1])
        if norm > 0:
            out[k] = d / norm
    step = ep[pairs[:, 1]] - ep[pairs[:, 0]]
    step /= np.maximum(np.hypot(step[:, 0], step[:, 1]), 1e-9)[:, None]
    cos45 = math.sqrt(0.5)
    facing = (np.einsum("ij,ij->i", out[pairs[:, 0]], step) >= cos45) & (
        np.einsum("ij,ij->i", out[pairs[:, 1]], -step) >= cos45
    )
    a, b = piece[ends[pairs[facing, 0]]], piece[ends[pairs[facing, 1]]]
    graph = scipy.sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
    # number the lines 1, 2, … in the order of their first piece; label 0 stays 0
    _, first = np.unique(comp[1:], return_index=True)
    rank = np.zeros(int(comp.max()) + 1, np.int64)
    rank[comp[1:][np.sort(first)]] = np.arange(1, first.size + 1)
    line = rank[comp]
    line[0] = 0
    return line


def _component_moments(
    ys: np.ndarray, xs: np.ndarray, lab: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Major and minor axis variances of every component (vectorised second moments) from
    the coordinates and labels of its pixels."""
    cnt = np.bincount(lab, minlength=n).astype(np.float64)
    cnt[cnt == 0] = 1
    xf = xs.astype(np.float64)
    yf = ys.astype(np.float64)
    mx = np.bincount(lab, xf, n) / cnt
    my = np.bincount(lab, yf, n) / cnt
    dx = xf - mx[lab]
    dy = yf - my[lab]
    cxx = np.bincount(lab, dx * dx, n) / cnt + 1 / 12
    cyy = np.bincount(lab, dy * dy, n) / cnt + 1 / 12
    cxy = np.bincount(lab, dx * dy, n) / cnt
    ht = (cxx + cyy) / 2
    disc = np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    return ht + disc, np.maximum(ht - disc, 1e-6)


#: Regions with fewer pixels get an exact median.
_MEDIAN_EXACT_BELOW = 4096


def _median(values: np.ndarray) -> float:
    """Median to 0.005 L*a*b* units via a histogram (10x faster than a partition on 10 MP)."""
    if values.size < _MEDIAN_EXACT_BELOW or float(values.max()) - float(values.min()) > 1000.0:
        return float(np.median(values))
    q = np.rint(values * 100.0).astype(np.int32)
    lo = int(q.min())
    counts = np.bincount(q - lo)
    c = np.cumsum(counts)
    n = values.size
    i1 = int(np.searchsorted(c, (n + 1) // 2))  # the ((n+1)//2)-th smallest, 1-based
    i2 = int(np.searchsorted(c, n // 2 + 1))
    return (i1 + i2 + 2 * lo) / 200.0


# ============================================================================================
# main entry point
# ============================================================================================


def _empty_metrics() -> dict[str, float | int | None]:
    return dict.fromkeys(METRIC_KEYS)


def measure_regions(
    lab: np.ndarray,
    masks: dict[str, np.ndarray],
    *,
    mm_per_px: float | None,
) -> dict[str, RegionMeasurement]:
    """Measure every spec metric in every region of a CIE L*a*b* image.

    Parameters
    ----------
    lab : ndarray
        (H, W, 3) float32 CIE L*a*b* (D65).
    masks : dict of str to ndarray
        Region name to (H, W) bool mask of skin pixels, exclusions already applied.
    mm_per_px : float or None
        Image scale; ``None`` when unknown (every scale-dependent metric is then ``None``).

    Returns
    -------
    dict of str to RegionMeasurement
        One entry per region, in the order of ``masks``.

    Notes
    -----
    Shared work (backgrounds, valley response, connected components) is computed once on the
    bounding box of the union of the masks. Detection masks in the result are full image size.
    """
    lab = np.asarray(lab)
    if lab.ndim != 3 or lab.shape[2] != 3:
        raise ValueError(f"lab must be (H, W, 3), got {lab.shape}")
    h, w = lab.shape[:2]
    if mm_per_px is not None and not (np.isfinite(mm_per_px) and mm_per_px > 0):
        mm_per_px = None

    clean: dict[str, np.ndarray] = {}
    for name, m in masks.items():
        m = np.ascontiguousarray(m, dtype=bool)
        if m.shape != (h, w):
            raise ValueError(f"mask {name!r} has shape {m.shape}, expected {(h, w)}")
        clean[name] = m

    union = np.zeros((h, w), np.uint8)
    rects = {}
    for name, m in clean.items():
        cv2.bitwise_or(union, m.view(np.uint8), dst=union)
        rects[name] = cv2.boundingRect(m.view(np.uint8))  # while the mask is in the cache
    results: dict[str, RegionMeasurement] = {}
    umask = None
    ux, uy, uw, uh = cv2.boundingRect(union)
    y0, y1, x0, x1 = uy, uy + uh, ux, ux + uw
    all_finite = True
    if uw > 0:
        planes = _lab_planes(lab[y0:y1, x0:x1])
        umask = np.ascontiguousarray(union[y0:y1, x0:x1]).view(bool)  # the kernels walk its rows
        # NaN or inf pixels are not skin (any of them makes the sum non-finite)
        all_finite = all(np.isfinite(cv2.sumElems(p)[0]) for p in planes)
        if not all_finite:
            finite = np.isfinite(planes[0]) & np.isfinite(planes[1]) & np.isfinite(planes[2])
            planes = tuple(np.where(finite, p, np.float32(0.0)) for p in planes)  # type: ignore[assignment]
            umask = umask & finite
    if umask is None or not umask.any():
        for name in clean:
            results[name] = _empty_result(0, mm_per_px, "region has no skin pixels", (h, w))
        return results

    shared = _SharedMaps(planes, umask, mm_per_px, (y0, x0))
    c0 = time.process_time()

    parts: dict[str, tuple[Mask, Box, int]] = {}
    for name, m in clean.items():
        bx, by, bw, bh = rects[name]
        box = (by - y0, by + bh - y0, bx - x0, bx + bw - x0)
        rm = m[by : by + bh, bx : bx + bw]
        if not all_finite:
            rm = rm & umask[box[0] : box[1], box[2] : box[3]]
        npx = int(np.count_nonzero(rm))
        if npx < MIN_REGION_PX:
            reason = (
                "region has no skin pixels" if npx == 0 else f"region too small ({npx} px < {MIN_REGION_PX})"
            )
            results[name] = _empty_result(npx, mm_per_px, reason, (h, w))
            continue
        parts[name] = (rm, box, npx)
    for name, s in _region_sums(shared, parts).items():
        rm, box, _ = parts[name]
        results[name] = shared.region(rm, box, (h, w), s)
    results = {name: results[name] for name in clean}
    shared.cpu_timings["regions"] = time.process_time() - c0
    LAST_CPU_TIMINGS.clear()
    LAST_CPU_TIMINGS.update(shared.cpu_timings)
    return results


def _lab_planes(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L*, a* and b* of an (h, w, 3) crop as float32 planes with contiguous rows: views of a
    planar image (:func:`exoderm.skinlab.color.srgb_to_lab` of an 8-bit photo), else copies."""
    L, a, b = (
        p if p.dtype == np.float32 and p.strides[1] == p.itemsize else np.ascontiguousarray(p, np.float32)
        for p in (crop[..., 0], crop[..., 1], crop[..., 2])
    )
    return L, a, b


def _empty_result(
    npx: int, mm_per_px: float | None, reason: str, shape: tuple[int, int]
) -> RegionMeasurement:
    area = npx * mm_per_px**2 if mm_per_px is not None else None
    z = np.zeros(shape, bool)
    return RegionMeasurement(
        area_px=npx,
        area_mm2=area,
        metrics=_empty_metrics(),
        notes=[f"all metrics: {reason}"],
        detections={"spots": z, "wrinkles": z.copy(), "red": z.copy()},
    )


def _region_sums(shared: _SharedMaps, parts: dict[str, tuple[Mask, Box, int]]) -> dict[str, _Sums]:
    """The :class:`_Sums` of every region of ``parts`` (name to mask inside its box, box, pixel
    count): the regions that do not overlap in one pass over a label image, the others one pass
    each, and the exact disjoint unions of others (``face``) added up from theirs."""
    unions = _disjoint_unions(parts)
    layer = np.zeros(shared.umask.shape, np.uint8)
    on_layer: list[str] = []
    alone: list[str] = []
    for name, (rm, (a0, a1, b0, b1), _) in parts.items():
        if name in unions:
            continue
        sub = layer[a0:a1, b0:b1]
        taken = cv2.countNonZero(cv2.bitwise_and(sub, sub, mask=rm.view(np.uint8)))
        if taken or len(on_layer) == 255:
            alone.append(name)
        else:
            on_layer.append(name)
            np.copyto(sub, len(on_layer), where=rm)
    sums: dict[str, _Sums] = {}
    if on_layer:
        regions = [(parts[k][0], parts[k][1]) for k in on_layer]
        sums.update(zip(on_layer, shared.sums(layer, (0, 0), regions), strict=True))
    # the unions from the smallest, so that every member's sums are known
    for name in [*alone, *sorted(unions, key=lambda k: parts[k][2])]:
        rm, box, _ = parts[name]
        members = [sums[k] for k in unions.get(name, [])]
        if members and all(s.hists is not None for s in members):
            sums[name] = functools.reduce(operator.add, members)
        else:
            (sums[name],) = shared.sums(rm.view(np.uint8), (box[0], box[2]), [(rm, box)])
    return sums


def _disjoint_unions(parts: dict[str, tuple[Mask, Box, int]]) -> dict[str, list[str]]:
    """Regions that are exactly the disjoint union of other regions (``face`` of the nine face
    regions), with those members: their additive statistics then need no pass of their own.

    ``parts`` maps a name to (mask inside box, box (y0, y1, x0, x1), pixel count).
    """
    out: dict[str, list[str]] = {}
    for name, (rm, (y0, y1, x0, x1), npx) in parts.items():
        members = [
            k
            for k, (_, (a0, a1, b0, b1), n) in parts.items()
            if k != name and n < npx and a0 >= y0 and a1 <= y1 and b0 >= x0 and b1 <= x1
        ]
        if len(members) < 2 or sum(parts[k][2] for k in members) != npx:
            continue
        canvas = np.zeros(rm.shape, np.uint8)
        for k in members:
            m, (a0, a1, b0, b1), _ = parts[k]
            canvas[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] |= m.view(np.uint8)
        # npx member pixels in all cover npx pixels, all inside the region: no overlap, no gap
        covered = cv2.countNonZero(canvas)
        if covered == npx and cv2.countNonZero(cv2.bitwise_and(canvas, rm.view(np.uint8))) == npx:
            out[name] = members
    return out


Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
Box = tuple[int, int, int, int]
"""(y0, y1, x0, x1) of the union crop."""


class _SharedMaps:
    """Work shared by all regions, on the union bounding box."""

    texture: np.ndarray | None
    texture_note: str | None
    wrinkle_note: str | None
    wrinkle_ok: bool
    pore_note: str | None
    pore_yx: tuple[Index, Index] | None
    skel: Mask
    wrinkle_area: Mask
    sk_y: Index
    sk_x: Index
    sk_w: NDArray[np.float64]
    sk_end: Mask
    sk_lab: NDArray[np.int64]
    sk_valid: Mask
    sk_count: NDArray[np.int64]
    sk_endcorr: NDArray[np.float64]
    spot_lab: np.ndarray
    spot_ok: Mask
    spot_n: int
    spot_total: np.ndarray
    sp_y: Index
    sp_x: Index
    sp_lab: NDArray[np.int32]

    def __init__(
        self,
        planes: tuple[np.ndarray, np.ndarray, np.ndarray],
        umask: Mask,
        mm_per_px: float | None,
        off: tuple[int, int] = (0, 0),
    ) -> None:
        self.off = off
        #: CPU seconds per stage (for benchmarks)
        self.cpu_timings: dict[str, float] = {}
        t = [time.process_time()]

        def lap(name: str) -> None:
            now = time.process_time()
            self.cpu_timings[name] = now - t[0]
            t[0] = now

        self.umask = umask
        self.mpp = mm_per_px
        self.L, self.a, self.b = planes
        # the maps of metrics that need a scale (None without one)
        #: ΔL*(10 mm) in percent of the background's L* + 16 (what ``tone_sd_L`` reads)
        self.tone_rel: np.ndarray | None = None
        self.red: Mask | None = None
        self.da10_pos: np.ndarray | None = None
        self.texture = None
        if mm_per_px is None:
            return
        mpp = mm_per_px

        # --- background at 10 mm: tone (no exclusion) and redness (red excluded) ------------
        uf = umask.astype(np.float32)
        Lw = cv2.multiply(self.L, uf)
        aw = cv2.multiply(self.a, uf)
        stack = cv2.merge([uf, Lw, aw, uf])  # 4 channels: fastest area resampling
        shape = umask.shape
        s10 = TONE_SIGMA_MM / mpp
        # one pass over the image: the 10 mm grid's cells from the 5 mm grid's
        cells5 = _background_cells(stack, SPOT_SIGMA_MM / mpp)
        cells10 = _background_cells(cells5, s10, shape)
        (bg10,) = _robust_background(cells10, [1], shape, s10)
        # every detection threshold scales with the local L* + 16 (see REFERENCE_LEVEL): on
        # the coarse grids, the 10 mm background's, also for the exclusions
        to_level10 = (np.maximum(bg10, np.float32(LEVEL_FLOOR)) + np.float32(L_OFFSET)) / np.float32(
            REFERENCE_LEVEL
        )
        to_level5 = cv2.resize(to_level10, (cells5.shape[1], cells5.shape[0]), interpolation=cv2.INTER_LINEAR)
        assert RED_SIGMA_MM == TONE_SIGMA_MM  # same grid
        (bg10a,) = _robust_background(
            cells10, [2], shape, RED_SIGMA_MM / mpp, exclude=lambda r: r >= 0.5 * RED_DA * to_level10
        )
        # --- background at 5 mm with dark / red candidates excluded ---------------------------
        bg5_l, bg5_a = _robust_background(
            cells5,
            [1, 2],
            shape,
            SPOT_SIGMA_MM / mpp,
            exclude=lambda r: (
                (r[..., 0] <= 0.4 * SPOT_DL * to_level5) | (r[..., 1] >= 0.5 * RED_DA * to_level5)
            ),
        )
        # Outside the skin mask, continue the skin's nearby values (a normalised Gaussian of
        # σ = FILL_SIGMA_MM over the mask), so that neither a bright nor a dark fill makes a
        # valley or an edge at the mask's border; far from skin, the 5 mm background.
        # The ratio is formed on the smoothing's decimated grid.
        sf = FILL_SIGMA_MM / mpp
        num = _smooth_decimated(Lw, sf)
        den = _smooth_decimated(uf, sf)
        floor = np.float32(0.02)  # weight below which no skin is near: the 5 mm background
        fill = cv2.divide(num, np.maximum(den, floor))
        far = (den <= floor).view(np.uint8)
        # every grid upsampled and turned into the maps the metrics read, in one pass
        maps = kernels.active().background_maps(
            self.L, self.a, umask.view(np.uint8), (bg10, bg10a, bg5_l, bg5_a, fill), far,
            _percent_of_level(RED_DA), _percent_of_level(SPOT_DL), _percent_of_level(SPOT_GROUP_DL),
            _percent_of_level(SPOT_DA_MAX), LEVEL_FLOOR, L_OFFSET,
        )  # fmt: skip
        self.tone_rel, self.da10_pos, self.red, cand, group, filled, per_level = maps
        # L* + 16 is proportional to the cube root of luminance, so a multiplicative exposure
        # change scales every L* difference as it scales the local L* + 16: tone and texture
        # are measured relative to it (in percent of the 10 mm background's L* + 16, floored
        # only near black) and cancel exposure. per_level = 100 / (local L* + 16); times
        # REFERENCE_LEVEL / 100 it brings the valley and pore responses, in L* units, to the
        # reference level, where their thresholds hold.
        to_reference = REFERENCE_LEVEL / 100.0
        lap("backgrounds")

        # --- texture: band-pass between 0.1 mm and 1 mm ---------------------------------------
        s_lo = TEXTURE_BAND_MM[0] / mpp
        s_hi = TEXTURE_BAND_MM[1] / mpp
        if s_lo < 0.5:
            self.texture = None
            self.texture_note = f"texture_rms: scale {mpp:.3f} mm/px too coarse for σ = 0.1 mm"
        else:
            fine = _smooth(filled, s_lo)
            kernels.active().subtract_upsampled(fine, _smooth_decimated(filled, s_hi))
            self.texture = cv2.multiply(fine, per_level, dst=fine)
            self.texture_note = None
        lap("texture")

        # --- wrinkles ---------------------------------------------------------------------------
        min_sigma_px = WRINKLE_WIDTH_MM[0] / 2.355 / mpp
        self.wrinkle_note = None
        if min_sigma_px < 0.5:
            self.wrinkle_note = f"wrinkles: scale {mpp:.3f} mm/px too coarse for 0.2 mm wide lines"
            self.wrinkle_ok = False
            valley = np.zeros_like(umask)
        else:
            self.wrinkle_ok = True
            # Lines are sought away from the skin mask's own border (hair line, eyes, lips,
            # face outline): the filled-in background there makes border shadows look like
            # valleys. A real line crossing the border loses WRINKLE_BORDER_MM at that end.
            rb = max(1, round(WRINKLE_BORDER_MM / mpp))
            inner = cv2.erode(
                umask.view(np.uint8),
                cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rb + 1, 2 * rb + 1)),
                borderType=cv2.BORDER_CONSTANT,
                borderValue=0,
            ).view(bool)
            resp = _valley_response(filled, mpp, inner)  # only needed inside `inner`
            cv2.multiply(resp, per_level, dst=resp, scale=to_reference)
            valley = _hysteresis((resp >= WRINKLE_LOW) & inner, (resp >= WRINKLE_HIGH) & inner)
            # bridge short breaks along a line (noise dips below the low threshold)
            rg = max(1, round(WRINKLE_GAP_MM / 2 / mpp))
            valley = (
                cv2.morphologyEx(
                    valley.view(np.uint8),
                    cv2.MORPH_CLOSE,
                    cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rg + 1, 2 * rg + 1)),
                ).view(bool)
                & inner
            )
        lap("valleys")
        self._wrinkles(valley)
        lap("skeleton")

        # --- spots ------------------------------------------------------------------------------
        self._spots(cand, group, valley)
        self._drop_wrinkles_in_spots()
        lap("spots")

        # --- pores ------------------------------------------------------------------------------
        self.pore_note = None
        if mpp > PORE_MAX_MM_PER_PX:
            self.pore_note = f"pores: scale {mpp:.3f} mm/px coarser than {PORE_MAX_MM_PER_PX} mm/px"
            self.pore_yx = None
        else:
            self.pore_yx = self._pores(filled, per_level, to_reference)
        lap("pores")

    # ------------------------------------------------------------------------------------------
    def _wrinkles(self, valley: np.ndarray) -> None:
        mpp = self.mpp
        assert mpp is not None
        self.skel = np.zeros_like(valley)
        self.sk_y = self.sk_x = np.zeros(0, np.int64)
        self.sk_w = np.zeros(0)
        self.sk_end = np.zeros(0, bool)
        self.sk_lab = np.zeros(0, np.int64)
        self.sk_valid = np.zeros(1, bool)
        self.sk_count = np.zeros(1, np.int64)
        self.sk_endcorr = np.zeros(1)
        self.wrinkle_area = np.zeros_like(valley)
        _, vlab, vst = _components_with_boxes(valley)
        # thin only valley pieces big enough to hold a 3 mm skeleton, each in its own box
        diag = np.hypot(vst[:, cv2.CC_STAT_WIDTH], vst[:, cv2.CC_STAT_HEIGHT]) * mpp
        cand = np.flatnonzero(diag >= 0.5 * WRINKLE_MIN_LENGTH_MM)
        cand = cand[cand > 0]
        if cand.size == 0:
            return
        # Each piece is thinned, labelled and measured in its own (padded) box: pieces are
        # separate 8-connected components, so their skeletons never touch each other.
        ys_l, xs_l, wt_l, end_l, lab_l, own_l = [], [], [], [], [], []
        n = 1
        for i in cand:
            x, y, ww, hh = (int(v) for v in vst[i, :4])
            piece = np.pad((vlab[y : y + hh, x : x + ww] == i).view(np.uint8) * 255, 1)
            thin = cv2.ximgproc.thinning(piece, thinningType=cv2.ximgproc.THINNING_GUOHALL)
            m, plab = cv2.connectedComponents(thin, connectivity=8)
            if m <= 1:
                continue
            py, px, pw, pe = _skeleton_lengths(thin[1:-1, 1:-1] > 0)
            ys_l.append(py + y)
            xs_l.append(px + x)
            wt_l.append(pw)
            end_l.append(pe)
            lab_l.append(plab[py + 1, px + 1].astype(np.int64) + (n - 1))
            own_l.append(np.full(m - 1, i, np.int64))
            n += m - 1
        if n == 1:
            return
        ys, xs = np.concatenate(ys_l), np.concatenate(xs_l)
        wt, end = np.concatenate(wt_l), np.concatenate(end_l)
        piece_lab = np.concatenate(lab_l)
        sk_owner = np.concatenate([np.zeros(1, np.int64), *own_l])
        # one line's pieces (see _lines_of_pieces): from here on labels are lines
        line_of = _lines_of_pieces(
            ys, xs, end, piece_lab, n, join_px=WRINKLE_JOIN_MM / mpp, tangent_px=WRINKLE_TANGENT_MM / mpp
        )
        sl = line_of[piece_lab]
        n = int(line_of.max()) + 1
        length_mm = np.bincount(sl, wt, n) * mpp
        n_end = np.bincount(sl, end.astype(np.float64), n)
        # a wrinkle is an open line (closed rings are lesion borders, not lines)
        valid = (length_mm >= WRINKLE_MIN_LENGTH_MM) & (n_end >= 1)
        valid[0] = False
        skel = np.zeros_like(valley)
        v = valid[sl]
        skel[ys[v], xs[v]] = True
        self.skel = skel
        self.sk_y, self.sk_x, self.sk_w, self.sk_end, self.sk_lab = ys, xs, wt, end, sl
        self.sk_valid = valid
        self.sk_count = np.bincount(sl, minlength=n)
        self.sk_endcorr = np.zeros(n)
        # valley pixels belonging to counted wrinkles (used to veto spot candidates)
        area = np.zeros_like(valley)
        for j in np.unique(sk_owner[valid[line_of]]):
            x, y, ww, hh = (int(v) for v in vst[j, :4])
            area[y : y + hh, x : x + ww] |= vlab[y : y + hh, x : x + ww] == j
        self.wrinkle_area = area

    def _drop_wrinkles_in_spots(self) -> None:
        """Lines (joined skeleton pieces) lying mostly inside counted spots are lesion borders."""
        if not self.sk_valid.any():
            return
        in_spot = self.spot_ok[self.spot_lab[self.sk_y, self.sk_x]]
        nsk = len(self.sk_valid)
        frac = np.bincount(self.sk_lab, in_spot.astype(np.float64), nsk) / np.maximum(
            np.bincount(self.sk_lab, minlength=nsk), 1
        )
        self.sk_valid = self.sk_valid & (frac < 0.5)
        keep = np.zeros(self.skel.shape, bool)
        v = self.sk_valid[self.sk_lab]
        keep[self.sk_y[v], self.sk_x[v]] = True
        self.skel = keep

    def _spots(self, cand: np.ndarray, group: np.ndarray, valley: np.ndarray) -> None:
        mpp = self.mpp
        assert mpp is not None
        # a spot's extent: its fragments and the group pixels within half SPOT_GAP_MM of them,
        # which join fragments up to SPOT_GAP_MM apart
        r = max(1, round(SPOT_GAP_MM / 2 / mpp))
        near = cv2.dilate(
            cand.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        )
        joined = cv2.bitwise_or(cand.view(np.uint8), cv2.bitwise_and(near, group.view(np.uint8)))
        n, lab32 = cv2.connectedComponentsWithAlgorithm(joined, 8, cv2.CV_32S, cv2.CCL_GRANA)
        lab = np.asarray(lab32, np.int32)  # (no copy)
        flat = lab.ravel()
        # areas from the flat indices (labelling without statistics is faster): a spot's
        # extent and its pixels at the spot threshold or darker
        extent = np.bincount(flat[np.flatnonzero(joined.view(bool))], minlength=n)  # bool: 20x faster
        idx = np.flatnonzero(cand)
        pl = flat[idx]
        area = np.bincount(pl, minlength=n)
        area_mm2 = area * mpp * mpp
        ok = (
            (area_mm2 >= SPOT_AREA_MM2[0]) & (area_mm2 <= SPOT_AREA_MM2[1]) & (area >= SPOT_MIN_FILL * extent)
        )
        ok[0] = False
        # pixels of the components of spot size (raster order), as coordinates
        sel = ok[pl]
        pl = pl[sel]
        ys, xs = np.divmod(idx[sel], cand.shape[1])
        if pl.size:
            major, minor = _component_moments(ys, xs, pl, n)
            elong = np.sqrt(major / minor)
            length_mm = np.sqrt(12 * major) * mpp
            width_mm = area * mpp * mpp / np.maximum(length_mm, 1e-9)
            # elongated: a line piece, not a round-ish spot
            line_like = (elong >= SPOT_MAX_ELONGATION) & (width_mm <= WRINKLE_WIDTH_MM[1])
            sv = self.sk_valid[self.sk_lab]
            if sv.any():
                # carrying a counted wrinkle along most of its length
                sk_len = np.bincount(lab[self.sk_y[sv], self.sk_x[sv]], minlength=n) * mpp
                line_like |= (sk_len >= 0.5 * length_mm) & (elong >= 2.0)
                # a fragment of a wrinkle (e.g. its deepest stretch) is part of the line
                r = max(1, round(0.1 / mpp))
                near = cv2.dilate(
                    self.wrinkle_area.view(np.uint8),
                    cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)),
                ).view(bool)
                on_w = np.bincount(pl[near[ys, xs]], minlength=n)
                line_like |= 4 * on_w >= area
            ok &= ~line_like
            keep = ok[pl]
            ys, xs, pl = ys[keep], xs[keep], pl[keep]
        self.spot_lab = lab
        self.spot_ok = ok
        # coordinates of the pixels of counted spots
        self.sp_y, self.sp_x, self.sp_lab = ys, xs, pl
        self.spot_n = n
        self.spot_total = area

    def _pores(
        self, filled: np.ndarray, per_level: np.ndarray, to_reference: float
    ) -> tuple[np.ndarray, np.ndarray]:
        mpp = self.mpp
        assert mpp is not None
        lo = PORE_DIAMETER_MM[0]
        # a dark Gaussian dot of FWHM d answers best at σ ≈ d / 2.355; scales for d = 0.1, 0.2
        # and 0.4 mm cover 0.1 to 0.5 mm; the middle one is the finest wrinkle scale (shared)
        sigmas = np.array([lo, 2 * lo, 4 * lo]) / 2.355 / mpp
        levels = []
        for s in sigmas:
            k = _level_for(float(s), 1.2)
            levels.append((k, max(0.5, float(s) / k)))
        r = max(1, round(0.5 * lo / mpp))
        kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        # peaks count on skin only: needed there and within the peak test's reach
        need = cv2.dilate(self.umask.view(np.uint8), kern).view(bool)
        best = _multiscale_max(_blob_level, filled, levels, need)
        cv2.multiply(best, per_level, dst=best, scale=to_reference)  # PORE_THRESHOLD holds at REFERENCE_LEVEL
        peak = (best >= PORE_THRESHOLD) & (best >= cv2.dilate(best, kern))
        ys, xs = _coords(peak)
        # skin, not inside counted spots or wrinkles
        keep = self.umask[ys, xs] & ~self.spot_ok[self.spot_lab[ys, xs]] & ~self.wrinkle_area[ys, xs]
        return ys[keep], xs[keep]

    # ------------------------------------------------------------------------------------------
    @functools.cached_property
    def _hist_range(self) -> tuple[tuple[int, int, int], int] | None:
        """Per channel the offset ``lo`` of the quantised values q = rint(100·v) − lo (the
        smallest on the skin), and the number of bins that holds every channel's q; None when
        a channel's values span more than 16 bits (rint of the float32 product is monotonic:
        the minimum's is the minimum)."""
        u8 = self.umask.view(np.uint8)
        offsets, bins = [], 1
        for ch in (self.L, self.a, self.b):
            lo_f, hi_f, _, _ = cv2.minMaxLoc(ch, mask=u8)
            lo, hi = (int(np.rint(np.float32(100.0) * np.float32(v))) for v in (lo_f, hi_f))
            if hi - lo > 65535:
                return None
            offsets.append(lo)
            bins = max(bins, hi - lo + 1)
        return (offsets[0], offsets[1], offsets[2]), bins

    def sums(
        self, labels: np.ndarray, origin: tuple[int, int], regions: list[tuple[Mask, Box]]
    ) -> list[_Sums]:
        """The :class:`_Sums` of the regions numbered 1, 2, … in ``labels`` (uint8, placed at
        ``origin`` = (y, x) of the crop), in one pass of :func:`_kernels.region_sums`.

        ``regions`` holds each one's mask inside its box (y0, y1, x0, x1) of the crop, for the
        exact medians of small regions. Medians come from histograms of the channels quantised
        to 0.01 units; small regions, or values spanning more than 16 bits, get exact ones.
        """
        lo, bins = self._hist_range or (None, 1)
        red = None if self.red is None else self.red.view(np.uint8)
        hist, npx, tone, tone_sq, n_red, a_excess, texture_sq = kernels.active().region_sums(
            labels, origin[0], origin[1], len(regions), self.L, self.a, self.b, lo, bins,
            self.tone_rel, red, self.da10_pos, self.texture,
        )  # fmt: skip
        out = []
        for i, (rm, (y0, y1, x0, x1)) in enumerate(regions):
            s = _Sums(
                int(npx[i]), None if hist is None else hist[i], lo, None, float(tone[i]), float(tone_sq[i]),
                int(n_red[i]), float(a_excess[i]), float(texture_sq[i]),
            )  # fmt: skip
            if hist is None or s.npx < _MEDIAN_EXACT_BELOW:
                s.medians = [_median(ch[y0:y1, x0:x1][rm]) for ch in (self.L, self.a, self.b)]
            out.append(s)
        return out

    def region(self, rm: np.ndarray, box: Box, full: tuple[int, int], sums: _Sums) -> RegionMeasurement:
        """Statistics of one region from its :class:`_Sums`; ``rm`` is its mask inside ``box`` =
        (y0, y1, x0, x1) of the union crop, whose own offset in the image is ``self.off``."""
        mpp = self.mpp
        by0, by1, bx0, bx1 = box
        sl = (slice(by0, by1), slice(bx0, bx1))
        npx = sums.npx
        notes: list[str] = []
        met = _empty_metrics()
        Lm, am, bm = sums.channel_medians()
        met["L_median"], met["a_median"], met["b_median"] = Lm, am, bm
        if abs(bm) < 1e-9:
            notes.append("ita_deg: b_median is 0")
        else:
            met["ita_deg"] = math.degrees(math.atan((Lm - 50.0) / bm))
        oy, ox = self.off[0] + by0, self.off[1] + bx0

        def full_mask(make: Callable[[], np.ndarray] | None) -> Callable[[], np.ndarray]:
            def build() -> np.ndarray:
                out = np.zeros(full, bool)
                if make is not None:
                    out[oy : oy + rm.shape[0], ox : ox + rm.shape[1]] = make()
                return out

            return build

        if mpp is None:
            notes.append(
                "scale unknown: every metric defined in mm (backgrounds, spots, wrinkles, "
                "texture, pores, redness) is null"
            )
            empty = full_mask(None)
            dets = _Detections({"spots": empty, "wrinkles": empty, "red": empty})
            return RegionMeasurement(npx, None, met, notes, dets)

        area_mm2 = npx * mpp * mpp
        area_cm2 = area_mm2 / 100.0
        met["tone_sd_L"] = math.sqrt(max(sums.tone_sq / npx - (sums.tone / npx) ** 2, 0.0))
        met["red_area_pct"] = 100.0 * sums.red / npx
        met["a_excess_mean"] = sums.a_excess / npx

        # spots: a component belongs to the region holding most of its pixels
        # (only pixels of counted spots matter: kept as coordinates)
        n = self.spot_n
        sy, sx, sl_ = self.sp_y, self.sp_x, self.sp_lab
        sinb = np.flatnonzero((sy >= by0) & (sy < by1) & (sx >= bx0) & (sx < bx1))
        sinb = sinb[rm[sy[sinb] - by0, sx[sinb] - bx0]]
        inside = np.bincount(sl_[sinb], minlength=n)
        mine = self.spot_ok & (2 * inside >= self.spot_total) & (inside > 0)
        met["spot_count"] = int(mine.sum())
        spot_area_px = float(inside[mine].sum())
        met["spot_area_mm2"] = spot_area_px * mpp * mpp
        met["spot_area_pct"] = 100.0 * spot_area_px / npx

        def spots_mask() -> np.ndarray:
            out = np.zeros(rm.shape, bool)
            sel = sinb[mine[sl_[sinb]]]
            out[sy[sel] - by0, sx[sel] - bx0] = True
            return out

        # wrinkles
        if not self.wrinkle_ok:
            assert self.wrinkle_note is not None
            notes.append(self.wrinkle_note)
            wr_mask = None
        else:
            nsk = len(self.sk_valid)
            yy, xx = self.sk_y, self.sk_x
            inb = (yy >= by0) & (yy < by1) & (xx >= bx0) & (xx < bx1)
            inr = np.zeros(yy.shape, bool)
            inr[inb] = rm[yy[inb] - by0, xx[inb] - bx0]
            lab_in = self.sk_lab[inr]
            w_in = np.bincount(lab_in, self.sk_w[inr], nsk)
            e_in = np.bincount(lab_in, self.sk_end[inr].astype(np.float64), nsk)
            cnt_in = np.bincount(lab_in, minlength=nsk)
            valid = self.sk_valid
            mine_w = valid & (2 * cnt_in >= self.sk_count) & (cnt_in > 0)
            length_mm = float(((w_in + e_in * self.sk_endcorr) * valid).sum() * mpp)
            met["wrinkle_count"] = int(mine_w.sum())
            met["wrinkle_length_mm"] = length_mm
            met["wrinkle_density"] = length_mm / area_cm2

            skel = self.skel[sl]

            def wr_mask() -> np.ndarray:
                return skel & rm

        # texture
        if self.texture is None:
            assert self.texture_note is not None
            notes.append(self.texture_note)
        else:
            met["texture_rms"] = math.sqrt(sums.texture_sq / npx)

        # pores
        if self.pore_yx is None:
            assert self.pore_note is not None
            notes.append(self.pore_note)
        else:
            py, px = self.pore_yx
            inb = (py >= by0) & (py < by1) & (px >= bx0) & (px < bx1)
            c = int(rm[py[inb] - by0, px[inb] - bx0].sum())
            met["pore_count"] = c
            met["pore_density"] = c / area_cm2

        assert self.red is not None  # made whenever there is a scale
        red = self.red[sl]

        def red_mask() -> np.ndarray:
            return red & rm

        dets = _Detections(
            {"spots": full_mask(spots_mask), "wrinkles": full_mask(wr_mask), "red": full_mask(red_mask)}
        )
        return RegionMeasurement(npx, area_mm2, met, notes, dets)


def _smooth(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur, on a decimated grid when σ is large."""
    return _grow(_smooth_decimated(img, sigma_px), img.shape[:2])


def _smooth_decimated(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """:func:`_smooth` before its upsampling: on the grid of :func:`_level_for` (``min_sigma`` 2),
    so that combinations of smoothed images can be formed there and upsampled once."""
    k = _level_for(sigma_px, 2.0)
    s = sigma_px if k == 1 else _level_sigma(sigma_px, k)
    ks = int(2 * math.ceil(3 * s) + 1)
    return cv2.GaussianBlur(_shrink(img, k), (ks, ks), s, borderType=cv2.BORDER_REFLECT)
