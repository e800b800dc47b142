"""One photo in, the spec's measurement record out: :func:`analyze`.

Stages (each timed in ``Analysis.timings`` and ``cpu_timings``, seconds): ``decode`` → ``chart`` (ColorChecker
detection and colour-correction fit) → ``landmarks`` (face mesh on a downscaled copy) →
``color`` (sRGB → L*a*b* of the face's regions only) → ``masks`` (regions and
exclusions) → ``metrics`` → ``quality``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import ENGINE_VERSION
from .color import CHART_NAME, Calibration, ChartDetection, detect_chart, fit_ccm, srgb_to_lab
from .face import (
    REGIONS,
    FaceLandmarks,
    detect_face,
    draw_exclusions,
    head_pose,
    iris_mm_per_px,
    region_labels,
)
from .io import LoadedImage, Preview, SkinlabError, as_loaded, make_preview
from .quality import Quality, assess_quality

__all__ = ["GLARE_L", "SHADOW_L", "Analysis", "analyze", "hair_mask", "json_value"]

GLARE_L = 95.0
"""Specular glare: L* above this is excluded (spec)."""
SHADOW_L = 15.0
"""Deep shadow: L* below this is excluded (spec)."""
HAIR_DL = 20.0
"""Hair and beard: smoothed L* this far below the cheeks' median is not skin (engine choice)."""
HAIR_CHROMA_RATIO = 0.35
"""Grey or white hair: smoothed chroma below this share of the cheeks' chroma (engine choice)."""
HAIR_MIN_AREA_MM2 = 25.0
"""Dark blobs smaller than this are left to the spot metric, not excluded as hair."""
PREVIEW_SIDE = 800
"""Longest side of the shared downscaled copy used for the chart finder, face mesh and hair."""
MAX_CALIBRATION_DE00 = 6.0
"""A chart fit with a larger residual is not trusted; the photo is analysed uncalibrated."""

Measure = Callable[..., dict[str, Any]]


@dataclass
class Analysis:
    """The result of :func:`analyze`.

    ``to_dict()`` gives exactly the JSON record of ``shared/specs/skin-metrics.md``. The
    arrays (image, L*a*b* crop, masks, landmarks) are kept for overlays and comparisons and
    are not serialised; with ``roi='face'`` the L*a*b* crop is 0 outside the face regions.
    """

    file: str | None
    width: int
    height: int
    calibration: dict[str, Any]
    scale: dict[str, Any]
    quality: Quality
    regions: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds per stage."""
    cpu_timings: dict[str, float] = field(default_factory=dict)
    """CPU seconds per stage (the whole process, all threads: meaningful when it runs alone)."""
    rgb: np.ndarray | None = field(default=None, repr=False)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    lab: np.ndarray | None = field(default=None, repr=False)
    masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    landmarks: FaceLandmarks | None = field(default=None, repr=False)
    chart: ChartDetection | None = field(default=None, repr=False)
    ccm: np.ndarray | None = field(default=None, repr=False)
    lossless: bool | None = None
    """Whether the photo's file kept every pixel (:attr:`LoadedImage.lossless`); not serialised,
    so a record rebuilt by :meth:`from_dict` does not know it unless the caller sets it."""

    @property
    def mm_per_px(self) -> float | None:
        return self.scale["mm_per_px"]

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Analysis:
        """Rebuild an analysis from its :meth:`to_dict` record (no arrays, no landmarks).

        Enough for :func:`exoderm.skinlab.compare.compare` with ``heatmap=False``; the
        face-size check that needs landmarks is then not made. The effective blur in mm is read as
        stored, or derived from the one in pixels and the record's scale; records without it
        (engines before it was measured) have None.
        """
        from .metrics import RegionMeasurement

        q = record["quality"]
        blur_px, mmpp = q.get("effective_blur_px"), record["scale"].get("mm_per_px")
        return cls(
            file=record.get("file"),
            width=int(record["width"]),
            height=int(record["height"]),
            calibration=dict(record["calibration"]),
            scale=dict(record["scale"]),
            quality=Quality(
                float(q["sharpness"]),
                float(q["clipped_pct"]),
                q.get("pose"),
                bool(q["usable"]),
                list(q["notes"]),
                # absent from the records of engines before 1.2.0 measured it
                blur_px,
                # the stored mm where there is one (it was rounded from the unrounded pixels)
                q.get("effective_blur_mm", None if blur_px is None or mmpp is None else blur_px * mmpp),
                # absent from the records of engines before it was measured
                q.get("edge_overshoot_pct"),
            ),
            regions={
                name: RegionMeasurement(
                    int(r["area_px"]), r.get("area_mm2"), dict(r["metrics"]), list(r["notes"])
                )
                for name, r in record["regions"].items()
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec's machine-readable record."""
        regions = {}
        for name, r in self.regions.items():
            regions[name] = {
                "area_px": int(r.area_px),
                "area_mm2": None if r.area_mm2 is None else round(float(r.area_mm2), 2),
                "metrics": {k: json_value(v) for k, v in r.metrics.items()},
                "notes": list(r.notes),
            }
        return {
            "engine_version": ENGINE_VERSION,
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "calibration": dict(self.calibration),
            "scale": dict(self.scale),
            "quality": self.quality.to_dict(),
            "regions": regions,
        }


