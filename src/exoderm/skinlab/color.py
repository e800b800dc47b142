"""Colour: sRGB to CIE L*a*b* (D65), ColorChecker Classic 24 detection and calibration.

The conversion linearises sRGB exactly (IEC 61966-2-1, via a lookup table for integer
images) and goes from linear RGB to L*a*b* (D65, 2°) with OpenCV's coefficients: for 8-bit
images in one pass of a kernel (``srgb8_to_lab``, :mod:`exoderm.skinlab.kernels`; exact to about
1e-4, where OpenCV's float32 path, a spline of the cube root, is off by up to 0.03 a*), for
others with OpenCV's path. Where a
ColorChecker Classic 24 is visible, a 3x3 colour-correction matrix in linear RGB is fitted to
the chart's reference values (colour-science's "ColorChecker24 - After November 2014", adapted
from D50 to D65 with Bradford) and the residual is reported as mean CIEDE2000.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from . import kernels
from .io import Preview, make_preview

__all__ = [
    "CHART_NAME",
    "Calibration",
    "ChartDetection",
    "apply_ccm",
    "delta_e00",
    "detect_chart",
    "fit_ccm",
    "lab_to_srgb8",
    "reference_lab",
    "reference_srgb",
    "srgb_to_lab",
    "srgb_to_linear",
]

CHART_NAME = "classic24"
_THRESH_STEP = 64
"""Adaptive-threshold window step of the chart finder: windows 23, 87, 151 px (OpenCV's
default 10 tries nine sizes and is three times slower, with no gain on 800 px previews)."""
_REFERENCE = "ColorChecker24 - After November 2014"


@functools.cache
def _reference_xyz_d65() -> np.ndarray:
    import colour  # slow import; only needed once per process

    cc = colour.CCS_COLOURCHECKERS[_REFERENCE]
    xyz = colour.xyY_to_XYZ(np.array(list(cc.data.values())))
    d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    return np.asarray(
        colour.chromatic_adaptation(
            xyz,
            colour.xy_to_XYZ(cc.illuminant),
            colour.xy_to_XYZ(d65),
            method="Von Kries",
            transform="Bradford",
        ),
        dtype=np.float64,
    )


# linear sRGB (D65) <- XYZ (IEC 61966-2-1)
_XYZ_TO_LINEAR = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)


def reference_srgb(*, linear: bool = False) -> np.ndarray:
    """Reference sRGB values of the 24 patches (D65), (24, 3) float64, row by row from 'dark skin'.

    Parameters
    ----------
    linear : bool
        Return linear RGB instead of the gamma-encoded values. Values may fall slightly
        outside [0, 1] (the cyan patch is outside the sRGB gamut).
    """
    lin = _reference_xyz_d65() @ _XYZ_TO_LINEAR.T
    return lin if linear else _encode(lin)


def reference_lab() -> np.ndarray:
    """Reference CIE L*a*b* (D65) of the 24 patches, (24, 3) float64."""
    return _xyz_to_lab(_reference_xyz_d65())


_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def _xyz_to_lab(xyz: np.ndarray) -> np.ndarray:
    t = xyz / _D65_WHITE
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def _decode(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _encode(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    a = np.abs(v)
    return np.sign(v) * np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1 / 2.4) - 0.055)


@functools.cache
def _lut(bits: int) -> np.ndarray:
    n = 1 << bits
    return _decode(np.arange(n) / (n - 1)).astype(np.float32)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Linearise sRGB (uint8, uint16 or float in [0, 1]) to float32 linear RGB."""
    if rgb.dtype == np.uint8:
        return cv2.LUT(rgb, _lut(8).reshape(1, 256))
    if rgb.dtype == np.uint16:
        return _lut(16)[rgb]
    return _decode(rgb).astype(np.float32)


def apply_ccm(linear: np.ndarray, ccm: np.ndarray) -> np.ndarray:
    """Apply a 3x3 colour-correction matrix to (…, 3) float32 linear RGB (``out = ccm @ rgb``)."""
    shape = linear.shape
    flat = np.ascontiguousarray(linear.reshape(-1, 1, 3), dtype=np.float32)
    return cv2.transform(flat, ccm.astype(np.float32)).reshape(shape)


#: Linear RGB to XYZ relative to the D65 white: OpenCV's sRGB coefficients (those of its
#: ``COLOR_LRGB2Lab``), each row divided by the white's X, Y or Z.
_LRGB_TO_WHITE_XYZ = (
    np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
    / np.array([0.950456, 1.0, 1.088754])[:, None]
).astype(np.float32)


