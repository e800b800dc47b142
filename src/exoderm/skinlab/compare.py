"""Comparing a follow-up photo with its baseline: comparability, per-region changes, heat map.

Two analyses are ``comparable`` only if (``shared/specs/skin-metrics.md``) head pose differs by
at most 10° on each axis, scale by at most 10 %, both or neither are calibrated and neither is
unusable; ``reasons`` lists what failed. Each metric change carries ``mdc`` (the minimal
detectable change at 95 % from the engine's repeatability study, ``data/repeatability.json``)
and ``beyond_noise`` (``|delta| > mdc``), which is ``null`` whenever the change cannot be
judged: no study for this engine version, a metric that is ``null`` on either side, or photos
that are not comparable.

The noise of a metric depends on the scale of the photo (a one-pixel spot is 0.0025 mm² in a
close-up at 0.05 mm/px and 0.2 mm² in a face photo at 0.46 mm/px) and, in a face, on the region
(the masks of small regions move more with the face mesh). The study is therefore split into
**scale bands** (:class:`MdcBand`): each names the study it comes from, the scale that study was
run at and the range of scales it applies to, with a per-metric mdc and, where the study has
regions, a per-region one. :func:`compare` picks the band by the baseline's ``scale.mm_per_px``
and, per region, takes that region's own mdc if the band has one, else the band's metric-level
value (:meth:`Repeatability.table`). A scale outside every band's range uses the nearest band,
and an unknown scale the largest mdc of all bands, each with a note in ``notes``.

Exposure and white balance move the colour medians of uncalibrated photos by several L*a*b*
units; a colour chart in the frame takes that out. A band may therefore carry a ``calibrated``
twin (:attr:`MdcBand.calibrated`) with the values of studies captured with a chart, for the
colour medians: two calibrated photos whose charts fit as well as the studies' did are judged
against those (a ``calibrated_study`` note says so), any other pair against the uncalibrated
values (a ``chart_fit`` note says why when both were calibrated: a phone's local tone mapping,
which no chart corrects, shows as a poor fit).

The study's captures are all JPEGs. When one photo is lossless (PNG, TIFF) and the other lossy
(JPEG, HEIC), as :attr:`Analysis.lossless` tells, compression alone moves the metrics of
:data:`COMPRESSION_SENSITIVE` beyond their mdc, so those are not judged for the pair (a note
says so); the others are.

The study's re-captures differ in focus too: the phantom's by Gaussian blur σ 0.48 to 0.72 px,
the face studies' by σ 0 to 1 px (:data:`FOCUS_COVERED_PX`), so every mdc already holds the
noise of that much focus difference, and a pair whose blur differs by no more is judged as any
other. Blur softens the finest structures first: where the photos of a pair differ in
:attr:`Quality.effective_blur_mm` (the difference ``sqrt(|σ_after² − σ_before²|)`` of
:func:`~exoderm.skinlab.quality.blur_difference`) by more than the study behind a metric's mdc
covered, and by more than that metric's :data:`FOCUS_LIMITS_MM` (below which focus does not move
it by its mdc), the metric is not judged for the pair (a note says so); the others are. A record
without the effective blur (older engines) or without a scale is not judged on focus.

Phone cameras sharpen, denoise and tone-map before they write the file. The study's captures are
unsharpened; the phone study (``bench/skinlab_phone.py``, docs/benchmarks.md "skinlab under phone
processing") found that the mdc still holds the same-pipeline noise of the spot, line and pore
metrics under a phone's ordinary default processing, but that strong sharpening (a "vivid"
Android mode) raises the noise of the metrics of :data:`PROCESSING_SENSITIVE` above it, and that
a switch of pipeline between visits biases them by one to several mdc. How strongly a photo was
sharpened is measured from its pixels, :attr:`Quality.edge_overshoot_pct`
(:func:`~exoderm.skinlab.quality.edge_overshoot_pct`). As for focus, the limits are what the
study behind a metric's mdc covered: where either photo's overshoot exceeds that study's
:data:`EDGE_OVERSHOOT_COVERED_PCT`, or where the two photos' overshoots differ by more than its
:data:`EDGE_OVERSHOOT_DIFF_COVERED_PCT` and by more than :data:`EDGE_OVERSHOOT_SAME_PIPELINE_REL`
of the larger, a metric of :data:`PROCESSING_SENSITIVE` is not judged (a note says so and what to
do, each time); the others are judged as usual. A record without the overshoot (older engines)
is not judged on processing.

For the difference heat map the follow-up is aligned to the baseline: a similarity transform
from the face landmarks, refined by ECC (``cv2.findTransformECC``, affine) on a downscaled
grey copy of the face.

Reasons and notes are :class:`Remark` s. Kinds of reasons: ``unusable`` (``photo`` before or
after, ``why`` the photo's quality notes, ``problems`` the remarks of
:func:`~exoderm.skinlab.quality.usability_problems`), ``pose`` (``axis``, ``value`` in degrees,
``limit``), ``pose_unknown``, ``scale`` and ``face_size`` (``value`` relative, ``limit``),
``scale_unknown``, ``calibration`` (``before``, ``after``: whether each was calibrated),
``roi``. Kinds of notes: ``no_study`` (``detail``), ``calibrated_study``, ``chart_fit``
(``fit``, ``limit``: the worse chart's mean ΔE00, the twin's limit), ``scale_outside``
(``mm_per_px``, ``low``, ``high``, ``band``), ``scale_unknown`` (``bands``), ``mdc_zero``,
``unstudied`` and ``compression`` (``metrics``; ``photo``: the lossy one), ``focus`` (``metrics``;
``photo``: the softer one, ``value``: the blur difference in mm), ``sharpened`` (``metrics``;
``photo``: ``before``, ``after`` or ``both``, ``value``: the larger overshoot in %, ``limit``),
``processing_differs`` (``metrics``; ``before``, ``after``: the overshoots in %, ``limit``: the
largest difference covered), ``no_heat_map``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import ENGINE_VERSION
from .color import srgb_to_lab
from .io import grey
from .metrics import PORE_MAX_MM_PER_PX
from .pipeline import Analysis, json_value
from .quality import blur_difference, usability_problems
from .remark import Remark

__all__ = [
    "COMPRESSION_SENSITIVE",
    "EDGE_OVERSHOOT_COVERED_PCT",
    "EDGE_OVERSHOOT_DIFF_COVERED_PCT",
    "EDGE_OVERSHOOT_SAME_PIPELINE_REL",
    "FOCUS_LIMITS_MM",
    "MAX_POSE_DIFF_DEG",
    "MAX_SCALE_DIFF",
    "PROCESSING_SENSITIVE",
    "REPEATABILITY_PATH",
    "Alignment",
    "Comparison",
    "MdcBand",
    "MdcTable",
    "Remark",
    "Repeatability",
    "align",
    "compare",
    "compression_differs",
    "focus_limit_mm",
    "load_repeatability",
    "sharpening_limit_pct",
]

MAX_POSE_DIFF_DEG = 10.0
MAX_SCALE_DIFF = 0.10
REPEATABILITY_PATH = Path(__file__).resolve().parent / "data" / "repeatability.json"
COMPRESSION_SENSITIVE = frozenset(
    {
        "spot_count",
        "spot_area_mm2",
        "spot_area_pct",
        "red_area_pct",
        "a_excess_mean",
        "pore_count",
        "pore_density",
    }
)
"""Metrics that lossy compression by itself moves beyond their mdc (JPEG removes one-pixel spots,
pores and part of the a* excess): measured with lossless baselines against JPEG re-captures of
the face and the phantom (``bench/skinlab_repeatability.py``, the file-format rows)."""
FOCUS_LIMITS_MM = {
    "texture_rms": 0.04,
    "wrinkle_count": 0.2,
    "wrinkle_length_mm": 0.08,
    "wrinkle_density": 0.08,
    "pore_count": 0.03,
    "pore_density": 0.03,
    "spot_area_mm2": 0.1,
    "spot_area_pct": 0.1,
    "spot_count": 0.2,
}
"""The blur difference (mm, :func:`~exoderm.skinlab.quality.blur_difference`) beyond which focus
alone moves each fine metric by its mdc, from ``bench/skinlab_focus.py`` (docs/benchmarks.md,
"skinlab focus and effective blur", engine 1.5.0): phantoms captured at 0.05, 0.1, 0.15 and 0.2
mm/px with Gaussian blur σ 0.5 px (the repeatability study's focus) to 2 px, the smallest over
the scales, rounded down. ``texture_rms`` (mdc 0.036 % of L*+16 since 1.5.0, a third of 1.2.0's
in its units then) reaches its mdc at 0.047 to 0.062 mm; ``wrinkle_length_mm`` at 0.089 to 0.099
mm (0.05 to 0.15 mm/px; too few lines are resolved at 0.2 mm/px), ``wrinkle_count`` at 0.26 mm;
``pore_count`` (measured at 0.05 mm/px or finer only) at 0.035 mm; the finest spots' area at
0.117 mm at 0.1 mm/px, where the close-up band's small mdc applies, and their count at 0.24 mm at
0.15 mm/px. The densities and percentages follow their lengths and areas (``wrinkle_density``
the stricter of length and count). One limit per metric for every scale: at face scale, where the
spot metrics' mdc is larger, that is stricter than needed (a metric left unjudged, never a false
change). A pair is judged up to this or up to what the study behind the mdc covered
(:data:`FOCUS_COVERED_PX`), whichever is larger: the first alone left ordinary re-captures of the
face study (σ 0 to 1 px, up to 0.47 mm at its scale) unjudged."""
FOCUS_COVERED_PX = {"phantom": 0.65, "real face, finer": 2.15, "real face": 1.5}
"""The largest focus difference (px, :func:`~exoderm.skinlab.quality.blur_difference` of two
re-captures as the estimator reads them) within each study of ``data/repeatability.json``, so
that its mdc holds the noise of that much focus: measured by ``bench/skinlab_focus.py`` on the
studies' own capture models and seeds (the phantom's σ 0.6 px ±20 %: 0.63 px over its 40
captures; the real face's σ 0 to 1 px: 1.45 px over 40 and the original; the finer face's: 2.11
px over 20 and the original), rounded up to 0.05 px. In pixels because the studies perturb in
pixels, as a camera defocuses, and a band applies its study's noise to every scale it spans; in
mm at the baseline's scale when :func:`compare` applies it. More than the σ drawn because the
estimator's own scatter adds to it, most on the finer face, the photo upscaled 3.3 times, whose
edges are soft (σ about 5 px): a focus change is read less exactly on soft edges. Limits taken
from the blur drawn instead would leave the study's own re-captures unjudged."""
PROCESSING_SENSITIVE = frozenset(
    {
        "spot_count",
        "spot_area_mm2",
        "spot_area_pct",
        "wrinkle_count",
        "wrinkle_length_mm",
        "wrinkle_density",
        "pore_count",
        "pore_density",
        "a_excess_mean",
        "texture_rms",
        "tone_sd_L",
    }
)
"""Metrics whose noise strong sharpening raises beyond the mdc, and which a change of camera
pipeline between visits moves by half an mdc or more (docs/benchmarks.md, skinlab under phone
processing). Through the phone study's ``android-aggressive`` profile (unsharp masks r 0.8 px x
0.5 and r 2 px x 1.0) the SD of the thresholded metrics was 1.5 to 40 times the unsharpened
capture's (spot count CV 4.1 % against 0, wrinkle count 9.1 % against 0, pore count 11.7 %
against 5.9 %, ``a_excess_mean`` 3.0 % against 1.4 %) and 58 of 66 same-pipeline pairs of one
unchanged phantom were called changed: amplified noise crosses the detection thresholds now here,
now there. Texture and tone unevenness in engine 1.3.0's relative units, whose mdc is six times
finer than 1.2.0's, were called changed in 30 and 22 of those 66 pairs (SD 0.017 and 0.028
against mdc 0.019 and 0.041; 12 captures, measured for this change). Every processed profile
biases texture and tone upwards (``texture_rms`` +1.8 mdc through ``iphone-default``, +6.1 through
``android-aggressive``, in 1.2.0's units), and ``android-aggressive`` the spots, lines and pores by
1.2 to 7.5 mdc. ``red_area_pct`` and the colour medians stayed within their mdc (no false change
in 198 pairs): they are judged whatever the processing."""
EDGE_OVERSHOOT_COVERED_PCT = {"phantom": 6.0, "real face": 16.0, "real face, finer": 5.0}
"""The strongest sharpening (:attr:`Quality.edge_overshoot_pct`, %) whose noise each study's mdc
is taken to hold, per study of ``data/repeatability.json``: the largest overshoot read on the
captures behind it, a quarter more (one pipeline's readings spread by about ±22 % between skins,
more than one study design shows) and rounded up to a whole % (``edge_overshoot_coverage`` in
``bench/skinlab_phone.py``; docs/benchmarks.md, "How strongly the captures were sharpened"). The
phantom's: its own unsharpened captures (0.2 to 0.7 %) and captures of it and of six further
designs through the phone study's ordinary profiles, whose same-pipeline pairs the mdc of the
spot, line and pore metrics judged with no more false changes than unsharpened ones
(``iphone-default`` 1.9 to 4.1 %, ``android-default`` 0.3 to 2.8 %); through
``android-aggressive``, whose noise it does not hold, the study's phantom reads 13 to 16 %. The
real face's captures read 5.2 to 12.2 %, the finer face's 3.1 to 3.5 %: the halo that the photo's
own processing and its bicubic upscaling left on the face's edges (a measure from the pixels cannot
tell a scene's halo from a camera's), so their mdc holds that much. The real face's are engine
1.3.0's readings: since the estimator needs 150 step-like edges its 512 px captures read none
(rerun on 1.5.0), and a pair without a reading is judged as unsharpened."""
EDGE_OVERSHOOT_DIFF_COVERED_PCT = {"phantom": 3.0, "real face": 9.0, "real face, finer": 1.0}
"""The largest difference of :attr:`Quality.edge_overshoot_pct` (%) between two captures of one
pipeline and skin among the same captures, a quarter more, rounded up to a whole % (the
phantom's: 0.4 unsharpened, up to 1.8 through ``iphone-default`` and 1.6 through
``android-default``; the real face's 7.0, from its captures' focus σ 0 to 1 px, which softens the
halo; the finer face's 0.5): within it, or within :data:`EDGE_OVERSHOOT_SAME_PIPELINE_REL`, two
photos count as processed alike."""
EDGE_OVERSHOOT_SAME_PIPELINE_REL = 0.25
"""Two photos whose overshoots differ by at most this share of the larger also count as
processed alike: the halo, and the noise it amplifies, grow with the sharpening, and so does
the shot-to-shot spread of one pipeline's readings (in the phone study's 12 captures of its
phantom, the largest difference was 0.17 of the largest reading through ``android-aggressive``
and 0.22 through ``iphone-default``; near the unsharpened floor the absolute difference above
governs). 0.17 a quarter more, rounded up to a quarter. Without it a pair through one strongly sharpening
pipeline (13 to 16 %) would count as two pipelines."""
_FOCUS_FINEST_STUDY = "phantom"
"""The study whose coverage (of focus, of sharpening) applies where the source of an mdc is not
known (bare tables, old files): the smallest, so that a pair is never judged beyond what some
study covered."""
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


