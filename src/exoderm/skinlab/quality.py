"""Photo quality: sharpness, clipped pixels, head pose and resolution → usable + notes.

``sharpness`` is a no-reference re-blur score in [0, 1] (Crété-Roffet et al. 2007): the share
of the image's gradient energy that a further 1-pixel Gaussian blur removes, so that 0 is a
photo that blur cannot soften any more and about 0.5 or more a crisp one. It is measured on the
region of interest at full resolution (the central part of it for very large regions).

``effective_blur_px`` (and ``effective_blur_mm``, with the scale) is a measured quantity instead of
a score, defined in :func:`effective_blur_px`: the Gaussian blur σ of the region's strongest edges.
Blurs add in quadrature, so two photos of the same skin differ in focus by
``sqrt(|σ_after² − σ_before²|)`` (:func:`blur_difference`), whatever the skin's own edges are.

``edge_overshoot_pct``, defined in :func:`edge_overshoot_pct`, measures how strongly the camera
sharpened the photo: the halo (overshoot beyond the bright side, undershoot beyond the dark side)
that an unsharp mask leaves around the region's strongest edges, in % of the edges' contrast. An
unsharpened capture reads about 1 % or less, a phone's default JPEG or HEIC a few %, the strong
two-radius sharpening of a "vivid" Android mode 12 % or more (``tests/skinlab/test_quality.py``).
It needs no EXIF, which messaging apps and exports strip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import kernels
from .io import full_scale, grey
from .remark import Remark

__all__ = [
    "MAX_CLIPPED_PCT",
    "MAX_MM_PER_PX",
    "MAX_POSE_DEG",
    "MIN_SHARPNESS",
    "NO_FACE",
    "Quality",
    "assess_quality",
    "blur_difference",
    "clipped_pct",
    "edge_overshoot_pct",
    "effective_blur_px",
    "sharpness",
    "usability_problems",
]

MIN_SHARPNESS = 0.12
"""Below this the photo is too blurred for texture, wrinkle and spot metrics."""
MAX_CLIPPED_PCT = 5.0
"""More over- or under-exposed pixels than this (% of the region) makes colour unreliable."""
MAX_POSE_DEG = 20.0
"""A head turned, tilted or pitched further than this is not a standard frontal photo."""
MAX_MM_PER_PX = 0.5
"""Coarser than this, spots and lines of a few millimetres are not resolved."""
_SHARPNESS_WINDOW = 768
_REBLUR_PX = (1.0, 2.0)
"""The two re-blurs (Gaussian σ, pixels) whose edge gradients :func:`effective_blur_px` compares."""
_STRONGEST_EDGES_PCT = 0.3
"""The share (%) of the region's pixels, those of the largest gradient, taken as its edges."""
_OVERSHOOT_REACH_PX = 8
"""How far (pixels) :func:`edge_overshoot_pct` follows each edge's profile to either side: beyond
the halo of an unsharp mask of radius up to about 2.5 px (a Gaussian's halo fades within three
radii), the widest phone pipelines use; the last three samples are the plateau."""
_MIN_STEP_EDGES = 150
"""Fewer step-like edge profiles than this and :func:`edge_overshoot_pct` is not measured: the
mean profile of so few edges scatters too much. Unsharpened, noise-free phantoms of 160 x 213 px
(about 100 edges) read 0.7 to 8 %; from 480 x 640 px (several hundred) 0.2 to 2 %."""
_IDEAL_EDGE_VAR_PX2 = 0.477
"""The squared σ the edge measure itself reads on an ideal edge: a sharp step integrated over
square pixels (area-averaged 8x down from a sharp drawing) and no further blur, as measured on
disc edges of radius 5 to 19 px (``tests/skinlab/test_focus.py``). The 3x3 Sobel stencil and
the pixel's own width spread every edge this much; it is not blur of the capture."""
NO_FACE = "no face found"
"""The note of a face photo without a face."""


