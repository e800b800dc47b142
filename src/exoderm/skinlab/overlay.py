"""PNG overlays: regions, spots, wrinkles and red areas on the photo; the ΔL* heat map.

Overlays show the analysed box (the face's bounding box, or the whole image for
``roi='full'``) at full resolution, downscaled to at most ``max_side`` pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .compare import Comparison
from .io import to_uint8
from .pipeline import Analysis

__all__ = ["REGION_COLORS", "difference_overlay", "region_overlay", "save_png"]

REGION_COLORS: dict[str, tuple[int, int, int]] = {
    "forehead": (255, 200, 60),
    "glabella": (255, 120, 40),
    "periorbital_left": (90, 200, 255),
    "periorbital_right": (90, 200, 255),
    "cheek_left": (120, 230, 120),
    "cheek_right": (120, 230, 120),
    "nose": (200, 140, 255),
    "perioral": (255, 150, 200),
    "chin": (240, 240, 120),
    "full": (120, 230, 120),
    "mask": (120, 230, 120),
}
SPOT_COLOR = (40, 60, 255)  # blue outlines
WRINKLE_COLOR = (0, 255, 255)  # cyan lines
RED_COLOR = (255, 230, 0)  # yellow outlines


def _detection(analysis: Analysis, key: str) -> np.ndarray | None:
    acc = None
    for name, r in analysis.regions.items():
        if name == "face":
            continue
        m = getattr(r, "detections", {}).get(key)
        if m is None:
            continue
        acc = m.copy() if acc is None else acc | m
    return acc


def region_overlay(
    analysis: Analysis, *, max_side: int = 2000, labels: bool = True, names: Mapping[str, str] | None = None
) -> np.ndarray:
    """Draw region outlines (excluded pixels dimmed), spots, wrinkles and red areas.

    Parameters
    ----------
    analysis : Analysis
        A result of :func:`exoderm.skinlab.pipeline.analyze` with arrays kept.
    max_side : int
        Longest side of the returned image.
    labels : bool
        Write region names at their centres.
    names : mapping, optional
        The name written for each region key (e.g. in the reader's language; any Unicode text);
        a region not in it is labelled with its key.

    Returns
    -------
    ndarray
        (H, W, 3) uint8 sRGB.
    """
    if analysis.rgb is None:
        raise ValueError("the analysis was run with keep_arrays=False")
    x0, y0, x1, y1 = analysis.box if analysis.masks else (0, 0, analysis.width, analysis.height)
    img = to_uint8(analysis.rgb[y0:y1, x0:x1]).copy()
    h, w = img.shape[:2]
    f = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))

    def small(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_NEAREST)

    out = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    union = analysis.masks.get("face")
    if union is None and analysis.masks:
        union = np.logical_or.reduce(list(analysis.masks.values()))
    if union is not None:
        # OpenCV's masked copy: boolean indexing of a 2-megapixel image costs ten times more
        dimmed = cv2.convertScaleAbs(out, alpha=0.45)
        cv2.copyTo(dimmed, cv2.bitwise_not(small(union) * np.uint8(255)), out)
    thick = max(1, round(max(size) / 500))
    placed: list[tuple[str, tuple[int, int], tuple[int, int, int]]] = []
    red = _detection(analysis, "red")
    if red is not None and red.any():
        cs, _ = cv2.findContours(small(red), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, cs, -1, RED_COLOR, thick)
    spots = _detection(analysis, "spots")
    if spots is not None and spots.any():
        cs, _ = cv2.findContours(small(spots), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, cs, -1, SPOT_COLOR, thick)
    wr = _detection(analysis, "wrinkles")
    if wr is not None and wr.any():
        k = np.ones((3, 3), np.uint8)
        line = cv2.resize(cv2.dilate(wr.view(np.uint8), k), size, interpolation=cv2.INTER_AREA)
        out[line > 0] = WRINKLE_COLOR
    for name, m in analysis.masks.items():
        if name == "face" or not m.any():
            continue
        color = REGION_COLORS.get(name, (255, 255, 255))
        region = small(m)
        cs, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, cs, -1, color, thick)
        if not labels:
            continue
        # the label at the region's median pixel, taken on a coarse grid (np.nonzero over the
        # whole region took most of the drawing time)
        step = max(1, round(max(size) / 400))
        ys, xs = np.nonzero(region[::step, ::step])
        if ys.size == 0:  # too small to hold a label at this size
            continue
        centre = (int(np.median(xs)) * step, int(np.median(ys)) * step)
        placed.append(((names or {}).get(name, name), centre, color))
    if placed:
        out = _draw_labels(out, placed, font_px=max(12, round(max(size) / 55)), outline=thick + 1)
    return out


def _draw_labels(
    image: np.ndarray,
    labels: list[tuple[str, tuple[int, int], tuple[int, int, int]]],
    *,
    font_px: int,
    outline: int,
) -> np.ndarray:
    """Write each label centred on its point, in its colour with a black outline. Pillow's own
    FreeType font draws any language's letters (OpenCV's fonts know ASCII only: "Wange" but not
    "Kinnpartie, rechts" with umlauts or accents)."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=font_px)
    for text, (cx, cy), color in labels:
        draw.text(
            (cx, cy), text, font=font, fill=color, anchor="mm", stroke_width=outline, stroke_fill=(0, 0, 0)
        )
    return np.asarray(canvas).copy()


def difference_overlay(
    comparison: Comparison, *, channel: str = "L", limit: float = 8.0, max_side: int = 1000
) -> np.ndarray:
    """ΔL* or Δa* (after − before) over the baseline face, saturating at ``limit``.

    Red is an increase (brighter for ``channel='L'``, redder for ``'a'``), blue a decrease.

    Raises
    ------
    ValueError
        If the comparison has no heat map (photos not aligned).
    """
    d = {"L": comparison.delta_L, "a": comparison.delta_a}[channel]
    before = comparison.before
    if d is None or before.rgb is None:
        raise ValueError("the comparison has no heat map")
    x0, y0, x1, y1 = before.box
    h, w = d.shape
    base = cv2.resize(to_uint8(before.rgb[y0:y1, x0:x1]), (w, h), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(cv2.cvtColor(base, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    t = np.clip(np.nan_to_num(d, nan=0.0) / limit, -1, 1)[..., None]
    red = np.array([255, 40, 40], np.float32)
    blue = np.array([40, 90, 255], np.float32)
    color = np.where(t > 0, red, blue)
    alpha = np.abs(t) * 0.85
    out = grey * (1 - alpha) + color * alpha
    out[np.isnan(d)] *= 0.5
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    f = min(1.0, max_side / max(h, w))
    if f < 1.0:
        out8 = cv2.resize(out8, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    elif max(h, w) < 600:  # small heat maps are upscaled for viewing
        k = 600 / max(h, w)
        out8 = cv2.resize(out8, (round(w * k), round(h * k)), interpolation=cv2.INTER_NEAREST)
    return out8


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an sRGB uint8 image as PNG (parent folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {p}")
    return p
