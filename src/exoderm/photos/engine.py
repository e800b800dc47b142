"""The one place where the domain calls skinlab to measure a stored photo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the metrics' aims live in a module of their own: this loads neither NumPy nor OpenCV
from exoderm.skinlab.aims import AIMS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from exoderm.skinlab.capture import CaptureDifference, CaptureStats
    from exoderm.skinlab.pipeline import Analysis

__all__ = [
    "AIMS",
    "Measurement",
    "capture_differences",
    "capture_stats",
    "compare_records",
    "current_version",
    "jpeg_quality",
    "measure_photo",
    "overlay_png",
]


def current_version() -> str:
    """The engine version whose results count now (read at call time: a deploy may change it)."""
    from exoderm import skinlab

    return skinlab.ENGINE_VERSION


@dataclass(frozen=True)
class Measurement:
    roi: str
    record: dict[str, Any]  # the JSON record of shared/specs/skin-metrics.md

    @property
    def engine_version(self) -> str:
        return str(self.record["engine_version"])

    @property
    def usable(self) -> bool:
        return bool(self.record.get("quality", {}).get("usable", False))


def roi_for(view: str) -> str:
    """Face views are measured per face region; a close-up of an area as one region ``full``,
    without looking for a face (it holds none; what the face mesh finds there is a false
    detection whose pose would make the photo unusable)."""
    return "full" if view == "close_up" else "face"


def _analyze(image: Path | bytes, *, view: str, mm_per_px: float | None, keep_arrays: bool) -> Analysis:
    from exoderm.skinlab.pipeline import analyze

    roi = roi_for(view)
    return analyze(image, roi=roi, mm_per_px=mm_per_px, keep_arrays=keep_arrays, find_face=roi == "face")


def measure_photo(image: Path | bytes, *, view: str, mm_per_px: float | None) -> Measurement:
    """Run skinlab on a file (its path or bytes).

    Raises ``skinlab.io.SkinlabError`` for an image it cannot use."""
    record = _analyze(image, view=view, mm_per_px=mm_per_px, keep_arrays=False).to_dict()
    record["file"] = None  # the content-addressed name says nothing; the photo id is the reference
    return Measurement(roi=roi_for(view), record=record)


def overlay_png(
    image: Path | bytes, *, view: str, mm_per_px: float | None, names: Mapping[str, str] | None = None
) -> bytes:
    """PNG of what skinlab measured on the stored file: regions (labelled with ``names``, by
    region key), spots, wrinkles and red areas.

    The stored record keeps no masks, so the photo is analysed again with its arrays kept.
    Raises ``skinlab.io.SkinlabError`` for an image it cannot use."""
    import cv2

    from exoderm.skinlab.overlay import region_overlay

    analysis = _analyze(image, view=view, mm_per_px=mm_per_px, keep_arrays=True)
    ok, png = cv2.imencode(".png", cv2.cvtColor(region_overlay(analysis, names=names), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("the overlay could not be encoded")
    return png.tobytes()


def capture_stats(image: Path | bytes, *, view: str, mm_per_px: float | None) -> CaptureStats:
    """skinlab's quick capture measurement (pose, scale, face size, exposure, white balance, JPEG
    quality) of one image, for the check before upload. Raises ``skinlab.io.SkinlabError`` for a
    bad image."""
    from exoderm.skinlab.capture import capture_stats as measure

    return measure(image, roi=roi_for(view), mm_per_px=mm_per_px)


def jpeg_quality(path: Path) -> int | None:
    """The JPEG quality of an upload as sent, estimated from its quantisation tables (skinlab reads
    only the header, with Pillow); None for PNG, TIFF and HEIC. Read before the upload is
    re-encoded: the stored file's tables are those of the re-encoding."""
    from exoderm.skinlab.jpeg import jpeg_quality as estimate

    return estimate(path)


def capture_differences(baseline: CaptureStats, new: CaptureStats) -> list[CaptureDifference]:
    """What differs between the capture of a new photo and its baseline beyond skinlab's limits
    (each with kind, value, limit and axis)."""
    from exoderm.skinlab.capture import capture_differences as differences

    return differences(baseline, new)


def compare_records(
    before: dict[str, Any], after: dict[str, Any], *, lossless: tuple[bool | None, bool | None] = (None, None)
) -> dict[str, Any]:
    """skinlab's comparison of two stored measurement records (no image is read again).

    ``lossless`` says whether each photo's stored file is lossless (PNG) or lossy (JPEG): the
    records do not keep it, and skinlab does not judge the compression-sensitive metrics of a
    mixed pair. Returns ``{"comparable", "reasons", "notes", "regions": {region: {metric:
    {"before", "after", "delta", "mdc", "beyond_noise"}}}}`` as ``exoderm compare --json`` does.
    Without the arrays the face-size check that needs landmarks is not made; scale, pose,
    calibration and usability are.
    """
    from exoderm.skinlab.compare import compare
    from exoderm.skinlab.pipeline import Analysis

    a, b = Analysis.from_dict(before), Analysis.from_dict(after)
    a.lossless, b.lossless = lossless
    result = compare(a, b, heatmap=False)
    return {
        "comparable": result.comparable,
        "reasons": list(result.reasons),
        "notes": list(result.notes),
        "regions": result.regions,
    }
