"""Comparing a follow-up photo with its baseline: comparability, per-region changes, heat map.

Two analyses are ``comparable`` only if (``shared/specs/skin-metrics.md``) head pose differs by
at most 10° on each axis, scale by at most 10 %, both or neither are calibrated and neither is
unusable; ``reasons`` lists what failed. Each metric change carries ``mdc`` (the minimal
detectable change at 95 % from the engine's repeatability study, ``data/repeatability.json``)
and ``beyond_noise`` (``|delta| > mdc``), which is ``null`` whenever the change cannot be
judged: no study for this engine version, a metric that is ``null`` on either side, or photos
that are not comparable.

For the difference heat map the follow-up is aligned to the baseline: a similarity transform
from the face landmarks, refined by ECC (``cv2.findTransformECC``, affine) on a downscaled
grey copy of the face.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import ENGINE_VERSION
from .color import srgb_to_lab
from .io import grey
from .pipeline import Analysis, json_value

__all__ = [
    "MAX_POSE_DIFF_DEG",
    "MAX_SCALE_DIFF",
    "REPEATABILITY_PATH",
    "Alignment",
    "Comparison",
    "align",
    "compare",
    "load_repeatability",
]

MAX_POSE_DIFF_DEG = 10.0
MAX_SCALE_DIFF = 0.10
REPEATABILITY_PATH = Path(__file__).resolve().parent / "data" / "repeatability.json"
_ALIGN_WIDTH = 320  # px: width of the face for ECC refinement and the heat map


@dataclass
class Alignment:
    """Follow-up → baseline alignment in the baseline's face box, at heat-map resolution.

    Attributes
    ----------
    matrix : ndarray
        2x3 affine mapping baseline heat-map pixels to follow-up pixels at the same
        downscale (use with ``cv2.WARP_INVERSE_MAP``).
    scale : float
        Heat-map pixels per full-resolution baseline pixel.
    ecc : float or None
        ECC correlation after refinement (1 = identical); None if ECC did not converge.
    """

    matrix: np.ndarray
    scale: float
    ecc: float | None


@dataclass
class Comparison:
    """The result of :func:`compare`; ``to_dict()`` is the ``compare --json`` record."""

    comparable: bool
    reasons: list[str]
    regions: dict[str, dict[str, dict[str, Any]]]
    before: Analysis
    after: Analysis
    notes: list[str] = field(default_factory=list)
    alignment: Alignment | None = None
    delta_L: np.ndarray | None = field(default=None, repr=False)
    """ΔL* (after − before) on the baseline's face box at heat-map resolution, NaN outside the face."""
    delta_a: np.ndarray | None = field(default=None, repr=False)
    """Δa* (redness) likewise."""

    def to_dict(self) -> dict[str, Any]:
        align = None
        if self.alignment is not None:
            align = {
                "ecc": None if self.alignment.ecc is None else round(self.alignment.ecc, 4),
                "matrix": np.round(self.alignment.matrix, 5).tolist(),
            }
        return {
            "engine_version": ENGINE_VERSION,
            "comparable": self.comparable,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "alignment": align,
            "regions": self.regions,
        }


def load_repeatability(
    path: str | Path | None = None,
) -> tuple[dict[str, dict[str, float]] | None, str | None]:
    """Per-metric SEM/MDC of this engine version.

    Returns
    -------
    metrics : dict or None
        ``{metric_key: {"sem", "mdc", "cv_pct"}}``; None when unavailable.
    note : str or None
        Why it is unavailable.
    """
    p = Path(path) if path is not None else REPEATABILITY_PATH
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        return None, f"no repeatability study ({p.name} missing): mdc unknown, no change is claimed"
    except (OSError, ValueError) as exc:
        return None, f"repeatability study unreadable ({exc}): mdc unknown, no change is claimed"
    if data.get("engine_version") != ENGINE_VERSION:
        return None, (
            f"repeatability study is for engine {data.get('engine_version')}, not {ENGINE_VERSION}: "
            "mdc unknown, no change is claimed"
        )
    return dict(data.get("metrics", {})), None