def focus_limit_mm(mm_per_px: float | None, *, face: bool = False) -> float:
    """The smallest blur difference (mm) beyond which :func:`compare` leaves a fine metric of a
    pair at this baseline scale unjudged (:func:`_focus_limit_mm`).

    ``face``: the photos are judged in face regions (a face was found), else in one region such
    as a close-up's ``full``. Pores count only at
    :data:`~exoderm.skinlab.metrics.PORE_MAX_MM_PER_PX` or finer (or at an unknown scale), and
    metrics the band's face study could not measure are never judged in face regions. With the
    scale unknown the limit is the metrics' own: :func:`compare` then judges no focus at all (the
    effective blur in mm is unknown).
    """
    study, _ = load_repeatability()
    table = None if study is None else study.table(mm_per_px)[0]
    region = "face" if face else "full"
    pores = mm_per_px is None or mm_per_px <= PORE_MAX_MM_PER_PX
    limits = [
        _focus_limit_mm(table, region, key, mm_per_px)
        for key in FOCUS_LIMITS_MM
        if (pores or not key.startswith("pore")) and (table is None or not table.unstudied(region, key))
    ]
    return min(limits)


def sharpening_limit_pct(mm_per_px: float | None, *, face: bool = False) -> float:
    """The edge overshoot (%, :attr:`Quality.edge_overshoot_pct`) beyond which :func:`compare`
    leaves some metric of :data:`PROCESSING_SENSITIVE` of a photo at this baseline scale unjudged:
    the smallest coverage of the studies behind their mdc (in face regions with ``face``, else in
    one region such as a close-up's ``full``)."""
    study, _ = load_repeatability()
    table = None if study is None else study.table(mm_per_px)[0]
    region = "face" if face else "full"
    return min(_sharpening_covered_pct(table, region, key)[0] for key in PROCESSING_SENSITIVE)