@dataclass
class Quality:
    """Quality of one photo (spec: ``quality`` in the JSON)."""

    sharpness: float
    clipped_pct: float
    pose: dict[str, float] | None
    usable: bool
    notes: list[str] = field(default_factory=list)
    effective_blur_px: float | None = None
    """:func:`effective_blur_px` of the region; None where it has no edges and in records of
    engines before it was measured."""
    effective_blur_mm: float | None = None
    """The same in millimetres (None also when the scale is unknown): comparable across scales."""
    edge_overshoot_pct: float | None = None
    """:func:`edge_overshoot_pct` of the region (% of the edges' contrast): how strongly the camera
    sharpened it; None where it has too few step edges and in records of engines before it was
    measured."""

    def to_dict(self) -> dict[str, object]:
        return {
            "sharpness": round(self.sharpness, 3),
            "effective_blur_px": _round(self.effective_blur_px, 3),
            "effective_blur_mm": _round(self.effective_blur_mm, 4),
            "edge_overshoot_pct": _round(self.edge_overshoot_pct, 2),
            "clipped_pct": round(self.clipped_pct, 3),
            "pose": None if self.pose is None else {k: round(v, 2) for k, v in self.pose.items()},
            "usable": self.usable,
            "notes": list(self.notes),
        }


def _round(v: float | None, places: int) -> float | None:
    return None if v is None else round(v, places)


