"""The processing a phone camera applies before it writes the file, for the phantom capture model.

A phone does not store what its sensor saw: its pipeline denoises, tone-maps and sharpens, then
encodes (JPEG or HEIC), differently per device and mode. :func:`phone_process` applies an
approximation of that to an 8-bit sRGB capture, in the order phone pipelines run it (denoise
before tone mapping before sharpening, encoding last), with the parameters of a named
:class:`PhoneProfile` (:data:`PHONE_PROFILES`).

The profiles are approximations, not measurements of particular devices. Vendors do not publish
their pipelines' parameters; the ranges come from what is described for them and what is
measured on their output:

- sharpening is an unsharp mask on luma, of radius 1 to 3 px and amount 0.5 to 1.5 on phones
  (DxOMark's and Imatest's acutance measurements show MTF peaks of 1.1 to 1.5 above 1 at mid
  frequencies on default phone JPEGs, the overshoot of such a mask; Imatest, "Sharpening",
  https://www.imatest.com/docs/sharpening/), several radii at once on the stronger pipelines;
- denoising is edge preserving (bilateral or guided filters and their multi-frame variants;
  Hasinoff et al., "Burst photography for high dynamic range and low-light imaging on mobile
  cameras", ACM TOG 35(6), 2016, for Google's HDR+), stronger on chroma than on luma, and
  here a bilateral filter of a few 8-bit units of range;
- local tone mapping compresses large-scale brightness differences and lifts local contrast
  (Apple's Smart HDR, Google's HDR+ exposure fusion; Mertens et al., Pacific Graphics 2007):
  here the base/detail form of Durand & Dorsey (SIGGRAPH 2002) on log luma, the base a
  Gaussian of a sixteenth of the frame, compressed towards its mean by ``base_compression``,
  the detail (everything finer, skin features included) multiplied by ``detail_gain``;
- encoding at phone qualities: Apple writes HEIC by default since iOS 11 (HEVC, at roughly
  JPEG 85-90's quality), Android cameras JPEG at quality 80 to 95 depending on vendor and mode.
  HEIC here is real HEVC (pillow-heif's libheif/x265), at libheif's quality scale, with x265's
  "ultrafast" preset (ten times faster than its default, so that the studies stay short; a
  phone's hardware HEVC encoder is a low-effort encoder too).

A pipeline adapts to each scene and shot, so each capture draws its sharpening amount and
tone-mapping strengths within ±5 % of the profile's (an assumption: the same face in the same light
moves a pipeline's scene-adaptive tuning little), and its quality within the profile's
range, from ``seed``: the same seed gives the same result.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()

__all__ = ["PHONE_PROFILES", "PhoneProfile", "UnsharpMask", "phone_process"]

#: Shot-to-shot variation of the sharpening amount and tone-mapping strength (relative).
_ADAPTATION = 0.05


@dataclass(frozen=True)
class UnsharpMask:
    """One unsharp mask on luma: ``Y + amount * (Y - gaussian(Y, radius_px))``."""

    radius_px: float
    amount: float


@dataclass(frozen=True)
class PhoneProfile:
    """A phone camera's processing and encoding.

    Attributes
    ----------
    name : str
    description : str
        What it stands for, in a few words (for the benchmark's table).
    denoise_sigma : float
        Range σ of the bilateral denoise in 8-bit units (0: none); the spatial σ is
        ``denoise_radius_px``.
    denoise_radius_px : float
    base_compression : float
        How much of the large-scale log-luma variation local tone mapping takes out, 0 to 1.
    detail_gain : float
        Factor on the finer log-luma detail (1: none).
    sharpen : tuple of UnsharpMask
        Masks applied one after the other (none: no sharpening).
    codec : {"jpeg", "heic"} or None
        ``None``: the file is written as the capture model writes it without a phone (the
        capture's own JPEG quality), no re-encoding here.
    quality : tuple of int
        Encoder quality range (uniform per shot).
    """

    name: str
    description: str
    denoise_sigma: float = 0.0
    denoise_radius_px: float = 0.0
    base_compression: float = 0.0
    detail_gain: float = 1.0
    sharpen: tuple[UnsharpMask, ...] = ()
    codec: str | None = None
    quality: tuple[int, int] = (90, 90)

    @property
    def tone_maps(self) -> bool:
        """Whether the profile applies local tone mapping."""
        return self.base_compression > 0 or self.detail_gain != 1.0

    @property
    def processes(self) -> bool:
        """Whether the profile changes the pixels at all."""
        return bool(self.denoise_sigma > 0 or self.tone_maps or self.sharpen or self.codec)


#: The named profiles. ``pro-raw-like`` is the capture model without phone processing (a RAW or
#: "ProRAW" export developed without sharpening, denoise or local tone mapping).
PHONE_PROFILES: dict[str, PhoneProfile] = {
    "pro-raw-like": PhoneProfile(
        name="pro-raw-like",
        description="no sharpening, denoise or tone mapping (RAW-like capture mode)",
    ),
    "iphone-default": PhoneProfile(
        # moderate single-radius sharpening, light denoise (multi-frame fusion leaves little
        # noise to remove), mild Smart-HDR-like local tone mapping, HEIC as iPhones write it
        name="iphone-default",
        description="unsharp mask r 1.5 px x 0.6, light bilateral denoise, mild local tone "
        "mapping, HEIC 80-90",
        denoise_sigma=6.0,
        denoise_radius_px=1.5,
        base_compression=0.3,
        detail_gain=1.1,
        sharpen=(UnsharpMask(1.5, 0.6),),
        codec="heic",
        quality=(80, 90),
    ),
    "android-default": PhoneProfile(
        # a mid-range Android default: finer, stronger sharpening, moderate denoise and tone map
        name="android-default",
        description="unsharp mask r 1 px x 0.9, moderate bilateral denoise, moderate local "
        "tone mapping, JPEG 88-94",
        denoise_sigma=10.0,
        denoise_radius_px=2.0,
        base_compression=0.4,
        detail_gain=1.2,
        sharpen=(UnsharpMask(1.0, 0.9),),
        codec="jpeg",
        quality=(88, 94),
    ),
    "android-aggressive": PhoneProfile(
        # the "vivid"/beauty end: strong denoise that flattens fine texture, strong local tone
        # mapping, two-radius sharpening that re-creates edges, lower JPEG quality
        name="android-aggressive",
        description="unsharp masks r 0.8 px x 0.5 and r 2 px x 1.0, strong bilateral denoise, "
        "strong local tone mapping, JPEG 78-84",
        denoise_sigma=18.0,
        denoise_radius_px=3.0,
        base_compression=0.6,
        detail_gain=1.35,
        sharpen=(UnsharpMask(0.8, 0.5), UnsharpMask(2.0, 1.0)),
        codec="jpeg",
        quality=(78, 84),
    ),
}


def phone_process(rgb: np.ndarray, *, profile: str | PhoneProfile, seed: int) -> np.ndarray:
    """Apply a phone camera's processing and encoding to an 8-bit sRGB capture.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) uint8 sRGB as the sensor and optics delivered it (noise and blur included).
    profile : str or PhoneProfile
        A name of :data:`PHONE_PROFILES` or a profile.
    seed : int
        Seed of the shot's adaptation (sharpening amount, tone-mapping strength, quality).

    Returns
    -------
    ndarray
        (H, W, 3) uint8 sRGB as decoded from the file the phone wrote; ``rgb`` itself when the
        profile does not process.
    """
    prof = PHONE_PROFILES[profile] if isinstance(profile, str) else profile
    if not prof.processes:
        return rgb
    rng = np.random.default_rng(seed)
    sharpen_gain = float(rng.uniform(1.0 - _ADAPTATION, 1.0 + _ADAPTATION))
    tone_gain = float(rng.uniform(1.0 - _ADAPTATION, 1.0 + _ADAPTATION))
    quality = int(rng.integers(prof.quality[0], prof.quality[1] + 1))

    img: np.ndarray = rgb.astype(np.float32)
    if prof.denoise_sigma > 0:
        img = cv2.bilateralFilter(img, 0, prof.denoise_sigma, prof.denoise_radius_px)
    ycc = cv2.cvtColor(np.clip(img, 0.0, 255.0) / 255.0, cv2.COLOR_RGB2YCrCb)
    luma = ycc[..., 0]
    if prof.tone_maps:
        # log luma = base + detail; base' = mean + (1 - c)(base - mean), detail' = g * detail
        log_luma = np.log(np.maximum(luma, 1.0 / 255.0))
        base = cv2.GaussianBlur(log_luma, (0, 0), max(luma.shape) / 16.0)
        compression = min(1.0, prof.base_compression * tone_gain)
        gain = 1.0 + (prof.detail_gain - 1.0) * tone_gain
        mean = float(base.mean())
        luma = np.exp(mean + (1.0 - compression) * (base - mean) + gain * (log_luma - base))
    for mask in prof.sharpen:
        # the mask's overshoot is what makes phone JPEGs look crisp, and what halos edges
        luma = luma + mask.amount * sharpen_gain * (luma - cv2.GaussianBlur(luma, (0, 0), mask.radius_px))
    ycc[..., 0] = luma
    out = np.clip(np.rint(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) * 255.0), 0, 255).astype(np.uint8)
    return _encode(out, codec=prof.codec, quality=quality)


def _encode(rgb: np.ndarray, *, codec: str | None, quality: int) -> np.ndarray:
    """Write ``rgb`` with ``codec`` at ``quality`` and decode it again."""
    if codec is None:
        return rgb
    if codec == "jpeg":
        ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        dec = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
        if dec is None:
            raise RuntimeError("OpenCV could not encode and decode the JPEG")
        return np.ascontiguousarray(dec[..., ::-1])
    if codec == "heic":
        heic = io.BytesIO()
        Image.fromarray(rgb).save(heic, format="HEIF", quality=quality, enc_params={"preset": "ultrafast"})
        heic.seek(0)
        with Image.open(heic) as im:
            return np.asarray(im.convert("RGB")).copy()
    raise ValueError(f"codec must be 'jpeg', 'heic' or None, got {codec!r}")