def _focus_limit_mm(table: MdcTable | None, region: str, key: str, mm_per_px: float | None) -> float:
    """The blur difference (mm) beyond which ``key`` in ``region`` is not judged: what the study
    behind its mdc covered (:meth:`MdcTable.focus_covered_px` at the baseline's scale), or, where
    that is less, the blur at which focus alone moves the metric by its mdc
    (:data:`FOCUS_LIMITS_MM`); metrics without one are judged whatever the focus."""
    own = FOCUS_LIMITS_MM.get(key, math.inf)
    if mm_per_px is None:
        return own
    covered = _focus_covered_px(None) if table is None else table.focus_covered_px(region, key)
    return max(own, covered * mm_per_px)


def _processing(
    table: MdcTable | None, region: str, key: str, before_pct: float | None, after_pct: float | None
) -> tuple[list[str], float] | float | None:
    """Why the camera's processing leaves ``key`` (of :data:`PROCESSING_SENSITIVE`) in ``region``
    unjudged, if it does: the photos whose edge overshoot exceeds what the study behind its mdc
    covered, and that coverage; else, when the photos differ by more than the difference it
    covered and by more than :data:`EDGE_OVERSHOOT_SAME_PIPELINE_REL` of the larger, that
    difference; None: judged."""
    covered, difference_covered = _sharpening_covered_pct(table, region, key)
    beyond = [
        tag
        for tag, pct in (("before", before_pct), ("after", after_pct))
        if pct is not None and pct > covered
    ]
    if beyond:
        return beyond, covered
    if before_pct is None or after_pct is None:
        return None
    difference = abs(after_pct - before_pct)
    if difference > max(difference_covered, EDGE_OVERSHOOT_SAME_PIPELINE_REL * max(before_pct, after_pct)):
        return difference_covered
    return None