def srgb_to_lab(
    rgb: np.ndarray, *, ccm: np.ndarray | None = None, where: np.ndarray | None = None
) -> np.ndarray:
    """Convert sRGB to CIE L*a*b* (D65, 2° observer).

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) sRGB, uint8, uint16 or float in [0, 1].
    ccm : ndarray, optional
        A 3x3 colour-correction matrix in linear RGB (from :func:`fit_ccm`) applied first.
    where : ndarray, optional
        (H, W) bool or uint8 mask of the pixels needed. The image is then converted in bands of
        rows, each only from its first to its last needed column (a face's outline leaves a
        third of its bounding box out); the other pixels are 0.

    Returns
    -------
    ndarray
        (H, W, 3) float32 L* in [0, 100], a*, b*. Values brighter than diffuse white
        saturate at L* = 100. For an 8-bit (H, W, 3) image, a view of three planes
        (``lab[..., 0]`` has contiguous rows, the layout the metrics read).
    """
    if rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3:
        need = None if where is None else np.ascontiguousarray(where).view(np.uint8)
        matrix = None if ccm is None else np.ascontiguousarray(ccm, np.float32)
        planes = kernels.active().srgb8_to_lab(rgb, _lut(8), matrix, _LRGB_TO_WHITE_XYZ, need)
        lab: np.ndarray = planes.transpose(1, 2, 0)
        return lab
    if where is None or rgb.ndim != 3:
        return _srgb_to_lab(rgb, ccm)
    h, w = rgb.shape[:2]
    out = np.zeros((h, w, 3), np.float32)
    need = where.view(np.uint8)
    for y in range(0, h, _BAND_ROWS):
        x, _, bw, _ = cv2.boundingRect(need[y : y + _BAND_ROWS])
        if bw:
            _srgb_to_lab(rgb[y : y + _BAND_ROWS, x : x + bw], ccm, out[y : y + _BAND_ROWS, x : x + bw])
    return out


_BAND_ROWS = 32
"""Rows per band of :func:`srgb_to_lab` with ``where`` (a band's temporaries stay in the cache)."""


def _srgb_to_lab(rgb: np.ndarray, ccm: np.ndarray | None, out: np.ndarray | None = None) -> np.ndarray:
    """The conversion, written into ``out`` (a view of the same shape) when given."""
    lin = srgb_to_linear(rgb)
    if ccm is not None:
        lin = apply_ccm(lin, ccm)
        np.clip(lin, 0.0, None, out=lin)
    if lin.ndim == 2:
        return cv2.cvtColor(lin.reshape(1, -1, 3), cv2.COLOR_RGB2Lab).reshape(lin.shape)
    return cv2.cvtColor(lin, cv2.COLOR_LRGB2Lab, dst=out)


def lab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    """Convert float32 CIE L*a*b* (D65) back to uint8 sRGB (for overlays and tests)."""
    lin = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2LRGB)
    return np.round(np.clip(_encode(np.clip(lin, 0, 1)), 0, 1) * 255).astype(np.uint8)