def _reasons(before: Analysis, after: Analysis) -> list[str]:
    reasons = []
    for tag, a in (("before", before), ("after", after)):
        if not a.quality.usable:
            why = "; ".join(a.quality.notes) or "flagged unusable"
            reasons.append(f"{tag} photo unusable: {why}")
    pb, pa = before.quality.pose, after.quality.pose
    if (pb is None) != (pa is None):
        reasons.append("head pose known in only one photo")
    elif pb is not None and pa is not None:
        for axis in ("yaw", "pitch", "roll"):
            d = pa[axis] - pb[axis]
            if abs(d) > MAX_POSE_DIFF_DEG:
                reasons.append(f"pose differs: {axis} {d:+.1f}° (limit ±{MAX_POSE_DIFF_DEG:.0f}°)")
    sb, sa = before.mm_per_px, after.mm_per_px
    if sb is not None and sa is not None:
        ratio = sa / sb - 1
        if abs(ratio) > MAX_SCALE_DIFF:
            reasons.append(f"scale differs by {100 * ratio:+.1f} % (limit ±{100 * MAX_SCALE_DIFF:.0f} %)")
    elif (sb is None) != (sa is None):
        reasons.append("scale known in only one photo")
    elif before.landmarks is not None and after.landmarks is not None:
        ratio = _iod(after) / _iod(before) - 1
        if abs(ratio) > MAX_SCALE_DIFF:
            reasons.append(f"face size differs by {100 * ratio:+.1f} % (limit ±{100 * MAX_SCALE_DIFF:.0f} %)")
    cb, ca = before.calibration["calibrated"], after.calibration["calibrated"]
    if cb != ca:
        word = {True: "with", False: "without"}
        reasons.append(f"calibration differs: before {word[cb]} chart, after {word[ca]}")
    if set(before.regions) != set(after.regions):
        reasons.append("the photos were analysed with different regions of interest")
    return reasons


def _iod(a: Analysis) -> float:
    assert a.landmarks is not None
    p = a.landmarks.points
    return float(np.linalg.norm(p[33, :2] - p[263, :2]))


@dataclass
class _Pair:
    """Both photos at the heat-map scale: the baseline's face box and the whole follow-up."""

    scale: float
    before: np.ndarray
    after: np.ndarray
    face: np.ndarray  # uint8 baseline face mask (all ones without one)


