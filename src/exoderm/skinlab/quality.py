"""Photo quality: sharpness, clipped pixels, head pose and resolution → usable + notes.

``sharpness`` is a no-reference re-blur score in [0, 1] (Crété-Roffet et al. 2007): the share
of the image's gradient energy that a further 1-pixel Gaussian blur removes, so that 0 is a
photo that blur cannot soften any more and about 0.5 or more a crisp one. It is measured on the
region of interest at full resolution (the central part of it for very large regions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import _kernels
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
    "clipped_pct",
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

    def to_dict(self) -> dict[str, object]:
        return {
            "sharpness": round(self.sharpness, 3),
            "clipped_pct": round(self.clipped_pct, 3),
            "pose": None if self.pose is None else {k: round(v, 2) for k, v in self.pose.items()},
            "usable": self.usable,
            "notes": list(self.notes),
        }


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
    m = None if mask is None else mask[y0:y1, x0:x1]
    b = cv2.GaussianBlur(g, (0, 0), 1.0)

    def energy(img: np.ndarray) -> float:
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        e = gx * gx + gy * gy
        return float(e[m].sum() if m is not None else e.sum())

    e0 = energy(g)
    if e0 <= 1e-12:
        return 0.0
    return float(np.clip(1.0 - energy(b) / e0, 0.0, 1.0))


def clipped_pct(rgb: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Percentage of pixels with a channel at full scale or all channels at zero."""
    # the kernel walks rows of contiguous pixels (any row stride)
    if rgb.strides[1:] != (3 * rgb.itemsize, rgb.itemsize):
        rgb = np.ascontiguousarray(rgb)
    m = None if mask is None else mask.view(np.uint8)
    if m is not None and m.strides[1] != 1:
        m = np.ascontiguousarray(m)
    n, clipped = _kernels.clipped_count(rgb, m, full_scale(rgb))
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
        ``usable`` is False when sharpness is below ``MIN_SHARPNESS``, clipping above
        ``MAX_CLIPPED_PCT``, any pose angle beyond ``MAX_POSE_DEG`` or the scale coarser than
        ``MAX_MM_PER_PX``; ``notes`` says which.
    """
    s = sharpness(rgb, mask)
    c = clipped_pct(rgb, mask)
    quality = Quality(s, c, pose, True, [])
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
