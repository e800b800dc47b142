"""Synthetic skin phantoms with known ground truth, for testing and benchmarking skinlab.

A phantom is designed in CIE L*a*b* (D65) at a known scale: a base skin colour with
low-frequency tone variation and fine texture, plus pigmented spots, wrinkles, red patches and
pores. It is then "captured": converted to sRGB, lit with a smooth shading, exposed, white
balanced, geometrically shifted and rotated, blurred, given sensor noise, quantised to 8 bits and
optionally JPEG compressed or put through a phone camera's processing and encoding
(:class:`Perturbation`, :mod:`exoderm.skinlab.phone`). An optional ColorChecker Classic 24 rendered
from published reference values (:func:`render_colorchecker`) is placed in a corner. The skin can
be of any Fitzpatrick type I to VI (``skin_type``): its base colour (:data:`FITZPATRICK_LAB`) and
the lower contrast its features have on darker skin (:func:`skin_contrast`).

Ground truth (:class:`Truth`) is what the definitions of ``shared/specs/skin-metrics.md`` count on
the perfect (unperturbed) design: features are placed apart so that they do not merge, spot areas
are the pixels of each designed spot with ΔL* <= -5, red area the pixels with designed Δa* >= +6,
each threshold scaled by the design's local L* + 16 (base and tone variation) over 80 as the engine
scales it (engine 1.4.0 on, :data:`exoderm.skinlab.metrics.REFERENCE_LEVEL`), wrinkle length the
length of the designed centre lines.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .metrics import L_OFFSET, RED_DA, REFERENCE_LEVEL, SPOT_DA_MAX, SPOT_DL
from .phone import PHONE_PROFILES, phone_process

__all__ = [
    "COLORCHECKER24_NAMES",
    "COLORCHECKER24_SRGB",
    "FITZPATRICK_LAB",
    "Perturbation",
    "Phantom",
    "Truth",
    "make_phantom",
    "render_colorchecker",
    "skin_contrast",
    "spots_to_clear",
]

#: Patch names of the ColorChecker Classic 24, row by row from the top left (brown patch).
COLORCHECKER24_NAMES: tuple[str, ...] = (
    "dark skin",
    "light skin",
    "blue sky",
    "foliage",
    "blue flower",
    "bluish green",
    "orange",
    "purplish blue",
    "moderate red",
    "purple",
    "yellow green",
    "orange yellow",
    "blue",
    "green",
    "red",
    "yellow",
    "magenta",
    "cyan",
    "white 9.5",
    "neutral 8",
    "neutral 6.5",
    "neutral 5",
    "neutral 3.5",
    "black 2",
)

#: Reference sRGB (gamma encoded, in [0, 1]) of the 24 patches: colour-science's
#: "ColorChecker24 - After November 2014" (X-Rite published xyY, D50), Bradford-adapted to D65,
#: converted with IEC 61966-2-1 and clipped to the gamut (only cyan's red channel clips).
COLORCHECKER24_SRGB: np.ndarray = np.array(
    [
        (0.4537, 0.3110, 0.2549),
        (0.7734, 0.5634, 0.4966),
        (0.3562, 0.4719, 0.6088),
        (0.3587, 0.4246, 0.2499),
        (0.5142, 0.4982, 0.6847),
        (0.3739, 0.7402, 0.6735),
        (0.8787, 0.4869, 0.1893),
        (0.2688, 0.3512, 0.6559),
        (0.7737, 0.3136, 0.3728),
        (0.3642, 0.2266, 0.4074),
        (0.6120, 0.7336, 0.2282),
        (0.8917, 0.6326, 0.1536),
        (0.1558, 0.2415, 0.5695),
        (0.2376, 0.5767, 0.2750),
        (0.6987, 0.2103, 0.2225),
        (0.9269, 0.7824, 0.0577),
        (0.7499, 0.3091, 0.5742),
        (0.0000, 0.5207, 0.6478),
        (0.9451, 0.9477, 0.9233),
        (0.7885, 0.7931, 0.7885),
        (0.6324, 0.6399, 0.6384),
        (0.4732, 0.4741, 0.4729),
        (0.3244, 0.3296, 0.3315),
        (0.1943, 0.1948, 0.1975),
    ],
    dtype=np.float32,
)
COLORCHECKER24_SRGB.setflags(write=False)


# ============================================================================================
# ColorChecker
# ============================================================================================


def render_colorchecker(
    *,
    patch_px: int = 60,
    gap_px: int | None = None,
    border_px: int | None = None,
    frame_srgb: float = 0.08,
) -> tuple[np.ndarray, np.ndarray]:
    """Render a ColorChecker Classic 24 (4 rows of 6 patches) from its reference sRGB values.

    Parameters
    ----------
    patch_px : int
        Side of one square patch in pixels.
    gap_px : int, optional
        Dark gap between patches (default ``patch_px // 6``). The patch pitch is
        ``patch_px + gap_px``.
    border_px : int, optional
        Dark frame around the grid (default ``patch_px // 3``).
    frame_srgb : float
        Grey level of the frame and gaps (sRGB, 0..1).

    Returns
    -------
    image : ndarray
        (H, W, 3) float32 sRGB in [0, 1].
    centers : ndarray
        (24, 2) float64 patch centres ``(x, y)`` in pixels, in reference order.
    """
    gap = patch_px // 6 if gap_px is None else int(gap_px)
    border = patch_px // 3 if border_px is None else int(border_px)
    pitch = patch_px + gap
    hh = 2 * border + 4 * pitch - gap
    ww = 2 * border + 6 * pitch - gap
    img = np.full((hh, ww, 3), frame_srgb, np.float32)
    centers = np.zeros((24, 2))
    for i in range(24):
        r, c = divmod(i, 6)
        y0 = border + r * pitch
        x0 = border + c * pitch
        img[y0 : y0 + patch_px, x0 : x0 + patch_px] = COLORCHECKER24_SRGB[i]
        centers[i] = (x0 + (patch_px - 1) / 2, y0 + (patch_px - 1) / 2)
    return img, centers


# ============================================================================================
# colour helpers
# ============================================================================================


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0)


def _decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


# ============================================================================================
# capture perturbation
# ============================================================================================


@dataclass(frozen=True)
class Perturbation:
    """How the phantom is captured.

    Attributes
    ----------
    exposure : float
        Gain on linear light (1.0 = none).
    wb_gains : tuple of float
        Per-channel (R, G, B) gains on linear light (white-balance error).
    noise_sd : float
        Sensor noise SD in 8-bit sRGB units (Gaussian, independent per channel and pixel).
    blur_sigma_px : float
        Gaussian optical blur σ in pixels.
    jpeg_quality : int or None
        JPEG compression quality, ``None`` for none.
    rotation_deg : float
        Rotation about the image centre (degrees, counter-clockwise).
    shift_px : tuple of float
        Translation ``(dx, dy)`` in pixels.
    seed : int
        Seed of the noise (and of the phone pipeline's per-shot adaptation).
    phone : str or None
        A profile of :data:`exoderm.skinlab.phone.PHONE_PROFILES` applied after the sensor noise
        (:func:`~exoderm.skinlab.phone.phone_process`); a profile that encodes (JPEG, HEIC)
        writes the file instead of ``jpeg_quality``. ``None``: no phone processing.
    """

    exposure: float = 1.0
    wb_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sd: float = 0.0
    blur_sigma_px: float = 0.0
    jpeg_quality: int | None = None
    rotation_deg: float = 0.0
    shift_px: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    phone: str | None = None

    def __post_init__(self) -> None:
        if self.phone is not None and self.phone not in PHONE_PROFILES:
            raise ValueError(f"phone must be one of {', '.join(PHONE_PROFILES)}, got {self.phone!r}")

    @classmethod
    def mild(cls, seed: int = 0) -> Perturbation:
        """Realistic mild capture: sensor noise, slight blur, JPEG at quality 90."""
        return cls(noise_sd=2.0, blur_sigma_px=0.6, jpeg_quality=90, seed=seed)

    @classmethod
    def random(
        cls,
        seed: int,
        *,
        exposure: float = 0.1,
        wb: float = 0.05,
        noise_sd: float = 2.0,
        blur_sigma_px: float = 0.6,
        rotation_deg: float = 1.0,
        shift_px: float = 5.0,
        jpeg_quality: tuple[int, int] = (85, 95),
        phone: str | None = None,
    ) -> Perturbation:
        """A random repeat capture: exposure ±``exposure``, gains ±``wb``, rotation and shift
        uniform within the given bounds, JPEG quality uniform in ``jpeg_quality``, through the
        phone profile ``phone`` (the same draws for a seed with and without it)."""
        rng = np.random.default_rng(seed)
        u = rng.uniform
        return cls(
            exposure=float(1.0 + u(-exposure, exposure)),
            wb_gains=(float(1.0 + u(-wb, wb)), 1.0, float(1.0 + u(-wb, wb))),
            noise_sd=noise_sd,
            blur_sigma_px=float(blur_sigma_px * u(0.8, 1.2)),
            jpeg_quality=int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)),
            rotation_deg=float(u(-rotation_deg, rotation_deg)),
            shift_px=(float(u(-shift_px, shift_px)), float(u(-shift_px, shift_px))),
            seed=int(rng.integers(2**31)),
            phone=phone,
        )


# ============================================================================================
# skin types
# ============================================================================================

#: Base skin colour (CIE L*a*b*, D65) rendered for each Fitzpatrick type. Each sits inside the
#: Individual Typology Angle band (ITA° = atan((L* − 50) / b*) · 180/π) that the type usually falls
#: in: the categories of Chardon, Dechamps-Olivier and Hourseau (Int J Cosmet Sci 13:191, 1991) as
#: extended by Del Bino et al. (Pigment Cell Res 19:606, 2006): very light > 55°, light 41-55°,
#: intermediate 28-41°, tan 10-28°, brown −30-10°, dark < −30°, with I..VI taken as those six
#: in order (an approximate correspondence, Del Bino & Bernerd, Br J Dermatol 169 S3:33, 2013).
#: L* spans about 30 to 75 as in those surveys; a* and b* are chosen within their reported ranges
#: (a* about 7 to 14, b* rising from about 13 on very light to about 19 on tan and brown skin and
#: lower again on the darkest). ITA°: I 61.6, II 45.0, III 32.9, IV 14.7, V −17.5, VI −52.1.
FITZPATRICK_LAB: dict[str, tuple[float, float, float]] = {
    "I": (74.0, 7.0, 13.0),
    "II": (66.0, 10.0, 16.0),
    "III": (61.0, 11.0, 17.0),
    "IV": (55.0, 12.0, 19.0),
    "V": (44.0, 13.0, 19.0),
    "VI": (32.0, 11.0, 14.0),
}

#: L* of the default phantom's base, whose features have contrast 1 (see :func:`skin_contrast`).
_DEFAULT_L = 64.0


def spots_to_clear(*, asked: int, placed: int, wanted: int) -> int:
    """The ``spots_cleared`` of :func:`make_phantom` that clears ``wanted`` of the spots a design
    really holds.

    A design asked for ``asked`` spots places fewer (``placed``, its :class:`Truth`'s
    ``spot_count`` before clearing) where they do not fit, and clearing counts from the last spot
    asked for, so the first ``asked - placed`` cleared would be spots that were never there.

    Parameters
    ----------
    asked : int
        The design's ``spots``.
    placed : int
        Spots the uncleared design holds.
    wanted : int
        Spots to clear; at most ``placed`` are.

    Returns
    -------
    int
    """
    return asked - placed + min(max(wanted, 0), placed)


def skin_contrast(base_L: float) -> float:
    """Contrast of the phantom's features on skin of lightness ``base_L``, relative to the default.

    Pigment, wrinkle shadows and the dermal redness of erythema are all seen through the
    epidermis: each multiplies the light the skin reflects by a factor that does not depend on how
    much melanin already absorbs it. A relative change of luminance Y moves L* = 116·(Y/Yn)^(1/3) −
    16 by about (L* + 16)/3 times its logarithm, so the same spot, line or flush is
    (L* + 16) / (64 + 16) as many L* (and, near enough, a*) units deep on skin of lightness L* as on
    the default phantom's L* 64: 0.6 on Fitzpatrick VI (L* 32), 1.125 on I (L* 74). That is the
    lower contrast pigmentation and erythema have on dark skin.

    Parameters
    ----------
    base_L : float
        L* of the base skin.

    Returns
    -------
    float
    """
    return (float(base_L) + 16.0) / (_DEFAULT_L + 16.0)


# ============================================================================================
# phantom
# ============================================================================================


@dataclass
class Truth:
    """Ground truth of a phantom (what the spec's definitions count on a perfect capture)."""

    mm_per_px: float
    base_lab: tuple[float, float, float]
    skin_area_mm2: float
    spot_count: int
    spot_area_mm2: float
    wrinkle_count: int
    wrinkle_length_mm: float
    red_area_pct: float
    red_area_mm2: float
    pore_count: int
    #: Chart placement in the captured image: ``{"corners": (4, 2) x, y (tl, tr, br, bl),
    #: "centers": (24, 2) x, y, "patch_px", "pitch_px", "pitch_mm"}`` or ``None``.
    chart: dict | None = field(default=None, repr=False)
    spots: list[dict] = field(default_factory=list, repr=False)
    wrinkles: list[dict] = field(default_factory=list, repr=False)

    @property
    def spot_area_pct(self) -> float:
        return 100.0 * self.spot_area_mm2 / self.skin_area_mm2


@dataclass
class Phantom:
    """A captured synthetic skin image with its ground truth.

    Attributes
    ----------
    rgb : ndarray
        (H, W, 3) uint8 sRGB, the capture.
    mask : ndarray
        (H, W) bool skin pixels of the capture (everything but the chart).
    lab : ndarray
        (H, W, 3) float32 designed L*a*b* before capture (not aligned with ``rgb`` when the
        perturbation moves the image).
    truth : Truth
    mm_per_px : float
    """

    rgb: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    lab: np.ndarray = field(repr=False)
    truth: Truth
    mm_per_px: float


class _Occupancy:
    """Discs already used, so that features keep apart."""

    def __init__(self) -> None:
        self.xyr = np.zeros((0, 3))

    def free(self, xyr: np.ndarray, gap: float) -> bool:
        if len(self.xyr) == 0:
            return True
        d = np.hypot(xyr[:, None, 0] - self.xyr[None, :, 0], xyr[:, None, 1] - self.xyr[None, :, 1])
        return bool((d >= xyr[:, None, 2] + self.xyr[None, :, 2] + gap).all())

    def add(self, xyr: np.ndarray) -> None:
        self.xyr = np.concatenate([self.xyr, xyr])


def _smooth_noise(rng, shape, cell_px: float) -> np.ndarray:
    """Unit-SD smooth random field with features about ``cell_px`` across."""
    h, w = shape
    gh, gw = max(2, int(h / cell_px) + 3), max(2, int(w / cell_px) + 3)
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    f -= f.mean()
    return f / max(float(f.std()), 1e-6)


def make_phantom(
    *,
    shape: tuple[int, int] = (1200, 1600),
    mm_per_px: float = 0.05,
    seed: int = 0,
    spots: int = 20,
    wrinkles: int = 8,
    red_patches: int = 3,
    pores: int = 300,
    tone_variation: float = 1.5,
    mottling: float = 0.4,
    texture: float = 0.8,
    shading: float = 0.15,
    base_lab: tuple[float, float, float] = (64.0, 11.0, 16.0),
    skin_type: str | None = None,
    feature_contrast: float | None = None,
    spot_depth: tuple[float, float] = (8.0, 18.0),
    red_peak_da: tuple[float, float] = (9.0, 14.0),
    spot_area_mm2: tuple[float, float] = (0.3, 50.0),
    wrinkle_width_mm: tuple[float, float] = (0.25, 1.5),
    wrinkle_length_mm: tuple[float, float] = (6.0, 30.0),
    red_radius_mm: tuple[float, float] = (3.0, 8.0),
    pore_diameter_mm: tuple[float, float] = (0.1, 0.25),
    spots_cleared: int = 0,
    spot_fade: float = 1.0,
    chart: bool = False,
    chart_pitch_mm: float = 7.0,
    perturb: Perturbation | None = None,
) -> Phantom:
    """Make a synthetic skin image with known spots, wrinkles, red patches and pores.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` in pixels.
    mm_per_px : float
        Scale of the design.
    seed : int
        Seed of the design (the capture noise has its own seed in ``perturb``).
    spots, wrinkles, red_patches, pores : int
        How many of each to place (fewer when they do not fit; the truth counts what was placed).
    tone_variation : float
        SD of the low-frequency (about 40 mm) L* variation; a* and b* vary by 0.3 of it.
    mottling : float
        SD of the mid-frequency (about 6 mm) L* unevenness (what ``tone_sd_L`` sees). Kept small:
        the spec's 5 mm spot background cannot follow it, so it shifts spot borders.
    texture : float
        SD of the fine L* texture (about 0.15 mm grain).
    shading : float
        Relative amplitude of the smooth illumination gradient and vignette.
    base_lab : tuple of float
        L*a*b* of the base skin (ignored when ``skin_type`` is given).
    skin_type : {"I", "II", "III", "IV", "V", "VI"}, optional
        Fitzpatrick type: the base skin colour of :data:`FITZPATRICK_LAB` and, unless
        ``feature_contrast`` says otherwise, features of the contrast :func:`skin_contrast` gives
        for it. ``None`` (the default) keeps ``base_lab`` and contrast 1.
    feature_contrast : float, optional
        Multiplies the designed ΔL*, Δa* and Δb* of every spot, red patch, wrinkle and pore
        (after drawing them, so the design is otherwise the same). ``None``: 1, or the skin
        type's :func:`skin_contrast`. The background's tone variation, mottling and texture keep
        their amplitude.
    spot_depth : tuple of float
        Range of the spots' darkening, −ΔL* at their centre before ``feature_contrast`` (uniform).
    red_peak_da : tuple of float
        Range of the red patches' peak Δa* before ``feature_contrast`` (uniform).
    spot_area_mm2, wrinkle_width_mm, wrinkle_length_mm, red_radius_mm, pore_diameter_mm
        Ranges of the feature sizes (areas log-uniform; widths are FWHM of the valley profile;
        pore diameters are FWHM). Defaults stay clear of the spec's thresholds (spots 0.1 mm²
        to 100 mm², pores under the spot minimum) so that counts are unambiguous.
    spots_cleared : int
        Of the ``spots`` asked for, this many (the last ones) are not drawn: the same design
        after a treatment that cleared them (everything else, the other spots included, stays as
        it is). A crowded design places fewer spots than asked, and the missing ones are the last:
        :func:`spots_to_clear` gives the value that clears a number of the spots really placed.
    spot_fade : float
        Every spot's darkening (and its a*, b* shift) times this, 0 to 1: the same design after
        a treatment that lightened the spots. Spots that end up lighter than the spec's ΔL* −5
        leave the truth's count, those that stay darker keep it with a smaller area (their
        soft edge is below −5 over less of it).
    chart : bool
        Place a ColorChecker Classic 24 in the bottom right corner.
    chart_pitch_mm : float
        Patch pitch of the chart (patch plus gap) in mm.
    perturb : Perturbation, optional
        Capture perturbation; ``None`` for a perfect capture (8-bit quantisation only).

    Returns
    -------
    Phantom
    """
    if not 0 <= spots_cleared <= spots:
        raise ValueError(f"spots_cleared must be between 0 and spots ({spots}), got {spots_cleared}")
    if not 0.0 <= spot_fade <= 1.0:
        raise ValueError(f"spot_fade must be between 0 and 1, got {spot_fade}")
    if skin_type is not None:
        if skin_type not in FITZPATRICK_LAB:
            raise ValueError(f"skin_type must be one of {', '.join(FITZPATRICK_LAB)}, got {skin_type!r}")
        base_lab = FITZPATRICK_LAB[skin_type]
    if feature_contrast is None:
        feature_contrast = 1.0 if skin_type is None else skin_contrast(base_lab[0])
    if not feature_contrast > 0:
        raise ValueError(f"feature_contrast must be positive, got {feature_contrast}")
    contrast = float(feature_contrast)
    perturb = perturb or Perturbation()
    rng = np.random.default_rng(seed)
    h, w = shape
    mpp = float(mm_per_px)
    px = 1.0 / mpp  # pixels per mm
    dL = np.zeros(shape, np.float32)
    da = np.zeros(shape, np.float32)
    db = np.zeros(shape, np.float32)
    spot_L = np.zeros(shape, np.float32)  # spots and pores only, for the truth
    spot_a = np.zeros(shape, np.float32)
    red_a = np.zeros(shape, np.float32)

    # ---- chart area ------------------------------------------------------------------------
    occ = _Occupancy()
    chart_info = None
    skin = np.ones(shape, bool)
    chart_img = None
    if chart:
        pitch_px = chart_pitch_mm * px
        patch = max(4, round(pitch_px * 6 / 7))
        gap = max(1, round(pitch_px) - patch)
        chart_img, centers = render_colorchecker(patch_px=patch, gap_px=gap)
        ch, cw = chart_img.shape[:2]
        if ch + 20 > h or cw + 20 > w:
            raise ValueError("image too small for the chart at this scale")
        cy0, cx0 = h - ch - 10, w - cw - 10
        skin[cy0 : cy0 + ch, cx0 : cx0 + cw] = False
        corners = np.array([[cx0, cy0], [cx0 + cw, cy0], [cx0 + cw, cy0 + ch], [cx0, cy0 + ch]], float)
        chart_info = {
            "corners": corners,
            "centers": centers + np.array([cx0, cy0], float),
            "patch_px": patch,
            "pitch_px": patch + gap,
            "pitch_mm": (patch + gap) * mpp,
        }
        occ.add(np.array([[cx0 + cw / 2, cy0 + ch / 2, math.hypot(cw, ch) / 2]]))

    margin = max(3.0 * px, 0.04 * max(h, w))

    def rand_center(r: float) -> tuple[float, float] | None:
        lo_x, hi_x, lo_y, hi_y = margin + r, w - margin - r, margin + r, h - margin - r
        if hi_x <= lo_x or hi_y <= lo_y:
            return None
        return float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))

    yy_cache: dict = {}

    def grid(x0: int, y0: int, x1: int, y1: int):
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(w, x1), min(h, y1)
        key = (x1 - x0, y1 - y0)
        if key not in yy_cache:
            yy_cache[key] = np.mgrid[0 : key[1], 0 : key[0]].astype(np.float32)
        yy, xx = yy_cache[key]
        return (slice(y0, y1), slice(x0, x1)), yy + y0, xx + x0

    # ---- red patches -------------------------------------------------------------------------
    for _ in range(red_patches):
        for _try in range(200):
            r_mm = rng.uniform(*red_radius_mm)
            asp = rng.uniform(1.0, 1.5)
            ra, rb = r_mm * px * math.sqrt(asp), r_mm * px / math.sqrt(asp)
            edge = 1.5 * px
            c = rand_center(ra + edge)
            if c is None:
                continue
            cx, cy = c
            disc = np.array([[cx, cy, ra + edge]])
            if occ.free(disc, 2.0 * px):
                break
        else:
            continue
        occ.add(disc)
        phi = rng.uniform(0, math.pi)
        peak = rng.uniform(*red_peak_da)
        R = int(ra + edge + 3)
        sl, yy, xx = grid(int(cx) - R, int(cy) - R, int(cx) + R + 2, int(cy) + R + 2)
        cos_p, sin_p = math.cos(phi), math.sin(phi)
        u = (xx - cx) * cos_p + (yy - cy) * sin_p
        v = -(xx - cx) * sin_p + (yy - cy) * cos_p
        rn = np.sqrt((u / ra) ** 2 + (v / rb) ** 2)
        d = (rn - 1.0) * math.sqrt(ra * rb)  # ~ signed distance to the border, px
        t = np.clip(0.5 - d / edge, 0.0, 1.0)
        p = t * t * (3 - 2 * t)
        p *= contrast
        red_a[sl] += peak * p
        dL[sl] += -1.5 * p
        db[sl] += 1.0 * p

    # ---- spots -------------------------------------------------------------------------------
    spot_list: list[dict] = []
    placed = 0
    lo, hi = np.log(spot_area_mm2[0]), np.log(spot_area_mm2[1])
    for _ in range(spots):
        for _try in range(200):
            area = float(np.exp(rng.uniform(lo, hi)))
            asp = rng.uniform(1.0, 1.4)
            r = math.sqrt(area / math.pi) * px
            ra, rb = r * math.sqrt(asp), r / math.sqrt(asp)
            edge = max(1.5, 0.1 * px)
            c = rand_center(ra * 1.1 + edge)
            if c is None:
                continue
            cx, cy = c
            disc = np.array([[cx, cy, ra * 1.1 + edge]])
            if occ.free(disc, 1.5 * px):
                break
        else:
            continue
        occ.add(disc)
        phi = rng.uniform(0, math.pi)
        k = int(rng.integers(2, 5))
        eps = rng.uniform(0.0, 0.08)
        ph = rng.uniform(0, 2 * math.pi)
        depth = -rng.uniform(*spot_depth)
        sa, sb = rng.uniform(0.5, 2.5), rng.uniform(2.0, 6.0)
        placed += 1
        if placed > spots - spots_cleared:
            continue  # placed and drawn from the generator as before, but not painted
        R = int(ra * 1.1 + edge + 3)
        sl, yy, xx = grid(int(cx) - R, int(cy) - R, int(cx) + R + 2, int(cy) + R + 2)
        cos_p, sin_p = math.cos(phi), math.sin(phi)
        u = (xx - cx) * cos_p + (yy - cy) * sin_p
        v = -(xx - cx) * sin_p + (yy - cy) * cos_p
        ang = np.arctan2(v, u)
        rn = np.sqrt((u / ra) ** 2 + (v / rb) ** 2) / (1.0 + eps * np.sin(k * ang + ph))
        d = (rn - 1.0) * math.sqrt(ra * rb)
        p = np.clip(0.5 - d / edge, 0.0, 1.0)
        p *= spot_fade * contrast
        spot_L[sl] += depth * p
        spot_a[sl] += sa * p
        db[sl] += sb * p
        spot_list.append({"x": cx, "y": cy, "area_mm2": area, "depth": depth * spot_fade * contrast})

    # ---- wrinkles ----------------------------------------------------------------------------
    wr_list = []
    for _ in range(wrinkles):
        for _try in range(300):
            length = rng.uniform(*wrinkle_length_mm) * px
            width = float(np.exp(rng.uniform(*np.log(wrinkle_width_mm)))) * px
            sig = width / 2.355
            th = rng.uniform(0, math.pi)
            bend = rng.uniform(-0.15, 0.15) * length
            c = rand_center(length / 2 + 3 * sig)
            if c is None:
                continue
            cx, cy = c
            p0 = np.array([cx - math.cos(th) * length / 2, cy - math.sin(th) * length / 2])
            p2 = np.array([cx + math.cos(th) * length / 2, cy + math.sin(th) * length / 2])
            p1 = np.array([cx, cy]) + bend * np.array([-math.sin(th), math.cos(th)])
            t = np.linspace(0, 1, 41)[:, None]
            pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
            if (
                pts[:, 0].min() < margin
                or pts[:, 0].max() > w - margin
                or pts[:, 1].min() < margin
                or pts[:, 1].max() > h - margin
            ):
                continue
            step = max(1, int(len(pts) * 0.5 * px / length))
            discs = np.column_stack([pts[::step], np.full(len(pts[::step]), 3 * sig)])
            if occ.free(discs, 1.5 * px):
                break
        else:
            continue
        occ.add(discs)
        depth = -rng.uniform(6.0, 14.0) * contrast
        seg_len = float(np.hypot(*np.diff(pts, axis=0).T).sum())
        R = int(3.5 * sig + 3)
        sl, yy, xx = grid(
            int(pts[:, 0].min()) - R,
            int(pts[:, 1].min()) - R,
            int(pts[:, 0].max()) + R + 2,
            int(pts[:, 1].max()) + R + 2,
        )
        d2 = np.full(yy.shape, np.inf, np.float32)
        for a_, b_ in itertools.pairwise(pts):
            ab = b_ - a_
            tt = ((xx - a_[0]) * ab[0] + (yy - a_[1]) * ab[1]) / float(ab @ ab)
            tt = np.clip(tt, 0.0, 1.0)
            dx = xx - (a_[0] + tt * ab[0])
            dy = yy - (a_[1] + tt * ab[1])
            np.minimum(d2, dx * dx + dy * dy, out=d2)
        dL[sl] += depth * np.exp(-d2 / (2 * sig * sig))
        wr_list.append({"length_mm": seg_len * mpp, "width_mm": width * mpp, "depth": depth})

    # ---- pores -------------------------------------------------------------------------------
    n_pores = 0
    pore_occ = _Occupancy()
    pxy = np.zeros((0, 2))
    for _ in range(pores):
        for _try in range(30):
            dmm = rng.uniform(*pore_diameter_mm)
            sig = dmm * px / 2.355
            c = rand_center(3 * sig)
            if c is None:
                continue
            cx, cy = c
            disc = np.array([[cx, cy, 3 * sig]])
            if not skin[int(cy), int(cx)]:
                continue
            if occ.free(disc, 0.8 * px) and (
                len(pxy) == 0 or np.hypot(*(pxy - (cx, cy)).T).min() >= 0.8 * px
            ):
                break
        else:
            continue
        pxy = np.vstack([pxy, (cx, cy)])
        depth = -rng.uniform(5.5, 9.0) * contrast
        R = int(3 * sig + 2)
        sl, yy, xx = grid(int(cx) - R, int(cy) - R, int(cx) + R + 2, int(cy) + R + 2)
        spot_L[sl] += depth * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sig * sig))
        n_pores += 1
    del pore_occ

    # ---- background: tone variation and texture -------------------------------------------------
    tone = tone_variation * _smooth_noise(rng, shape, 40.0 * px)
    dL += tone
    da += 0.3 * tone_variation * _smooth_noise(rng, shape, 40.0 * px)
    db += 0.3 * tone_variation * _smooth_noise(rng, shape, 40.0 * px)
    if mottling > 0:
        dL += mottling * _smooth_noise(rng, shape, 6.0 * px)
    if texture > 0:
        g: np.ndarray = rng.standard_normal(shape).astype(np.float32)
        s = 0.15 * px
        g = cv2.GaussianBlur(g, (0, 0), s)
        dL += texture * g / max(float(g.std()), 1e-6)

    lab = np.empty((h, w, 3), np.float32)
    lab[..., 0] = base_lab[0] + dL + spot_L
    lab[..., 1] = base_lab[1] + da + spot_a + red_a
    lab[..., 2] = base_lab[2] + db

    # ---- truth by the spec's definitions on the design ---------------------------------------
    # the thresholds scale with the local L* + 16 as the engine's (its 10 mm background follows
    # the 40 mm tone variation, not the features, mottling or texture)
    to_level = (base_lab[0] + L_OFFSET + tone) / REFERENCE_LEVEL
    cand = ((spot_L <= SPOT_DL * to_level) & (spot_a <= SPOT_DA_MAX * to_level) & skin).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA] * mpp * mpp
    ok = (areas >= 0.1) & (areas <= 100.0)
    red_px = int(((red_a >= RED_DA * to_level) & skin).sum())
    skin_px = int(skin.sum())
    truth = Truth(
        mm_per_px=mpp,
        base_lab=(float(base_lab[0]), float(base_lab[1]), float(base_lab[2])),
        skin_area_mm2=skin_px * mpp * mpp,
        spot_count=int(ok.sum()),
        spot_area_mm2=float(areas[ok].sum()),
        wrinkle_count=len(wr_list),
        wrinkle_length_mm=float(sum(x["length_mm"] for x in wr_list)),
        red_area_pct=100.0 * red_px / skin_px,
        red_area_mm2=red_px * mpp * mpp,
        pore_count=n_pores,
        chart=chart_info,
        spots=spot_list,
        wrinkles=wr_list,
    )

    # ---- capture --------------------------------------------------------------------------------
    srgb = _lab_to_srgb(lab)
    if chart_img is not None:
        assert chart_info is not None
        ci = chart_info["corners"].astype(int)
        srgb[ci[0, 1] : ci[2, 1], ci[0, 0] : ci[1, 0]] = chart_img
    lin = _decode(srgb)
    if shading > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        xn, yn = (xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)
        ang = rng.uniform(0, 2 * math.pi)
        illum = (
            1.0 + shading * (math.cos(ang) * xn + math.sin(ang) * yn) - 0.5 * shading * (xn**2 + yn**2) / 2
        )
        lin *= illum[..., None]
    lin *= perturb.exposure * np.asarray(perturb.wb_gains, np.float32)
    out = _encode(lin)
    mask = skin
    if perturb.rotation_deg or any(perturb.shift_px):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), perturb.rotation_deg, 1.0)
        m[:, 2] += np.asarray(perturb.shift_px, np.float64)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        mask = (
            cv2.warpAffine(
                skin.astype(np.uint8),
                m,
                (w, h),
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_REFLECT101,
            )
            > 0
        )
        if chart_info is not None:
            for key in ("corners", "centers"):
                p = chart_info[key]
                chart_info[key] = p @ m[:, :2].T + m[:, 2]
    if perturb.blur_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), perturb.blur_sigma_px)
    out = out * 255.0
    if perturb.noise_sd > 0:
        nrng = np.random.default_rng(perturb.seed)
        out = out + nrng.standard_normal(out.shape, dtype=np.float32) * perturb.noise_sd
    rgb = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    phone = PHONE_PROFILES[perturb.phone] if perturb.phone is not None else None
    if phone is not None:
        rgb = phone_process(rgb, profile=phone, seed=perturb.seed)
    if perturb.jpeg_quality is not None and (phone is None or phone.codec is None):
        _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(perturb.jpeg_quality)])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert dec is not None
        rgb = np.ascontiguousarray(dec[..., ::-1])
    return Phantom(rgb=rgb, mask=mask, lab=lab, truth=truth, mm_per_px=mpp)