def _pair(before: Analysis, after: Analysis) -> _Pair | None:
    if before.landmarks is None or after.landmarks is None or before.rgb is None or after.rgb is None:
        return None
    x0, y0, x1, y1 = before.box
    f = min(1.0, _ALIGN_WIDTH / max(1, x1 - x0))
    size = (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
    b_small = cv2.resize(before.rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    ah, aw = after.rgb.shape[:2]
    a_small = cv2.resize(
        after.rgb, (max(1, round(aw * f)), max(1, round(ah * f))), interpolation=cv2.INTER_AREA
    )
    if "face" in before.masks:
        face = cv2.resize(before.masks["face"].view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    else:
        face = np.ones((size[1], size[0]), np.uint8)
    return _Pair(f, b_small, a_small, face)


def _align(before: Analysis, after: Analysis, pair: _Pair) -> Alignment | None:
    assert before.landmarks is not None and after.landmarks is not None
    f = pair.scale
    pb = (before.landmarks.points[:468, :2] - before.box[:2]) * f
    pa = after.landmarks.points[:468, :2] * f
    m, _ = cv2.estimateAffinePartial2D(pb, pa, method=cv2.LMEDS)
    if m is None:
        return None
    template, moving = grey(pair.before), grey(pair.after)
    start = m.astype(np.float32)
    warp, ecc = start, None
    try:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
        cc, found = cv2.findTransformECCWithMask(
            template,
            moving,
            pair.face,
            np.ones(moving.shape, np.uint8),
            start.copy(),
            cv2.MOTION_AFFINE,
            criteria,
            5,
        )
        refined = np.asarray(found, np.float32)
        # keep the landmark estimate if ECC wandered off (more than 3 % of the face width)
        corners = np.array([[0, 0, 1], [template.shape[1], template.shape[0], 1]], np.float32)
        if np.abs(corners @ (refined - start).T).max() <= 0.03 * template.shape[1]:
            warp, ecc = refined, float(cc)
    except cv2.error:
        pass
    return Alignment(warp.astype(np.float64), f, ecc)


def align(before: Analysis, after: Analysis) -> Alignment | None:
    """Align the follow-up to the baseline (landmark similarity, then ECC refinement).

    Returns None when either photo has no face or its arrays were not kept.
    """
    pair = _pair(before, after)
    return None if pair is None else _align(before, after, pair)


def _difference(
    before: Analysis, after: Analysis, pair: _Pair, al: Alignment
) -> tuple[np.ndarray, np.ndarray]:
    """ΔL* and Δa* (after − before) on the baseline's face box, NaN outside the face."""
    h, w = pair.before.shape[:2]
    a_warp = cv2.warpAffine(
        pair.after,
        al.matrix,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    d = srgb_to_lab(a_warp, ccm=after.ccm) - srgb_to_lab(pair.before, ccm=before.ccm)
    d[pair.face == 0] = np.nan
    return d[..., 0], d[..., 1]


def compare(
    before: Analysis,
    after: Analysis,
    *,
    repeatability: str | Path | dict[str, dict[str, float]] | None = None,
    heatmap: bool = True,
) -> Comparison:
    """Compare a follow-up analysis with its baseline.

    Parameters
    ----------
    before, after : Analysis
        Results of :func:`exoderm.skinlab.pipeline.analyze` (with arrays kept for the heat map).
    repeatability : path or dict, optional
        The repeatability study (``{"metric": {"sem", "mdc", "cv_pct"}}`` or the JSON file);
        defaults to the engine's ``data/repeatability.json``.
    heatmap : bool
        Align the photos and compute the ΔL* heat map.

    Returns
    -------
    Comparison
    """
    notes: list[str] = []
    if isinstance(repeatability, dict):
        rep: dict[str, dict[str, float]] | None = repeatability
    else:
        rep, why = load_repeatability(repeatability)
        if why:
            notes.append(why)
    if rep is not None:
        degenerate = sorted(k for k, v in rep.items() if v.get("mdc") is not None and not float(v["mdc"]) > 0)
        if degenerate:
            # a study whose repeats never varied cannot bound the noise of real photos
            notes.append("mdc 0 in the repeatability study, treated as unknown: " + ", ".join(degenerate))
            rep = {k: v for k, v in rep.items() if k not in degenerate}
    reasons = _reasons(before, after)
    comparable = not reasons
    regions: dict[str, dict[str, dict[str, Any]]] = {}
    for name in before.regions:
        if name not in after.regions:
            continue
        mb = before.regions[name].metrics
        ma = after.regions[name].metrics
        out: dict[str, dict[str, Any]] = {}
        for key in mb:
            vb, va = json_value(mb.get(key)), json_value(ma.get(key))
            delta = None if vb is None or va is None else float(va) - float(vb)
            mdc = None
            if rep is not None and key in rep and rep[key].get("mdc") is not None:
                mdc = float(rep[key]["mdc"])
            beyond = None
            if comparable and delta is not None and mdc is not None:
                beyond = bool(abs(delta) > mdc)
            out[key] = {
                "before": vb,
                "after": va,
                "delta": None if delta is None else round(delta, 4),
                "mdc": mdc,
                "beyond_noise": beyond,
            }
        regions[name] = out
    al = dl = da = None
    pair = _pair(before, after) if heatmap else None
    if pair is not None:
        al = _align(before, after, pair)
        if al is not None:
            dl, da = _difference(before, after, pair, al)
    if heatmap and al is None:
        notes.append("no heat map: the photos could not be aligned (no face or arrays not kept)")
    return Comparison(comparable, reasons, regions, before, after, notes, al, dl, da)