_CAPTURE_ADVICE = (
    "take the photos with the camera's sharpening, beauty, HDR and scene optimisation turned off, "
    "or in its Pro or RAW mode, and with one device and mode at every visit"
)
"""What the clinic can do about processing (docs/benchmarks.md, "What the processing raises")."""


def _processing_notes(
    before_pct: float | None,
    after_pct: float | None,
    sharpened_away: dict[str, tuple[list[str], float]],
    processed_away: dict[str, float],
) -> list[Remark]:
    """The notes on the metrics the camera's processing left unjudged (kinds ``sharpened`` and
    ``processing_differs``), each with the smallest coverage that applied to its metrics."""
    notes = []
    if sharpened_away:
        listed = sorted(sharpened_away)
        photos = {tag for tags, _ in sharpened_away.values() for tag in tags}
        photo = "both" if len(photos) == 2 else photos.pop()
        strongest = max(v for v in (before_pct, after_pct) if v is not None)
        limit = min(limit for _, limit in sharpened_away.values())
        which = "both photos look" if photo == "both" else f"the {photo} photo looks"
        notes.append(
            Remark(
                f"{which} strongly sharpened by the camera (edges overshoot by {strongest:.0f} % of "
                f"their contrast, more than the {limit:.0f} % the repeatability study covered): "
                f"such processing alone changes these, so they are not judged: {', '.join(listed)}; "
                f"{_CAPTURE_ADVICE}",
                "sharpened",
                metrics=listed,
                photo=photo,
                value=strongest,
                limit=limit,
            )
        )
    if processed_away:
        listed = sorted(processed_away)
        limit = min(processed_away.values())
        assert before_pct is not None and after_pct is not None
        notes.append(
            Remark(
                f"the camera processed the two photos differently (edges overshoot by {before_pct:.1f} % "
                f"before and {after_pct:.1f} % after, a difference beyond the {limit:.0f} % the "
                f"repeatability study covered): a change of device or camera mode alone changes "
                f"these, so they are not judged: {', '.join(listed)}; {_CAPTURE_ADVICE}",
                "processing_differs",
                metrics=listed,
                before=before_pct,
                after=after_pct,
                limit=limit,
            )
        )
    return notes


def compression_differs(before_lossless: bool | None, after_lossless: bool | None) -> bool:
    """Whether one photo is known to be lossless and the other known to be lossy."""
    return None not in (before_lossless, after_lossless) and before_lossless != after_lossless


@dataclass
class Comparison:
    """The result of :func:`compare`; ``to_dict()`` is the ``compare --json`` record."""

    comparable: bool
    reasons: list[Remark]
    regions: dict[str, dict[str, dict[str, Any]]]
    before: Analysis
    after: Analysis
    notes: list[Remark] = field(default_factory=list)
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


Entry = dict[str, float]
"""One metric's repeatability: ``{"sem", "mdc", "cv_pct"}`` (only ``mdc`` is required)."""