def delta_e00(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference between two (…, 3) L*a*b* arrays."""
    import colour

    return np.asarray(colour.delta_E(np.asarray(lab1, float), np.asarray(lab2, float), method="CIE 2000"))


@dataclass
class ChartDetection:
    """A ColorChecker Classic 24 found in an image.

    Attributes
    ----------
    patch_srgb : ndarray
        (24, 3) median sRGB of each patch's central area, in [0, 1], reference order.
    patch_polygons : ndarray
        (24, 4, 2) patch corners in full-resolution pixel coordinates (x, y).
    box : ndarray
        (4, 2) chart outline in pixels (x, y).
    pitch_px : float
        Mean centre-to-centre distance between neighbouring patches, in pixels.
    """

    patch_srgb: np.ndarray
    patch_polygons: np.ndarray
    box: np.ndarray
    pitch_px: float

    def draw_mask(
        self, canvas: np.ndarray, *, offset: tuple[int, int] = (0, 0), margin: float = 0.12
    ) -> np.ndarray:
        """Paint the chart (its outline grown by ``margin`` of its size) as 1 into a uint8 canvas.

        ``offset`` is the canvas's (x0, y0) in the full image.
        """
        c = self.box.mean(axis=0)
        poly = c + (self.box - c) * (1 + 2 * margin) - offset
        cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 1)
        return canvas

    def mask(self, shape: tuple[int, int], *, margin: float = 0.12) -> np.ndarray:
        """Boolean mask of the chart (see :meth:`draw_mask`) for an image of ``shape``."""
        return self.draw_mask(np.zeros(shape, np.uint8), margin=margin).view(bool)


@dataclass
class Calibration:
    """A fitted colour correction.

    Attributes
    ----------
    ccm : ndarray
        3x3 matrix in linear RGB.
    delta_e00_mean : float
        Mean CIEDE2000 between the corrected patches and their reference values.
    delta_e00_max : float
        Largest patch residual.
    """

    ccm: np.ndarray
    delta_e00_mean: float
    delta_e00_max: float


_MIN_FAMILY_PX = 100
"""Pre-check of the chart finder: pixels of saturated green and of saturated blue/cyan the
preview must contain (three chart patches of each family, each 6 x 6 preview pixels)."""


def _chart_colours_present(rgb8: np.ndarray) -> bool:
    """Cheap test that an image may hold a ColorChecker: saturated greens and blues both present.

    Skin, hair and neutral backgrounds have neither, so most face photos skip the (about
    100 ms) chart finder; a false yes only costs that time.
    """
    hsv = cv2.cvtColor(rgb8, cv2.COLOR_RGB2HSV_FULL)  # hue 0-255 for 0-360°
    green = cv2.inRange(hsv, (57, 90, 40), (120, 255, 255))  # hue 80-170°
    blue = cv2.inRange(hsv, (135, 90, 40), (184, 255, 255))  # hue 190-260°
    return cv2.countNonZero(green) >= _MIN_FAMILY_PX and cv2.countNonZero(blue) >= _MIN_FAMILY_PX


def detect_chart(
    rgb: np.ndarray, *, max_side: int = 800, preview: Preview | None = None
) -> ChartDetection | None:
    """Find a ColorChecker Classic 24 with OpenCV's ``mcc`` module.

    Detection runs on a copy downscaled to ``max_side``; patch colours are then sampled on
    the full-resolution image (median of the central half of each patch).

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) sRGB uint8 or uint16.
    max_side : int
        Longest side of the detection copy.
    preview : Preview, optional
        A detection copy already made (``max_side`` is then ignored).

    Returns
    -------
    ChartDetection or None
        None when no chart is found.
    """
    h, w = rgb.shape[:2]
    pv = preview if preview is not None else make_preview(rgb, max_side)
    f = pv.scale
    if not _chart_colours_present(pv.rgb):
        return None
    det = cv2.mcc.CCheckerDetector_create()  # type: ignore[attr-defined]
    params = cv2.mcc.DetectorParameters_create()  # type: ignore[attr-defined]
    params.adaptiveThreshWinSizeStep = _THRESH_STEP
    if not det.process(cv2.cvtColor(pv.rgb, cv2.COLOR_RGB2BGR), cv2.mcc.MCC24, 1, False, params):
        return None
    checker = det.getBestColorChecker()
    polys = np.asarray(checker.getColorCharts(), dtype=np.float64).reshape(24, 4, 2) / f
    box = np.asarray(checker.getBox(), dtype=np.float64).reshape(4, 2) / f
    full = float(np.iinfo(rgb.dtype).max)
    patches = np.empty((24, 3))
    for i, poly in enumerate(polys):
        c = poly.mean(axis=0)
        inner = c + (poly - c) * 0.5
        x0, y0 = np.floor(inner.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return None
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(m, [np.round(inner - (x0, y0)).astype(np.int32)], 1)
        px = rgb[y0:y1, x0:x1][m.astype(bool)]
        if px.size == 0:
            return None
        patches[i] = np.median(px, axis=0) / full
    centres = polys.mean(axis=1).reshape(4, 6, 2)
    pitch = float(
        np.mean(
            np.concatenate(
                [
                    np.linalg.norm(np.diff(centres, axis=1), axis=-1).ravel(),
                    np.linalg.norm(np.diff(centres, axis=0), axis=-1).ravel(),
                ]
            )
        )
    )
    return ChartDetection(patches, polys, box, pitch)


MIN_FIT_PATCHES = 12
"""Unclipped chart patches needed to fit a colour-correction matrix."""


def fit_ccm(patch_srgb: np.ndarray) -> Calibration:
    """Fit a 3x3 linear-RGB colour-correction matrix to measured chart patches.

    The fit is weighted least squares in linear RGB over the patches that are not clipped
    (any channel at 98 % of full scale or more), the six neutrals and the two skin patches
    weighted three times. The residual is the CIEDE2000 between corrected and reference
    values over the same patches; with fewer than ``MIN_FIT_PATCHES`` of them no matrix is
    fitted (identity) and the residual is taken over all 24, so that it shows.

    Parameters
    ----------
    patch_srgb : ndarray
        (24, 3) measured sRGB in [0, 1], reference order (as :func:`detect_chart` returns).

    Returns
    -------
    Calibration
        The matrix and its residual ΔE00 on the chart.
    """
    meas = _decode(np.clip(patch_srgb, 0, 1))
    ref = reference_srgb(linear=True)
    usable = np.all(patch_srgb < 0.98, axis=1)  # clipped patches carry no information
    wts = np.ones(24)
    wts[18:24] = 3.0  # neutral row
    wts[:2] = 3.0  # dark and light skin
    wts = np.where(usable, wts, 0.0)
    sw = np.sqrt(wts)[:, None]
    if usable.sum() >= MIN_FIT_PATCHES:
        x, *_ = np.linalg.lstsq(meas * sw, ref * sw, rcond=None)
        ccm = x.T
    else:
        ccm, usable = np.eye(3), np.ones(24, bool)
    corrected = np.clip(meas @ ccm.T, 0, None)
    lab = _xyz_to_lab(corrected @ np.linalg.inv(_XYZ_TO_LINEAR).T)
    de = delta_e00(lab, reference_lab())[usable]
    return Calibration(ccm, float(np.mean(de)), float(np.max(de)))
