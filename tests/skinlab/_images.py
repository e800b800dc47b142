"""Test images for the skinlab engine tests: a rendered ColorChecker scene and real faces."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from exoderm.skinlab.color import _decode, _encode, lab_to_srgb8, reference_srgb

SKIN_LAB = (64.0, 11.0, 16.0)
"""Ground truth of the skin patch in :func:`chart_scene` (CIE L*a*b* D65)."""


def render_chart(patch_px: int = 60) -> np.ndarray:
    """A ColorChecker Classic 24 (black frame, 4 x 6 patches) from the reference sRGB values, uint8."""
    gap = max(2, patch_px // 5)
    ref = np.round(np.clip(reference_srgb(), 0, 1) * 255).astype(np.uint8)
    h, w = 4 * patch_px + 5 * gap, 6 * patch_px + 7 * gap
    chart = np.full((h, w, 3), 20, np.uint8)
    for i in range(24):
        r, c = divmod(i, 6)
        y, x = gap + r * (patch_px + gap), gap + c * (patch_px + gap)
        chart[y : y + patch_px, x : x + patch_px] = ref[i]
    return chart


def chart_scene(
    *,
    exposure: float = 1.0,
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
    noise_sd: float = 1.0,
    angle_deg: float = 4.0,
    with_chart: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A 1000 x 1400 scene: grey background, a skin patch of ``SKIN_LAB`` and the chart.

    The scene is "photographed": linear RGB scaled by ``exposure`` and the per-channel white
    balance ``gains``, clipped, sRGB encoded, given Gaussian noise (8-bit units) and quantised.

    Returns
    -------
    rgb : ndarray
        uint8 sRGB scene.
    skin : ndarray
        Boolean mask of the skin patch's interior.
    """
    rng = np.random.default_rng(seed)
    h, w = 1000, 1400
    scene = np.full((h, w, 3), 118, np.uint8)
    skin_rgb = lab_to_srgb8(np.array([[SKIN_LAB]], np.float32))[0, 0]
    scene[150:850, 850:1300] = skin_rgb
    skin = np.zeros((h, w), bool)
    skin[200:800, 900:1250] = True
    if with_chart:
        chart = render_chart(80)
        ch, cw = chart.shape[:2]
        pad = np.full((ch + 40, cw + 40, 3), 118, np.uint8)
        pad[20:-20, 20:-20] = chart
        m = cv2.getRotationMatrix2D(((cw + 40) / 2, (ch + 40) / 2), angle_deg, 1.0)
        pad = cv2.warpAffine(pad, m, (cw + 40, ch + 40), flags=cv2.INTER_LINEAR, borderValue=(118, 118, 118))
        scene[200 : 200 + ch + 40, 60 : 60 + cw + 40] = pad
    lin = _decode(scene / 255.0) * exposure * np.asarray(gains)
    out = _encode(np.clip(lin, 0, 1)) * 255 + rng.normal(0, noise_sd, scene.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), skin


def astronaut_face(
    size: int = 1536, *, noise_sd: float = 1.5, seed: int = 0, chart: bool = False
) -> np.ndarray:
    """scikit-image's astronaut photo upscaled to ``size`` with mild sensor noise (a real face).

    ``chart``: a ColorChecker (patches of ``size / 24`` px) held in the bottom-left corner, away
    from the face, as a calibrated clinic photo has one. (With patches of ``size / 32`` px, 25 px
    on the chart finder's 800 px preview, it missed the chart in 1 of 54 re-captures.)"""
    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_CUBIC)
    if chart:
        card = render_chart(size // 24)
        margin = size // 25
        img[size - margin - card.shape[0] : size - margin, margin : margin + card.shape[1]] = card
    if noise_sd:
        rng = np.random.default_rng(seed)
        img = np.clip(img + rng.normal(0, noise_sd, img.shape), 0, 255).astype(np.uint8)
    return img