@dataclass(frozen=True)
class MdcBand:
    """The repeatability of the metrics for photos in one range of scales.

    Attributes
    ----------
    name : str
        ``close_up``, ``face``, ... (``all`` for a study without bands).
    study : str
        The study the values come from (``phantom``, ``real face``).
    study_mm_per_px : float or None
        The scale the study was run at.
    mm_per_px : tuple of float or None
        ``(low, high)``: the scales the band applies to; None: every scale.
    metrics : dict
        ``{metric: Entry}``, the band's value for a region it has no own value for.
    regions : dict
        ``{region: {metric: Entry}}``, the region's own values where the study has regions.
    calibrated : MdcBand or None
        The same band for two photos that a colour chart calibrated: the values of the studies
        with a chart in the frame for the metrics they cover (the colour medians), the others
        as above. None: no calibrated study, calibrated photos take the values above.
    chart_fit_de00 : float or None
        Of a calibrated twin: the worst chart fit (mean ΔE00 of the colour correction on the
        chart) for which its values hold, from its studies; None: any fit.
    sources : dict
        ``{metric: study}`` where the band's metric-level value comes from (``phantom``,
        ``real face (<region>)``); empty when the file does not say.
    regions_study : str or None
        The study of the regions' own values (``real face``, ``real face, finer``).
    """

    name: str
    study: str
    study_mm_per_px: float | None
    mm_per_px: tuple[float, float] | None
    metrics: dict[str, Entry]
    regions: dict[str, dict[str, Entry]] = field(default_factory=dict)
    calibrated: MdcBand | None = None
    sources: dict[str, str] = field(default_factory=dict)
    regions_study: str | None = None
    chart_fit_de00: float | None = None

    def with_calibrated(self, data: Mapping[str, Any]) -> MdcBand:
        """This band with its ``calibrated`` twin made from a band's ``calibrated`` JSON object
        (``{"study", "metrics", "regions"}``, values for some metrics only)."""
        metrics = {**self.metrics, **_entries(data["metrics"])}
        regions = {name: dict(rows) for name, rows in self.regions.items()}
        for name, rows in data.get("regions", {}).items():
            regions.setdefault(str(name), {}).update(_entries(rows))
        study = str(data.get("study", f"{self.study} with a colour chart"))
        sources = {**self.sources, **{str(k): str(v) for k, v in data.get("source", {}).items()}}
        fit = data.get("chart_fit_de00")
        twin = replace(
            self,
            study=study,
            metrics=metrics,
            regions=regions,
            sources=sources,
            chart_fit_de00=None if fit is None else float(fit),
        )
        return replace(self, calibrated=twin)

    def distance(self, mm_per_px: float) -> float:
        """How far (in log scale) ``mm_per_px`` lies outside the band's range; 0 inside."""
        if self.mm_per_px is None:
            return 0.0
        lo, hi = self.mm_per_px
        if mm_per_px < lo:
            return math.log(lo / mm_per_px)
        if mm_per_px > hi:
            return math.log(mm_per_px / hi)
        return 0.0

    def describe(self) -> str:
        at = "" if self.study_mm_per_px is None else f" at {self.study_mm_per_px:.3g} mm/px"
        return f"the {self.name.replace('_', '-')} band ({self.study} study{at})"


