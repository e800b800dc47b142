"""Before a follow-up photo is stored: would it be comparable with its baseline?

The quick part of the comparability rule of :mod:`exoderm.skinlab.compare`, on two images and
without measuring any metric: :func:`capture_stats` reads what the capture decides (head pose,
scale or face size, exposure, white balance) from the downscaled copy the pipeline also uses, and
:func:`capture_differences` lists what differs beyond the limits. Pose and scale use the limits of
:func:`~exoderm.skinlab.compare.compare` (the same face mesh and iris scale as :func:`analyze`), so
a photo that passes here fails the later comparison only on the full face-size or quality checks.

Lighting is not part of :func:`compare`; it is defined here:

* **exposure**: ``log2`` of the ratio of the median relative luminance Y (linear light) of the
  reference area, in EV (stops). 1/3 EV moves L* of mid skin tones by about 6.5, the minimal
  detectable change of ``L_median`` in the engine's repeatability study: more would show up as a
  change of the skin.
* **white balance**: the relative change of the ratio of the median linear red to the median
  linear blue of the reference area (warmer light raises it). Repeat captures with ±5 % channel
  gains (the repeatability study) move it by up to about ±10 %.

The reference area is the central part of the face (the mesh's box shrunk by a fifth on each
side) or, for a close-up or without a face, the central 60 % of the image (colour charts sit in
the corners). Clipped pixels do not count.

Focus (not part of :func:`compare`'s comparability, but of what it judges):

* **softer**: the new photo's effective blur (:func:`~exoderm.skinlab.quality.effective_blur_px`
  of the reference area at full resolution, in mm) exceeds the baseline's by more than
  :func:`~exoderm.skinlab.compare.focus_limit_mm` at the baseline's scale (in face regions where
  the baseline has a pose), as
  :func:`~exoderm.skinlab.quality.blur_difference` measures it. :func:`compare` would then not
  judge the fine metrics (texture, lines and, in close-ups, pores): focusing again helps. Judged
  only where both scales are known (the limit is in mm) and agree within the limit: a photo at
  another scale is reported for that first, and resampling between scales blurs by itself. A
  sharper new photo is not reported.

Processing:

* **sharpened**: the new photo's edge overshoot (:func:`~exoderm.skinlab.quality.edge_overshoot_pct`
  of the reference area at full resolution, the halo a camera's sharpening leaves) exceeds
  :func:`~exoderm.skinlab.compare.sharpening_limit_pct` at the baseline's scale (in face regions
  where the baseline has a pose). :func:`compare` would then not judge spots, lines, pores,
  texture and tone (:data:`~exoderm.skinlab.compare.PROCESSING_SENSITIVE`): the camera's sharpening,
  beauty or HDR mode should be turned off, or its Pro or RAW mode used. Reported whatever the
  baseline: a strongly sharpened photo is noisy in those metrics against any baseline.

Compression:

* **JPEG quality** (not part of :func:`compare`): the IJG quality (1 to 100) of each JPEG file,
  estimated from its luminance quantisation table (:func:`exoderm.skinlab.jpeg.jpeg_quality`).
  JPEG removes fine detail first, so the fine metrics (``texture_rms``, ``pore_count``,
  ``wrinkle_length_mm``) read lower the stronger the compression; the thresholds come from a
  measurement on phantoms, given at :data:`MIN_JPEG_QUALITY` and :data:`MAX_JPEG_QUALITY_DROP`.
  A follow-up below the floor, or more than the allowed drop below a JPEG baseline, is
  reported. PNG, TIFF and HEIC files (and pixel arrays) have no JPEG quality.
* **file format**: one photo lossless (PNG, TIFF) and the other lossy (JPEG, HEIC). Compression
  alone removes the finest spots and some redness, so :func:`compare` does not judge the
  metrics of :data:`~exoderm.skinlab.compare.COMPRESSION_SENSITIVE` for such a pair; reported
  here so the photo can be sent again in the baseline's format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .color import srgb_to_linear
from .compare import (
    MAX_POSE_DIFF_DEG,
    MAX_SCALE_DIFF,
    compression_differs,
    focus_limit_mm,
    sharpening_limit_pct,
)
from .face import detect_face, head_pose, iris_mm_per_px
from .io import LoadedImage, SkinlabError, as_loaded, make_preview
from .jpeg import jpeg_quality
from .pipeline import PREVIEW_SIDE
from .quality import blur_and_overshoot, blur_difference

__all__ = [
    "MAX_EXPOSURE_DIFF_EV",
    "MAX_JPEG_QUALITY_DROP",
    "MAX_WHITE_BALANCE_DIFF",
    "MIN_JPEG_QUALITY",
    "CaptureDifference",
    "CaptureStats",
    "capture_differences",
    "capture_stats",
]

MAX_EXPOSURE_DIFF_EV = 1 / 3
"""Larger exposure differences (stops) shift L* by more than its minimal detectable change."""
MAX_WHITE_BALANCE_DIFF = 0.10
"""Larger relative changes of the red/blue ratio exceed those of repeat captures."""
MIN_JPEG_QUALITY = 80
"""A follow-up saved at a lower JPEG quality loses fine detail beyond what the repeatability
study's captures (quality 85 to 95) cover. Measured on eight phantom designs at 0.05 mm/px (noise
SD 2, blur σ 0.6 px; each saved at every quality and compared with the uncompressed capture):
``pore_count``, the fine metric JPEG affects most, reads 8.8, 11.6, 17.1, 25.9, 31.8, 35.0, 42.2,
51.8 and 64.4 pores lower at quality 95, 90, 85, 80, 75, 70, 65, 60 and 50 (its close-up mdc is
about 50). Against quality 90, the centre of the study, quality 80 shifts it by 0.28 mdc, 75 by
0.40, 60 by 0.80. A shift of 0.3 mdc raises the chance of calling pure noise a change from 5 %
to about 9 %; that is where the floor lies. ``texture_rms`` (at most +0.007 down to quality 50,
mdc 0.1, both in the L* units of engine 1.2; the relative unit of 1.3 scales both by about
100 / (L* + 16) alike) and ``wrinkle_length_mm`` (no trend) are not affected measurably."""
MAX_JPEG_QUALITY_DROP = 10
"""A follow-up more than this many quality points below its baseline is more compressed than the
comparison tolerates: in the measurement above a drop of 10 shifts ``pore_count`` by 0.17 to 0.29
mdc (95 → 85, 90 → 80, 85 → 75, 80 → 70), a drop of 15 by up to 0.40 and of 20 by about 0.5."""
_FACE_SHRINK = -0.2  # bbox margin: the central part of the face, without hair and background
_CENTRE = 0.6  # share of each side of a close-up that counts
_Y = np.array([0.2126, 0.7152, 0.0722], np.float32)  # relative luminance of linear sRGB


@dataclass(frozen=True)
class CaptureStats:
    """What the capture of one photo decided.

    Attributes
    ----------
    pose : dict or None
        Head pose (yaw, pitch, roll in degrees); None without a face.
    mm_per_px : float or None
        The scale given by the caller, else from the iris; None when unknown.
    eye_distance_px : float or None
        Distance of the outer eye corners in full-resolution pixels (the face size).
    luminance : float
        Median relative luminance (linear, 0..1) of the reference area.
    red_blue : float
        Median linear red over median linear blue of the reference area.
    jpeg_quality : int or None
        Estimated IJG quality of a JPEG file; None for other formats and pixel arrays.
    lossless : bool or None
        Whether the file kept every pixel (PNG, TIFF: True; JPEG, HEIC: False); None for pixel
        arrays.
    effective_blur_px : float or None
        :func:`~exoderm.skinlab.quality.effective_blur_px` of the reference area at full
        resolution; None where it has no edges.
    edge_overshoot_pct : float or None
        :func:`~exoderm.skinlab.quality.edge_overshoot_pct` of the same area: how strongly the
        camera sharpened the photo; None where it has no step edges.
    """

    pose: dict[str, float] | None
    mm_per_px: float | None
    eye_distance_px: float | None
    luminance: float
    red_blue: float
    jpeg_quality: int | None = None
    lossless: bool | None = None
    effective_blur_px: float | None = None
    edge_overshoot_pct: float | None = None

    @property
    def effective_blur_mm(self) -> float | None:
        """The effective blur in mm; None when it or the scale is unknown."""
        if self.effective_blur_px is None or self.mm_per_px is None:
            return None
        return self.effective_blur_px * self.mm_per_px

    def to_dict(self) -> dict[str, Any]:
        return {
            "pose": None if self.pose is None else {k: round(v, 2) for k, v in self.pose.items()},
            "mm_per_px": self.mm_per_px,
            "eye_distance_px": None if self.eye_distance_px is None else round(self.eye_distance_px, 2),
            "luminance": round(self.luminance, 5),
            "red_blue": round(self.red_blue, 5),
            "jpeg_quality": self.jpeg_quality,
            "lossless": self.lossless,
            "effective_blur_px": None if self.effective_blur_px is None else round(self.effective_blur_px, 3),
            "edge_overshoot_pct": None
            if self.edge_overshoot_pct is None
            else round(self.edge_overshoot_pct, 2),
        }


@dataclass(frozen=True)
class CaptureDifference:
    """One way a new photo differs from its baseline beyond the limit.

    ``kind`` is one of ``pose`` (``axis`` yaw, pitch or roll; ``value`` in degrees, new minus
    baseline), ``scale`` and ``face_size`` (``value`` relative: 0.12 = 12 % larger in the new
    photo), ``exposure`` (EV, > 0 brighter), ``white_balance`` (relative change of red/blue, > 0
    warmer), ``jpeg_quality`` (the new photo's JPEG quality, below the floor ``limit``),
    ``compression`` (JPEG quality, new minus baseline: -20 = 20 lower; ``limit`` the largest
    drop allowed), ``file_format`` (one photo is lossless, the other lossy; ``value`` 1 when the
    new photo is the lossy one, 0 when the baseline is), ``pose_unknown`` and ``scale_unknown``
    (known in only one photo; ``value`` None), ``softer`` (``value`` the new photo's extra blur in
    mm, :func:`~exoderm.skinlab.quality.blur_difference`; ``limit`` the largest allowed),
    ``sharpened`` (``value`` the new photo's edge overshoot in %,
    :func:`~exoderm.skinlab.quality.edge_overshoot_pct`; ``limit`` the largest allowed).
    """

    kind: str
    value: float | None = None
    limit: float | None = None
    axis: str | None = None

    def __str__(self) -> str:
        if self.kind == "pose":
            return f"pose differs: {self.axis} {self.value:+.1f}° (limit ±{self.limit:.0f}°)"
        if self.kind in ("scale", "face_size", "white_balance"):
            assert self.value is not None and self.limit is not None
            what = self.kind.replace("_", " ")
            return f"{what} differs by {100 * self.value:+.1f} % (limit ±{100 * self.limit:.0f} %)"
        if self.kind == "exposure":
            return f"exposure differs by {self.value:+.2f} EV (limit ±{self.limit:.2f} EV)"
        if self.kind == "jpeg_quality":
            return (
                f"JPEG quality {self.value:.0f} is below {self.limit:.0f}: fine texture, pores and "
                "wrinkles are measured lower"
            )
        if self.kind == "file_format":
            lossy, lossless = ("this photo", "the baseline") if self.value else ("the baseline", "this photo")
            return (
                f"file format differs: {lossless} is uncompressed, {lossy} a JPEG or HEIC; compression "
                "alone changes the spot and redness metrics, which are then not judged"
            )
        if self.kind == "softer":
            return (
                f"softer than the baseline: {self.value:.2f} mm more blur (limit {self.limit:.2f} mm); "
                "texture, lines and pores would not be judged: focus again"
            )
        if self.kind == "sharpened":
            return (
                f"strongly sharpened by the camera: edges overshoot by {self.value:.0f} % (limit "
                f"{self.limit:.0f} %); spots, lines and pores would not be judged: turn off the "
                "camera's sharpening, beauty or HDR mode, or use its Pro or RAW mode"
            )
        if self.kind == "compression":
            assert self.value is not None
            return (
                f"compression differs: JPEG quality {-self.value:.0f} lower than the baseline "
                f"(limit {self.limit:.0f})"
            )
        return {"pose_unknown": "head pose known in only one photo"}.get(
            self.kind, "scale known in only one photo"
        )


def capture_stats(
    image: str | Path | bytes | np.ndarray | LoadedImage, *, roi: str = "face", mm_per_px: float | None = None
) -> CaptureStats:
    """Pose, scale, face size, exposure and white balance of one photo (no metric is measured).

    Parameters
    ----------
    image : path, bytes, ndarray or LoadedImage
        The photo, as for :func:`exoderm.skinlab.pipeline.analyze`.
    roi : {'face', 'full'}
        ``'face'`` looks for the face (pose, iris scale, face size); ``'full'`` (a close-up)
        does not.
    mm_per_px : float, optional
        Scale given by the caller.

    Raises
    ------
    SkinlabError
        For unreadable images and a scale that is not a positive number.
    """
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise SkinlabError(f"mm_per_px must be a positive number, got {mm_per_px}")
    loaded = as_loaded(image)
    rgb = loaded.rgb
    quality = jpeg_quality(image) if isinstance(image, (str, Path, bytes)) else None
    preview = make_preview(rgb, PREVIEW_SIDE)
    small = preview.rgb
    lm = detect_face(rgb, preview=preview) if roi == "face" else None
    pose = eye = None
    scale = mm_per_px
    sh, sw = small.shape[:2]
    if lm is not None:
        pose = head_pose(lm)
        eye = float(np.linalg.norm(lm.points[33, :2] - lm.points[263, :2]))
        if scale is None:
            scale = iris_mm_per_px(lm)
        x0, y0, x1, y1 = (round(v * preview.scale) for v in lm.bbox(margin=_FACE_SHRINK))
    else:
        x0, y0 = round(sw * (1 - _CENTRE) / 2), round(sh * (1 - _CENTRE) / 2)
        x1, y1 = sw - x0, sh - y0
    # the same area at full resolution, where blur of a pixel or two can be seen
    f = 1.0 / preview.scale
    full = rgb[round(y0 * f) : round(y1 * f), round(x0 * f) : round(x1 * f)]
    area_rgb = full if full.size else rgb
    blur, overshoot = blur_and_overshoot(area_rgb)
    area = small[y0:y1, x0:x1].reshape(-1, 3) if x1 > x0 and y1 > y0 else small.reshape(-1, 3)
    unclipped = (area.max(axis=1) < 255) & (area.max(axis=1) > 0)
    if unclipped.sum() >= 100:
        area = area[unclipped]
    linear = srgb_to_linear(np.ascontiguousarray(area.reshape(-1, 1, 3))).reshape(-1, 3)
    luminance = float(np.median(linear @ _Y))
    red, blue = float(np.median(linear[:, 0])), float(np.median(linear[:, 2]))
    return CaptureStats(
        pose=pose,
        mm_per_px=None if scale is None else float(scale),
        eye_distance_px=eye,
        luminance=luminance,
        red_blue=red / max(blue, 1e-6),
        jpeg_quality=quality,
        lossless=loaded.lossless,
        effective_blur_px=blur,
        edge_overshoot_pct=overshoot,
    )


def capture_differences(baseline: CaptureStats, new: CaptureStats) -> list[CaptureDifference]:
    """What differs between a new photo and its baseline beyond the limits; empty if nothing.

    Pose and scale follow :func:`exoderm.skinlab.compare.compare` (±10° per axis, ±10 % scale; the
    face size when neither scale is known); exposure, white balance and compression are defined
    above, and so are focus (``softer``) and processing (``sharpened``). A follow-up below the JPEG
    quality floor is reported as ``jpeg_quality`` only, not also as ``compression``; a baseline
    that is not a JPEG has no quality to drop from.
    """
    out: list[CaptureDifference] = []
    pb, pn = baseline.pose, new.pose
    if (pb is None) != (pn is None):
        out.append(CaptureDifference("pose_unknown"))
    elif pb is not None and pn is not None:
        for axis in ("yaw", "pitch", "roll"):
            d = pn[axis] - pb[axis]
            if abs(d) > MAX_POSE_DIFF_DEG:
                out.append(CaptureDifference("pose", d, MAX_POSE_DIFF_DEG, axis))
    sb, sn = baseline.mm_per_px, new.mm_per_px
    if sb is not None and sn is not None:
        ratio = sn / sb - 1
        if abs(ratio) > MAX_SCALE_DIFF:
            out.append(CaptureDifference("scale", ratio, MAX_SCALE_DIFF))
    elif (sb is None) != (sn is None):
        out.append(CaptureDifference("scale_unknown"))
    elif baseline.eye_distance_px and new.eye_distance_px:
        ratio = new.eye_distance_px / baseline.eye_distance_px - 1
        if abs(ratio) > MAX_SCALE_DIFF:
            out.append(CaptureDifference("face_size", ratio, MAX_SCALE_DIFF))
    ev = math.log2(max(new.luminance, 1e-6) / max(baseline.luminance, 1e-6))
    if abs(ev) > MAX_EXPOSURE_DIFF_EV:
        out.append(CaptureDifference("exposure", ev, MAX_EXPOSURE_DIFF_EV))
    wb = new.red_blue / baseline.red_blue - 1
    if abs(wb) > MAX_WHITE_BALANCE_DIFF:
        out.append(CaptureDifference("white_balance", wb, MAX_WHITE_BALANCE_DIFF))
    softer = blur_difference(baseline.effective_blur_mm, new.effective_blur_mm)
    # a face photo is judged in face regions, whose study covered more focus than the phantom's
    limit = focus_limit_mm(baseline.mm_per_px, face=baseline.pose is not None)
    if softer is not None and softer > limit and not any(d.kind == "scale" for d in out):
        out.append(CaptureDifference("softer", softer, limit))
    sharpening_limit = sharpening_limit_pct(baseline.mm_per_px, face=baseline.pose is not None)
    if new.edge_overshoot_pct is not None and new.edge_overshoot_pct > sharpening_limit:
        out.append(CaptureDifference("sharpened", new.edge_overshoot_pct, sharpening_limit))
    if compression_differs(baseline.lossless, new.lossless):
        out.append(CaptureDifference("file_format", float(baseline.lossless is True)))
    qb, qn = baseline.jpeg_quality, new.jpeg_quality
    if qn is not None:
        if qn < MIN_JPEG_QUALITY:
            out.append(CaptureDifference("jpeg_quality", float(qn), float(MIN_JPEG_QUALITY)))
        elif qb is not None and qb - qn > MAX_JPEG_QUALITY_DROP:
            out.append(CaptureDifference("compression", float(qn - qb), float(MAX_JPEG_QUALITY_DROP)))
    return out