def sharpness(rgb: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Re-blur sharpness in [0, 1] of an sRGB image, optionally within a mask.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16.
    mask : ndarray, optional
        (H, W) bool; only gradients inside it count.

    Returns
    -------
    float
        ``1 - E(blurred) / E(image)`` with E the summed squared gradient; 0 for flat images.
    """
    return _sharpness(_edges(rgb, mask))


def _sharpness(e: _Edges) -> float:
    e0 = _energy(_gradient(e.grey), e.mask)
    if e0 <= 1e-12:
        return 0.0
    return float(np.clip(1.0 - _energy(e.magnitude_sq, e.mask) / e0, 0.0, 1.0))


def effective_blur_px(rgb: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """The effective Gaussian blur σ (pixels) of the strongest edges of an sRGB image.

    The gradient magnitude across a step edge blurred by a Gaussian of σ peaks at
    ``A / (σ √(2π))``; re-blurring by ``s`` lowers the peak to ``A / (√(σ² + s²) √(2π))``. The
    ratio ``R`` of the gradient magnitudes after re-blurs of ``s1 = 1`` and ``s2 = 2`` px gives
    ``σ_e² = (s2² − R² s1²) / (R² − 1)`` whatever the edge's contrast ``A``. ``R`` is the median of
    the per-pixel ratios at the strongest edges: the 0.3 % of the region's pixels (in the same
    central window as :func:`sharpness`) with the largest gradient after the first re-blur, where
    sensor noise and fine texture weigh least. The result is ``√(σ_e² − σ_0²)``, with ``σ_0²`` what
    the measure reads on an ideal edge (a sharp step integrated over square pixels), so that a
    photo sharp to the pixel reads 0.

    On the region's own edges this is the blur of the capture (focus, motion, lens, processing)
    combined in quadrature with the spread of the skin's sharpest edges (the rims of pigment
    spots; on the phantoms 0.4 to 0.7 px): two photos of the same skin differ in focus by
    :func:`blur_difference` of their values. The model is a step: on skin whose strongest edges are
    narrow lines and dots (a close-up without pigment spots), the gradient of a line falls faster
    under re-blur than a step's, and the value reads low (0 on such phantoms up to σ 0.6 px).

    Against Gaussian blur added to ideal edges it reads the σ within 15 % from 0.5 to 3 px; below
    about half a pixel the pixel grid itself (the sampling) hides the blur, and any estimator reads
    values near 0 there.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16 sRGB.
    mask : ndarray, optional
        (H, W) bool; only edges inside it count.

    Returns
    -------
    float or None
        σ in pixels; None when the region has no edges (a flat image or fewer than 100 pixels).
    """
    return _effective_blur_px(_edges(rgb, mask))


def _effective_blur_px(e: _Edges) -> float | None:
    m = e.mask
    s1, s2 = _REBLUR_PX
    # blurs add in quadrature: b1 re-blurred by √(s2² − s1²) is g blurred by s2
    b2 = cv2.GaussianBlur(e.reblurred, (0, 0), float(np.sqrt(s2 * s2 - s1 * s1)))
    g1, g2 = e.magnitude, np.sqrt(_gradient(b2))
    v1, v2 = (g1[m], g2[m]) if m is not None else (g1.ravel(), g2.ravel())
    if v1.size < 100:
        return None
    k = max(1, round(v1.size * _STRONGEST_EDGES_PCT / 100))
    top = np.argpartition(v1, v1.size - k)[v1.size - k :]
    if not v1[top].min() > 1e-3:
        return None
    r2 = float(np.median(v1[top] / np.maximum(v2[top], 1e-6))) ** 2
    if r2 <= 1.0:
        return None
    var = (s2 * s2 - r2 * s1 * s1) / (r2 - 1.0) - _IDEAL_EDGE_VAR_PX2
    return float(np.sqrt(max(var, 0.0)))


def edge_overshoot_pct(rgb: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """The halo of sharpening around the strongest edges of an sRGB image, in % of their contrast.

    An unsharp mask ``Y + a (Y − G_r * Y)`` lifts the bright side of every edge above its plateau
    and pushes the dark side below its own, within about three radii ``r`` of the edge; blur,
    edge-preserving denoise and tone mapping at scales much larger than the edge do not (they
    only soften or scale the edge). At each of the strongest edges (the same 0.3 % of the
    region's pixels of largest gradient, after a 1 px re-blur, as :func:`effective_blur_px`, in the
    same central window) the grey level is sampled along the gradient direction every pixel out to
    ±8 px, and normalised so that the plateaus (the outermost three samples on each side, their
    median) are 0 and 1. Profiles whose plateau difference is less than half their range (lines,
    dots and edges of texture, not steps) are left out, and the rest averaged, so that sensor
    noise averages away instead of reading as overshoot. The result is the mean of the averaged
    profile's overshoot (its maximum on the bright side above the bright plateau) and
    undershoot (the dark plateau above its minimum on the dark side), times 100.

    On the phantoms an unsharpened capture (noise, blur, JPEG 85 to 95) reads 0.3 to 1 % (the
    edges' own JPEG ringing and a little noise left after averaging), an unsharp mask of radius
    1.5 px reads about 1.3 % at amount 0.25, 2.6 % at 0.5, 8 % at 1 and 13 % at 1.5 (close-up
    scale; ``tests/skinlab/test_quality.py``): it grows with the mask's amount, and more slowly
    with its radius (a mask of radius 1 px, finer than the capture's own blur, leaves less
    halo than one of 2 px). A halo wider than 8 px is not seen.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16 sRGB.
    mask : ndarray, optional
        (H, W) bool; only edges inside it count (their profiles may reach out of it).

    Returns
    -------
    float or None
        Percent of the edges' contrast (0: no halo); None when the region has too few step edges
        to measure (a flat image, lines only, or fewer than 150 step-like edge profiles: a region
        of less than about 50 000 pixels).
    """
    return _edge_overshoot_pct(_edges(rgb, mask))


def _edge_overshoot_pct(e: _Edges) -> float | None:
    g, m = e.grey, e.mask
    reach = _OVERSHOOT_REACH_PX
    h, w = g.shape
    # profiles must stay inside the window
    inner = np.zeros(g.shape, bool)
    inner[reach + 1 : h - reach - 1, reach + 1 : w - reach - 1] = True
    if m is not None:
        inner &= m
    gx, gy, magnitude = e.gx, e.gy, e.magnitude
    v = magnitude[inner]
    if v.size < 100:
        return None
    k = max(1, round(v.size * _STRONGEST_EDGES_PCT / 100))
    threshold = np.partition(v, v.size - k)[v.size - k]
    if not threshold > 1e-3:
        return None
    ys, xs = np.nonzero(inner & (magnitude >= threshold))
    nx = gx[ys, xs] / magnitude[ys, xs]
    ny = gy[ys, xs] / magnitude[ys, xs]
    steps = np.arange(-reach, reach + 1, dtype=np.float32)
    # the gradient points from the dark side (negative steps) to the bright side
    map_x = (xs[:, None] + steps[None, :] * nx[:, None]).astype(np.float32)
    map_y = (ys[:, None] + steps[None, :] * ny[:, None]).astype(np.float32)
    profiles = cv2.remap(g, map_x, map_y, cv2.INTER_LINEAR)
    dark = np.median(profiles[:, :3], axis=1)
    bright = np.median(profiles[:, -3:], axis=1)
    contrast = bright - dark
    step_like = contrast > 0.5 * (profiles.max(axis=1) - profiles.min(axis=1))
    if int(step_like.sum()) < _MIN_STEP_EDGES:
        return None
    mean_profile = ((profiles[step_like] - dark[step_like, None]) / contrast[step_like, None]).mean(axis=0)
    overshoot = float(mean_profile[reach:].max() - mean_profile[-3:].mean())
    undershoot = float(mean_profile[:3].mean() - mean_profile[: reach + 1].min())
    return 100.0 * max(0.0, (overshoot + undershoot) / 2)


def blur_and_overshoot(rgb: np.ndarray, mask: np.ndarray | None = None) -> tuple[float | None, float | None]:
    """:func:`effective_blur_px` and :func:`edge_overshoot_pct` of one image, from one window,
    re-blur and gradient (what the capture check reads before upload)."""
    edges = _edges(rgb, mask)
    return _effective_blur_px(edges), _edge_overshoot_pct(edges)


def blur_difference(before_mm: float | None, after_mm: float | None) -> float | None:
    """How much more blurred the softer of two photos is: ``sqrt(|σ_after² − σ_before²|)``.

    Positive when ``after`` is the softer, negative when ``before`` is; None when either is
    unknown. Gaussian blurs add in quadrature, so this is the blur that, added to the sharper
    photo, would make it as soft as the other, independent of the skin's own edge spread.
    """
    if before_mm is None or after_mm is None:
        return None
    d = after_mm * after_mm - before_mm * before_mm
    return float(np.copysign(np.sqrt(abs(d)), d))


@dataclass(frozen=True)
class _Edges:
    """The grey central window of a region and its gradients after the first re-blur, which
    :func:`sharpness`, :func:`effective_blur_px` and :func:`edge_overshoot_pct` all read (computed
    once per photo by :func:`assess_quality`)."""

    grey: np.ndarray
    mask: np.ndarray | None
    reblurred: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    magnitude_sq: np.ndarray
    magnitude: np.ndarray


def _edges(rgb: np.ndarray, mask: np.ndarray | None) -> _Edges:
    g, m = _window(rgb, mask)
    b1 = cv2.GaussianBlur(g, (0, 0), _REBLUR_PX[0])
    gx = cv2.Sobel(b1, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(b1, cv2.CV_32F, 0, 1, ksize=3)
    magnitude_sq = gx * gx + gy * gy
    return _Edges(g, m, b1, gx, gy, magnitude_sq, np.sqrt(magnitude_sq))


def _window(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The grey central window of the region (at most ``_SHARPNESS_WINDOW`` square) and its mask."""
    h, w = rgb.shape[:2]
    if mask is not None and mask.any():
        ys, xs = np.nonzero(mask[:: max(1, h // 256), :: max(1, w // 256)])
        cy = int(np.median(ys)) * max(1, h // 256)
        cx = int(np.median(xs)) * max(1, w // 256)
    else:
        cy, cx = h // 2, w // 2
    half = _SHARPNESS_WINDOW // 2
    y0, x0 = max(0, cy - half), max(0, cx - half)
    y1, x1 = min(h, y0 + _SHARPNESS_WINDOW), min(w, x0 + _SHARPNESS_WINDOW)
    g = grey(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return g, None if mask is None else mask[y0:y1, x0:x1]


def _gradient(img: np.ndarray) -> np.ndarray:
    """Squared gradient magnitude (3x3 Sobel)."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return gx * gx + gy * gy


def _energy(e: np.ndarray, m: np.ndarray | None) -> float:
    return float(e[m].sum() if m is not None else e.sum())


def clipped_pct(rgb: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Percentage of pixels with a channel at full scale or all channels at zero."""
    # the kernel walks rows of contiguous pixels (any row stride)
    if rgb.strides[1:] != (3 * rgb.itemsize, rgb.itemsize):
        rgb = np.ascontiguousarray(rgb)
    m = None if mask is None else mask.view(np.uint8)
    if m is not None and m.strides[1] != 1:
        m = np.ascontiguousarray(m)
    n, clipped = kernels.active().clipped_count(rgb, m, full_scale(rgb))
    return 0.0 if n == 0 else float(100.0 * clipped / n)


def assess_quality(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    pose: dict[str, float] | None = None,
    mm_per_px: float | None = None,
    face_expected: bool = True,
) -> Quality:
    """Judge whether a photo can be measured.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) sRGB uint8 or uint16.
    mask : ndarray, optional
        Region of interest (the face); the whole image when omitted.
    pose : dict, optional
        Head pose (yaw, pitch, roll in degrees), when there is a face.
    mm_per_px : float, optional
        Image scale, when known.
    face_expected : bool
        Whether a face should have been found (``roi='face'``).

    Returns
    -------
    Quality
        With the :func:`effective_blur_px` of the region, in mm too when the scale is known, and
        its :func:`edge_overshoot_pct`.
        ``usable`` is False when sharpness is below ``MIN_SHARPNESS``, clipping above
        ``MAX_CLIPPED_PCT``, any pose angle beyond ``MAX_POSE_DEG`` or the scale coarser than
        ``MAX_MM_PER_PX``; ``notes`` says which.
    """
    edges = _edges(rgb, mask)  # the window, re-blur and gradients the three edge measures share
    s = _sharpness(edges)
    c = clipped_pct(rgb, mask)
    blur = _effective_blur_px(edges)
    blur_mm = None if blur is None or mm_per_px is None else blur * mm_per_px
    quality = Quality(s, c, pose, True, [], blur, blur_mm, _edge_overshoot_pct(edges))
    problems = usability_problems(quality, mm_per_px=mm_per_px, face_expected=face_expected)
    quality.usable = not problems
    quality.notes = list(problems)
    if mm_per_px is None:
        quality.notes.append("scale unknown: metrics in mm and mm² are null")
    return quality


def usability_problems(
    quality: Quality, *, mm_per_px: float | None, face_expected: bool | None = None
) -> list[Remark]:
    """What makes a photo unusable, each a :class:`Remark` (in this order, as in its notes).

    Kinds: ``blurred`` and ``clipped`` (``value``, ``limit``: sharpness, % of pixels),
    ``pose_beyond`` (``angles``: the axes beyond the limit and their degrees, ``limit``), ``no_face``,
    ``resolution`` (``value``, ``limit``: mm per pixel).

    Parameters
    ----------
    quality : Quality
        Measured by :func:`assess_quality`, or rebuilt from a stored record.
    mm_per_px : float or None
        The photo's scale.
    face_expected : bool, optional
        Whether a face was looked for (``roi='face'``); by default, what the notes say: a face
        photo without a face is noted :data:`NO_FACE` (a stored record keeps no more).
    """
    if face_expected is None:
        face_expected = NO_FACE in quality.notes
    out = []
    s, c = quality.sharpness, quality.clipped_pct
    if s < MIN_SHARPNESS:
        out.append(
            Remark(f"blurred: sharpness {s:.2f} < {MIN_SHARPNESS}", "blurred", value=s, limit=MIN_SHARPNESS)
        )
    if c > MAX_CLIPPED_PCT:
        text = f"exposure: {c:.1f} % of pixels clipped (> {MAX_CLIPPED_PCT} %)"
        out.append(Remark(text, "clipped", value=c, limit=MAX_CLIPPED_PCT))
    if quality.pose is not None:
        bad = {k: v for k, v in quality.pose.items() if abs(v) > MAX_POSE_DEG}
        if bad:
            text = f"pose beyond ±{MAX_POSE_DEG:.0f}°: " + ", ".join(f"{k} {v:+.0f}°" for k, v in bad.items())
            out.append(Remark(text, "pose_beyond", angles=bad, limit=MAX_POSE_DEG))
    elif face_expected:
        out.append(Remark(NO_FACE, "no_face"))
    if mm_per_px is not None and mm_per_px > MAX_MM_PER_PX:
        text = f"resolution too low: {mm_per_px:.2f} mm per pixel (> {MAX_MM_PER_PX})"
        out.append(Remark(text, "resolution", value=mm_per_px, limit=MAX_MM_PER_PX))
    return out