@dataclass(frozen=True)
class MdcTable:
    """The mdc values that apply to one comparison: per metric and, where known, per region,
    with the studies they come from (:attr:`MdcBand.sources`, :attr:`MdcBand.regions_study`)."""

    metrics: dict[str, Entry]
    regions: dict[str, dict[str, Entry]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    regions_study: str | None = None

    def mdc(self, region: str, key: str) -> float | None:
        """The region's own mdc if it has a positive one, else the metric-level mdc (None: unknown).

        A region listed with a metric but no mdc is one whose study could not measure that metric
        (wrinkles and texture of the real face at its coarse scale): nothing bounds its noise
        there, so the mdc is unknown rather than another study's."""
        if self.unstudied(region, key):
            return None
        own = self.regions.get(region, {}).get(key, {}).get("mdc")
        if own is not None and own > 0:
            return float(own)
        e = self.metrics.get(key)
        return None if e is None or e.get("mdc") is None else float(e["mdc"])

    def unstudied(self, region: str, key: str) -> bool:
        """Whether the region's study could not measure ``key`` (see :meth:`mdc`)."""
        own = self.regions.get(region, {}).get(key)
        return own is not None and own.get("mdc") is None

    def study(self, region: str, key: str) -> str | None:
        """The study behind :meth:`mdc` of ``key`` in ``region``: the regions' study where the
        region has its own entry (its noise was measured there, also where the phantom's larger
        value is used), else the study of the metric-level value (None: not known)."""
        if region in self.regions and key in self.regions[region]:
            return self.regions_study
        return self.sources.get(key)

    def focus_covered_px(self, region: str, key: str) -> float:
        """The focus difference (px, :data:`FOCUS_COVERED_PX`) within the study behind
        :meth:`mdc` of ``key`` in ``region`` (:meth:`study`)."""
        return _focus_covered_px(self.study(region, key))


def _covered(coverage: Mapping[str, float], study: str | None) -> float:
    """A study's value in ``coverage`` (:data:`FOCUS_COVERED_PX`, :data:`EDGE_OVERSHOOT_COVERED_PCT`,
    ...), the study named as in the file (``real face (cheek_left)``, ``phantom with a chart``);
    the finest study's where it is unknown."""
    for name in sorted(coverage, key=len, reverse=True):  # "real face, finer" first
        if study is not None and study.startswith(name):
            return coverage[name]
    return coverage[_FOCUS_FINEST_STUDY]


def _focus_covered_px(study: str | None) -> float:
    """:data:`FOCUS_COVERED_PX` of a study (:func:`_covered`)."""
    return _covered(FOCUS_COVERED_PX, study)


def _sharpening_covered_pct(table: MdcTable | None, region: str, key: str) -> tuple[float, float]:
    """The largest edge overshoot and overshoot difference (%) the study behind ``key``'s mdc in
    ``region`` covered (:data:`EDGE_OVERSHOOT_COVERED_PCT`, :data:`EDGE_OVERSHOOT_DIFF_COVERED_PCT`)."""
    study = None if table is None else table.study(region, key)
    return _covered(EDGE_OVERSHOOT_COVERED_PCT, study), _covered(EDGE_OVERSHOOT_DIFF_COVERED_PCT, study)


@dataclass(frozen=True)
class Repeatability:
    """The engine's repeatability study as :func:`compare` uses it: one or more scale bands."""

    bands: tuple[MdcBand, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Repeatability:
        """From the JSON of ``data/repeatability.json`` or from a bare metric table.

        A mapping with ``bands`` is the current file. One with ``metrics`` but no ``bands`` (the
        format before the scale bands) and a bare ``{metric: {"sem", "mdc", ...}}``
        table are read as one band that applies at every scale.

        Raises
        ------
        ValueError, TypeError, KeyError
            When the mapping has neither shape.
        """
        if "bands" in data:
            bands = []
            for b in data["bands"]:
                rng = b.get("mm_per_px")
                band = MdcBand(
                    name=str(b["name"]),
                    study=str(b.get("study", b["name"])),
                    study_mm_per_px=None if b.get("study_mm_per_px") is None else float(b["study_mm_per_px"]),
                    mm_per_px=None if rng is None else (float(rng[0]), float(rng[1])),
                    metrics=_entries(b["metrics"]),
                    regions={str(r): _entries(m) for r, m in b.get("regions", {}).items()},
                    sources={str(k): str(v) for k, v in b.get("source", {}).items()},
                    regions_study=None if b.get("regions_study") is None else str(b["regions_study"]),
                )
                bands.append(band.with_calibrated(b["calibrated"]) if "calibrated" in b else band)
            if not bands:
                raise ValueError("the study has no scale bands")
            return cls(tuple(bands))
        table = data["metrics"] if isinstance(data.get("metrics"), Mapping) else data
        return cls((MdcBand("all", "repeatability", None, None, _entries(table)),))

    def table(
        self, mm_per_px: float | None, *, chart_fit: float | None = None
    ) -> tuple[MdcTable, list[Remark]]:
        """The mdc values for a baseline at ``mm_per_px``, and notes on how they were chosen.

        The band whose range holds the scale (on a boundary, the coarser band: its values are
        the larger ones); outside every range the nearest band, with a note; an unknown scale
        takes for each metric the largest metric-level mdc of all bands, with a note.
        ``chart_fit``: both photos were calibrated by a colour chart, the worse chart fitting
        with this mean ΔE00; the bands' calibrated values apply where the study has them and
        the fit is within their limit, with a note either way.
        """
        notes: list[Remark] = []
        bands = self.bands
        twins = [b.calibrated for b in bands if b.calibrated is not None]
        if chart_fit is not None and twins:
            limits = [t.chart_fit_de00 for t in twins if t.chart_fit_de00 is not None]
            limit = min(limits) if limits else None
            if limit is None or chart_fit <= limit:
                bands = tuple(b.calibrated or b for b in bands)
                notes.append(
                    Remark(
                        "both photos calibrated by a colour chart: the colour medians are judged "
                        "against the repeatability of calibrated photos",
                        "calibrated_study",
                    )
                )
            else:
                notes.append(
                    Remark(
                        f"both photos calibrated by a colour chart, but a chart fits with mean ΔE00 "
                        f"{chart_fit:.2f}, worse than the studies with a chart (up to {limit:g}): the "
                        "camera's local tone mapping (a phone's default mode) or uneven light, which "
                        "a chart does not correct; the colour medians are judged as for "
                        "uncalibrated photos",
                        "chart_fit",
                        fit=chart_fit,
                        limit=limit,
                    )
                )
        if len(bands) == 1:
            band = bands[0]
            if mm_per_px is not None and band.distance(mm_per_px) > 0:
                notes.append(self._outside(mm_per_px, band))
            return _table(band), notes
        if mm_per_px is None:
            largest: dict[str, Entry] = {}
            for band in bands:
                for key, e in band.metrics.items():
                    if e.get("mdc") is None:
                        continue
                    if key not in largest or float(e["mdc"]) > float(largest[key]["mdc"]):
                        largest[key] = e
            names = [b.name.replace("_", "-") for b in bands]
            return MdcTable(largest), [
                *notes,
                Remark(
                    "scale unknown: each metric's mdc is the largest of the repeatability study's "
                    "scale bands (" + ", ".join(names) + ")",
                    "scale_unknown",
                    bands=names,
                ),
            ]
        inside = [b for b in bands if b.distance(mm_per_px) == 0]
        if inside:
            band = max(inside, key=lambda b: b.study_mm_per_px or 0.0)
            return _table(band), notes
        band = min(bands, key=lambda b: b.distance(mm_per_px))
        return _table(band), [*notes, self._outside(mm_per_px, band)]

    def _outside(self, mm_per_px: float, band: MdcBand) -> Remark:
        ranges = [b.mm_per_px for b in self.bands if b.mm_per_px is not None]
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        return Remark(
            f"scale {mm_per_px:.3g} mm/px is outside the range of the repeatability study "
            f"({lo:.3g} to {hi:.3g} mm/px): the mdc of the nearest scale band, "
            f"{band.describe()}, is used",
            "scale_outside",
            mm_per_px=mm_per_px,
            low=lo,
            high=hi,
            band=band.name.replace("_", "-"),
        )


def _table(band: MdcBand) -> MdcTable:
    return MdcTable(band.metrics, band.regions, band.sources, band.regions_study)


def _entries(table: Mapping[str, Any]) -> dict[str, Entry]:
    out = {}
    for key, e in table.items():
        if not isinstance(e, Mapping):
            raise TypeError(f"{key}: expected an object with an mdc, got {e!r}")
        out[str(key)] = {k: float(v) for k, v in e.items() if v is not None}
    return out


def load_repeatability(path: str | Path | None = None) -> tuple[Repeatability | None, Remark | None]:
    """The repeatability study (mdc per scale band, metric and region) of this engine version.

    A file of another engine version, a missing or unreadable one or one of neither known shape
    gives None: mdc unknown, no change is claimed. A file in the format before the scale bands
    (``{"engine_version", "metrics": {metric: {"sem", "mdc", "cv_pct"}}}``, no ``bands``) is
    still read, as one band that applies at every scale and to every region.

    Returns
    -------
    study : Repeatability or None
        None when unavailable.
    note : Remark or None
        Why it is unavailable (kind ``no_study``).
    """

    p = Path(path) if path is not None else REPEATABILITY_PATH
    try:
        stat = p.stat()
    except FileNotFoundError:
        return _unavailable(f"no repeatability study ({p.name} missing)")
    except OSError as exc:
        return _unavailable(f"repeatability study unreadable ({exc})")
    return _read_study(p, stat.st_mtime_ns, stat.st_size)


def _unavailable(detail: str) -> tuple[None, Remark]:
    return None, Remark(f"{detail}: mdc unknown, no change is claimed", "no_study", detail=detail)


@functools.lru_cache(maxsize=8)
def _read_study(path: Path, mtime_ns: int, size: int) -> tuple[Repeatability | None, Remark | None]:
    """:func:`load_repeatability` of one version of the file (its time and size in the key): every
    comparison reads the study, and parsing it takes about 3 ms."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return _unavailable(f"no repeatability study ({path.name} missing)")
    except (OSError, ValueError) as exc:
        return _unavailable(f"repeatability study unreadable ({exc})")
    if not isinstance(data, dict) or data.get("engine_version") != ENGINE_VERSION:
        version = data.get("engine_version") if isinstance(data, dict) else None
        return _unavailable(f"repeatability study is for engine {version}, not {ENGINE_VERSION}")
    try:
        return Repeatability.from_dict(data), None
    except (KeyError, TypeError, ValueError) as exc:
        return _unavailable(f"repeatability study unreadable ({exc!r})")


def _reasons(before: Analysis, after: Analysis) -> list[Remark]:
    reasons = []
    for tag, a in (("before", before), ("after", after)):
        if not a.quality.usable:
            why = "; ".join(a.quality.notes) or "flagged unusable"
            problems = usability_problems(a.quality, mm_per_px=a.mm_per_px)
            reasons.append(
                Remark(f"{tag} photo unusable: {why}", "unusable", photo=tag, why=why, problems=problems)
            )
    pb, pa = before.quality.pose, after.quality.pose
    if (pb is None) != (pa is None):
        reasons.append(Remark("head pose known in only one photo", "pose_unknown"))
    elif pb is not None and pa is not None:
        for axis in ("yaw", "pitch", "roll"):
            d = pa[axis] - pb[axis]
            if abs(d) > MAX_POSE_DIFF_DEG:
                reasons.append(
                    Remark(
                        f"pose differs: {axis} {d:+.1f}° (limit ±{MAX_POSE_DIFF_DEG:.0f}°)",
                        "pose",
                        axis=axis,
                        value=d,
                        limit=MAX_POSE_DIFF_DEG,
                    )
                )
    sb, sa = before.mm_per_px, after.mm_per_px
    ratio = None
    if sb is not None and sa is not None:
        ratio, what = sa / sb - 1, "scale"
    elif (sb is None) != (sa is None):
        reasons.append(Remark("scale known in only one photo", "scale_unknown"))
    elif before.landmarks is not None and after.landmarks is not None:
        ratio, what = _iod(after) / _iod(before) - 1, "face_size"
    if ratio is not None and abs(ratio) > MAX_SCALE_DIFF:
        reasons.append(
            Remark(
                f"{what.replace('_', ' ')} differs by {100 * ratio:+.1f} % "
                f"(limit ±{100 * MAX_SCALE_DIFF:.0f} %)",
                what,
                value=ratio,
                limit=MAX_SCALE_DIFF,
            )
        )
    cb, ca = before.calibration["calibrated"], after.calibration["calibrated"]
    if cb != ca:
        word = {True: "with", False: "without"}
        reasons.append(
            Remark(
                f"calibration differs: before {word[cb]} chart, after {word[ca]}",
                "calibration",
                before=cb,
                after=ca,
            )
        )
    if set(before.regions) != set(after.regions):
        reasons.append(Remark("the photos were analysed with different regions of interest", "roi"))
    return reasons


def _chart_fit(before: Analysis, after: Analysis) -> float | None:
    """The worse of two calibrated photos' chart fits (mean ΔE00); None unless both were
    calibrated (a calibrated record without its fit counts as the worst fit)."""
    if not (before.calibration.get("calibrated") and after.calibration.get("calibrated")):
        return None
    fits = [a.calibration.get("delta_e00_mean") for a in (before, after)]
    return max(math.inf if f is None else float(f) for f in fits)


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
    repeatability: str | Path | Mapping[str, Any] | Repeatability | None = None,
    heatmap: bool = True,
) -> Comparison:
    """Compare a follow-up analysis with its baseline.

    Parameters
    ----------
    before, after : Analysis
        Results of :func:`exoderm.skinlab.pipeline.analyze` (with arrays kept for the heat map).
    repeatability : path, mapping or Repeatability, optional
        The repeatability study: the JSON file, its content (with ``bands``), a bare
        ``{"metric": {"sem", "mdc", "cv_pct"}}`` table (one band for every scale) or a
        :class:`Repeatability`; defaults to the engine's ``data/repeatability.json``. The
        band is chosen by the baseline's scale (see :meth:`Repeatability.table`).
    heatmap : bool
        Align the photos and compute the ΔL* heat map.

    Returns
    -------
    Comparison
    """
    notes: list[Remark] = []
    study: Repeatability | None
    if isinstance(repeatability, Repeatability):
        study = repeatability
    elif isinstance(repeatability, Mapping):
        study = Repeatability.from_dict(repeatability)
    else:
        study, why = load_repeatability(repeatability)
        if why:
            notes.append(why)
    table: MdcTable | None = None
    if study is not None:
        table, why_band = study.table(before.mm_per_px, chart_fit=_chart_fit(before, after))
        notes += why_band
    reasons = _reasons(before, after)
    comparable = not reasons
    regions: dict[str, dict[str, dict[str, Any]]] = {}
    degenerate: set[str] = set()
    unstudied: set[str] = set()
    formats_differ = compression_differs(before.lossless, after.lossless)
    compressed_away: set[str] = set()
    blurred_away: set[str] = set()
    blur_mm = blur_difference(before.quality.effective_blur_mm, after.quality.effective_blur_mm)
    ob, oa = before.quality.edge_overshoot_pct, after.quality.edge_overshoot_pct
    sharpened_away: dict[str, tuple[list[str], float]] = {}  # metric: (photos beyond, limit)
    processed_away: dict[str, float] = {}  # metric: the difference covered
    for name in before.regions:
        if name not in after.regions:
            continue
        mb = before.regions[name].metrics
        ma = after.regions[name].metrics
        out: dict[str, dict[str, Any]] = {}
        for key in mb:
            vb, va = json_value(mb.get(key)), json_value(ma.get(key))
            delta = None if vb is None or va is None else float(va) - float(vb)
            mdc = None if table is None else table.mdc(name, key)
            if table is not None and delta is not None and table.unstudied(name, key):
                unstudied.add(key)
            if mdc is not None and not mdc > 0:
                # a study whose repeats never varied cannot bound the noise of real photos
                degenerate.add(key)
                mdc = None
            beyond = None
            if formats_differ and key in COMPRESSION_SENSITIVE and delta is not None:
                compressed_away.add(key)
            elif (
                blur_mm is not None
                and delta is not None
                and abs(blur_mm) > _focus_limit_mm(table, name, key, before.mm_per_px)
            ):
                blurred_away.add(key)
            elif (
                delta is not None
                and key in PROCESSING_SENSITIVE
                and (unjudged := _processing(table, name, key, ob, oa))
            ):
                if isinstance(unjudged, tuple):
                    sharpened_away[key] = unjudged
                else:
                    processed_away[key] = unjudged
            elif comparable and delta is not None and mdc is not None:
                beyond = bool(abs(delta) > mdc)
            out[key] = {
                "before": vb,
                "after": va,
                "delta": None if delta is None else round(delta, 4),
                "mdc": mdc,
                "beyond_noise": beyond,
            }
        regions[name] = out
    lossy = "after" if before.lossless else "before"
    for metrics, kind, text in (
        (degenerate, "mdc_zero", "mdc 0 in the repeatability study, treated as unknown"),
        (
            unstudied,
            "unstudied",
            "not measurable in the face regions by the repeatability study, so not judged there",
        ),
        (
            compressed_away,
            "compression",
            f"the {lossy} photo is lossy (JPEG, HEIC) and the other lossless (PNG, TIFF): compression "
            "alone changes these, so they are not judged",
        ),
    ):
        if metrics:
            listed = sorted(metrics)
            which = {"photo": lossy} if kind == "compression" else {}
            notes.append(Remark(f"{text}: {', '.join(listed)}", kind, metrics=listed, **which))
    if blurred_away:
        listed = sorted(blurred_away)
        assert blur_mm is not None
        softer = "after" if blur_mm > 0 else "before"
        notes.append(
            Remark(
                f"the {softer} photo is softer (blur {abs(blur_mm):.3f} mm beyond the other's, more than "
                f"the repeatability study covered): focus alone changes these, so they are not judged: "
                f"{', '.join(listed)}",
                "focus",
                metrics=listed,
                photo=softer,
                value=abs(blur_mm),
            )
        )
    notes += _processing_notes(ob, oa, sharpened_away, processed_away)
    al = dl = da = None
    pair = _pair(before, after) if heatmap else None
    if pair is not None:
        al = _align(before, after, pair)
        if al is not None:
            dl, da = _difference(before, after, pair, al)
    if heatmap and al is None:
        notes.append(
            Remark("no heat map: the photos could not be aligned (no face or arrays not kept)", "no_heat_map")
        )
    return Comparison(comparable, reasons, regions, before, after, notes, al, dl, da)