def json_value(v: Any) -> Any:
    """JSON-safe metric value: numpy scalars to Python, NaN/inf to None."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    return round(f, 4) if np.isfinite(f) else None


def _load_roi_mask(roi: str | Path | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(roi, np.ndarray):
        m = roi
    else:
        path = Path(roi)
        read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise SkinlabError(f"cannot read ROI mask {path}")
        m = read
    if m.shape[:2] != shape:
        raise SkinlabError(f"ROI mask is {m.shape[1]}x{m.shape[0]}, the image {shape[1]}x{shape[0]}")
    m = m > 0 if m.dtype != bool else m
    if not m.any():
        raise SkinlabError("ROI mask is empty")
    return m


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return x, y, x + w, y + h


def hair_mask(
    lab: np.ndarray, candidate: np.ndarray, reference: np.ndarray, *, px_per_mm: float
) -> np.ndarray:
    """Hair, beard and other non-skin pixels inside ``candidate``, judged against ``reference`` skin.

    Works on a smoothed copy at about 1 mm per pixel: dark (L* more than ``HAIR_DL`` below the
    reference median) or grey (chroma below ``HAIR_CHROMA_RATIO`` of the reference) patches of
    at least ``HAIR_MIN_AREA_MM2`` are returned.
    """
    h, w = candidate.shape
    ref = lab[reference]
    if ref.shape[0] < 50:
        return np.zeros_like(candidate)
    l_ref = float(np.median(ref[:, 0]))
    c_ref = float(np.median(np.hypot(ref[:, 1], ref[:, 2])))
    f = min(1.0, 1.0 / px_per_mm)  # ~1 mm per pixel
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    small = cv2.resize(lab, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    chroma = np.hypot(small[..., 1], small[..., 2])
    bad = ((small[..., 0] < l_ref - HAIR_DL) | (chroma < HAIR_CHROMA_RATIO * c_ref)).astype(np.uint8)
    min_area = HAIR_MIN_AREA_MM2 * (f * px_per_mm) ** 2
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bad, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    bad = keep[labels].astype(np.uint8)
    return cv2.resize(bad, (w, h), interpolation=cv2.INTER_NEAREST).view(bool) & candidate


def _hair_on_preview(
    preview: Preview,
    ccm: np.ndarray | None,
    candidate: np.ndarray,
    reference: np.ndarray,
    box: tuple[int, int, int, int],
    px_per_mm: float,
) -> np.ndarray:
    """:func:`hair_mask` computed on the preview, returned as a uint8 0/1 mask of the crop.

    ``candidate`` and ``reference`` are uint8 masks of the crop ``box``; ``px_per_mm`` is the
    full-resolution scale.
    """
    x0, y0, x1, y1 = box
    f = preview.scale
    bx0, by0 = int(x0 * f), int(y0 * f)
    bx1, by1 = max(bx0 + 1, round(x1 * f)), max(by0 + 1, round(y1 * f))
    small = np.ascontiguousarray(preview.rgb[by0:by1, bx0:bx1])
    size = (small.shape[1], small.shape[0])
    cand = cv2.resize(candidate, size, interpolation=cv2.INTER_NEAREST) != 0
    ref = cv2.resize(reference, size, interpolation=cv2.INTER_NEAREST) != 0
    hair = hair_mask(srgb_to_lab(small, ccm=ccm), cand, ref, px_per_mm=px_per_mm * f)
    return cv2.resize(hair.view(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)


def _default_measure() -> Measure:
    from .metrics import measure_regions

    return measure_regions


def analyze(
    image_or_path: str | Path | bytes | np.ndarray | LoadedImage,
    *,
    roi: str | Path | np.ndarray = "face",
    mm_per_px: float | None = None,
    chart_pitch_mm: float | None = None,
    measure: Measure | None = None,
    keep_arrays: bool = True,
    find_face: bool = True,
) -> Analysis:
    """Analyse one photo: calibrate, find the face and its regions, measure, judge quality.

    Parameters
    ----------
    image_or_path : path, bytes, ndarray or LoadedImage
        The photo; arrays are (H, W, 3) sRGB uint8/uint16 with orientation already applied.
    roi : {'face', 'full'}, path or ndarray
        ``'face'``: the spec's nine face regions and ``face``. ``'full'``: the whole image as
        one region ``full``. A mask (bool array or PNG path, non-zero = inside): one region
        ``mask``. The same exclusions apply in every mode.
    mm_per_px : float, optional
        Scale given by the caller; otherwise the chart (if ``chart_pitch_mm`` is given) or
        the iris diameter is used, else the scale is unknown.
    chart_pitch_mm : float, optional
        Centre-to-centre patch distance of the chart in the photo. ColorChecker Classic 24
        exists in several physical sizes, so the chart gives a scale only when this is known.
    measure : callable, optional
        Replacement for :func:`exoderm.skinlab.metrics.measure_regions` (same signature).
    keep_arrays : bool
        Keep the image, L*a*b* crop and masks on the result (for overlays and comparison).
    find_face : bool
        Look for a face: its landmarks give the head pose, the iris scale and the eyes, brows,
        lips and hair to exclude. False for a close-up of skin, which holds no whole face:
        what the face mesh finds there is a false detection, whose wild pose would make the
        photo unusable and the pair not comparable. ``roi='face'`` needs it.

    Returns
    -------
    Analysis
        With ``regions`` empty and ``quality.usable`` False (note "no face found") when
        ``roi='face'`` and no face is found.

    Raises
    ------
    SkinlabError
        For unreadable, truncated, greyscale or tiny images and bad ROI masks.
    """
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    t, c = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal t, c
        now, cpu = time.perf_counter(), time.process_time()
        timings[name], cpu_timings[name] = now - t, cpu - c
        t, c = now, cpu

    if mm_per_px is not None and not (np.isfinite(mm_per_px) and mm_per_px > 0):
        raise SkinlabError(f"mm_per_px must be a positive number, got {mm_per_px}")
    mode = roi if isinstance(roi, str) and roi in ("face", "full") else "mask"
    if mode == "face" and not find_face:
        raise ValueError("roi='face' needs the face: find_face must be True")
    loaded = as_loaded(image_or_path)
    rgb = loaded.rgb
    h, w = rgb.shape[:2]
    lap("decode")

    preview = make_preview(rgb, PREVIEW_SIDE)
    chart = detect_chart(rgb, preview=preview)
    cal: Calibration | None = None
    calibration: dict[str, Any] = {"calibrated": False, "chart": None, "delta_e00_mean": None}
    notes: list[str] = []  # for quality.notes
    if chart is not None:
        cal = fit_ccm(chart.patch_srgb)
        trusted = cal.delta_e00_mean <= MAX_CALIBRATION_DE00
        calibration = {
            "calibrated": trusted,
            "chart": CHART_NAME,
            "delta_e00_mean": round(cal.delta_e00_mean, 3),
        }
        if not trusted:
            notes.append(
                f"chart found but its fit residual ΔE00 {cal.delta_e00_mean:.1f} > {MAX_CALIBRATION_DE00}; "
                "not applied"
            )
    ccm = cal.ccm if cal is not None and calibration["calibrated"] else None
    lap("chart")

    lm = detect_face(rgb, preview=preview) if find_face else None
    pose = head_pose(lm) if lm is not None else None
    lap("landmarks")

    scale: dict[str, Any]
    if mm_per_px is not None:
        scale = {"mm_per_px": float(mm_per_px), "source": "caller"}
    elif chart is not None and chart_pitch_mm:
        scale = {"mm_per_px": round(chart_pitch_mm / chart.pitch_px, 6), "source": "chart"}
    elif lm is not None and (s := iris_mm_per_px(lm)) is not None:
        scale = {"mm_per_px": round(s, 6), "source": "iris"}
    else:
        scale = {"mm_per_px": None, "source": None}
    mmpp: float | None = scale["mm_per_px"]

    if mode == "face" and lm is None:
        q = assess_quality(rgb, None, pose=None, mm_per_px=mmpp, face_expected=True)
        q.notes.extend(notes)
        return Analysis(
            loaded.file, w, h, calibration, scale, q, {}, timings, cpu_timings,
            rgb=rgb if keep_arrays else None, chart=chart, ccm=ccm, lossless=loaded.lossless,
        )  # fmt: skip
    roi_mask = None
    if mode == "face":
        assert lm is not None
        box = lm.bbox()
    elif mode == "full":
        box = (0, 0, w, h)
    else:
        roi_mask = _load_roi_mask(roi, (h, w))
        box = _bbox(roi_mask)
    x0, y0, x1, y1 = box
    shape = (y1 - y0, x1 - x0)
    crop_rgb = rgb[y0:y1, x0:x1]  # a view: OpenCV takes strided rows
    if mode == "face":
        assert lm is not None
        labels = region_labels(lm, shape, offset=(x0, y0))
        candidate = (labels != 0).view(np.uint8)
        # nothing outside the regions is measured (in the other modes the cheeks outside the
        # region are the hair reference): L*a*b* is left 0 there
        lab = srgb_to_lab(crop_rgb, ccm=ccm, where=candidate)
    else:
        candidate = np.ones(shape, np.uint8) if roi_mask is None else roi_mask[y0:y1, x0:x1].view(np.uint8)
        lab = srgb_to_lab(crop_rgb, ccm=ccm)
    lap("color")

    # excluded pixels as one uint8 image: glare and deep shadow, the chart, facial features
    excluded = cv2.bitwise_not(cv2.inRange(lab[..., 0], SHADOW_L, GLARE_L))
    if chart is not None:
        chart.draw_mask(excluded, offset=(x0, y0))
    if lm is not None:
        draw_exclusions(lm, excluded, offset=(x0, y0))
    # hair and beard: judged against the cheeks where there is a face, else the region itself
    if lm is not None:
        cheeks = region_labels(lm, shape, offset=(x0, y0)) if mode != "face" else labels
        reference = (cheeks == REGIONS.index("cheek_left") + 1) | (cheeks == REGIONS.index("cheek_right") + 1)
        reference = reference.view(np.uint8)
        # outer eye corners are about 95 mm apart
        px_per_mm = (
            1.0 / mmpp if mmpp else float(np.linalg.norm(lm.points[33, :2] - lm.points[263, :2])) / 95.0
        )
    else:
        reference = candidate
        px_per_mm = 1.0 / mmpp if mmpp else 0.0
    if px_per_mm > 0:
        reference = cv2.bitwise_and(reference, reference, mask=cv2.bitwise_not(excluded))
        hair = _hair_on_preview(preview, ccm, candidate, reference, box, px_per_mm)
        excluded = cv2.bitwise_or(excluded, hair)
    else:
        notes.append("hair and beard not excluded: no face and no scale to judge them by")
    if mode == "face":
        labels[excluded != 0] = 0
        masks = {name: labels == i + 1 for i, name in enumerate(REGIONS)}
        masks["face"] = labels != 0
    else:
        masks = {mode: (candidate != 0) & (excluded == 0)}
    lap("masks")

    regions = (measure or _default_measure())(lab, masks, mm_per_px=mmpp)
    lap("metrics")

    q = assess_quality(
        crop_rgb,
        masks["face" if mode == "face" else mode],
        pose=pose,
        mm_per_px=mmpp,
        face_expected=mode == "face",
    )
    if lm is None and mode != "face" and find_face:
        q.notes.append("no face found: pose unknown")
    q.notes.extend(notes)
    for name, m in masks.items():
        if not m.any():
            q.notes.append(f"region {name} has no skin pixels left after exclusions")
    lap("quality")

    return Analysis(
        loaded.file, w, h, calibration, scale, q, regions, timings, cpu_timings,
        rgb=rgb if keep_arrays else None, box=box, lab=lab if keep_arrays else None,
        masks=masks if keep_arrays else {}, landmarks=lm, chart=chart, ccm=ccm,
        lossless=loaded.lossless,
    )  # fmt: skip
