"""Image loading: JPEG, PNG, TIFF (8/16 bit) and HEIC to an sRGB array.

EXIF orientation is applied and embedded ICC profiles are converted to sRGB, as
``shared/specs/skin-metrics.md`` requires before any colour is measured. JPEGs are decoded
with libjpeg-turbo (simplejpeg); the orientation is then applied by rotating the array.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import simplejpeg
import tifffile
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from . import kernels

try:  # pillow-heif registers HEIC/HEIF with Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a hard dependency
    pass

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "ImageLoadError",
    "LoadedImage",
    "Preview",
    "SkinlabError",
    "from_array",
    "full_scale",
    "grey",
    "load_image",
    "make_preview",
    "to_uint8",
]

MAX_PIXELS = 120_000_000
"""Images with more pixels are refused (decompression-bomb guard)."""

MIN_SIDE = 64
"""Images with a side shorter than this are refused: nothing on them can be measured."""

_EXIF_ORIENTATION = 0x0112


class SkinlabError(Exception):
    """Base class of every error skinlab raises on bad input."""


class ImageLoadError(SkinlabError):
    """The file is not an image skinlab can analyse; the message says why."""


@dataclass
class LoadedImage:
    """A decoded photo in sRGB, orientation applied.

    Attributes
    ----------
    rgb : ndarray
        (H, W, 3) uint8 or uint16 sRGB, rows top to bottom as the viewer sees the photo.
    file : str or None
        File name (no directory) if loaded from a path.
    orientation : int
        The EXIF orientation that was applied (1 = none).
    icc_converted : bool
        Whether an embedded non-sRGB ICC profile was converted to sRGB.
    notes : list of str
        Anything the caller should know about the decoding.
    decoder : str
        Which decoder read the pixels: ``libjpeg-turbo``, ``pillow``, ``opencv``, ``tifffile``
        or ``array`` (passed in as pixels).
    lossless : bool or None
        Whether the file kept every pixel as captured: True for PNG and for uncompressed or
        losslessly compressed TIFF, False for JPEG, HEIC and JPEG-compressed TIFF; None for
        pixel arrays and formats where it cannot be told. Lossy compression removes the finest
        spots and some redness, so it decides which metrics two photos can be compared on.
    """

    rgb: np.ndarray
    file: str | None = None
    orientation: int = 1
    icc_converted: bool = False
    notes: list[str] = field(default_factory=list)
    decoder: str = "array"
    lossless: bool | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def full_scale(rgb: np.ndarray) -> int:
    """Full-scale sample value of an image array: 65535 for uint16, else 255."""
    return 65535 if rgb.dtype == np.uint16 else 255


def grey(rgb: np.ndarray) -> np.ndarray:
    """Grey level (Rec. 601 luma of the sRGB values) as float32 in [0, 1]."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return g.astype(np.float32) * np.float32(1.0 / full_scale(rgb))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """The image with 8-bit samples (uint16 keeps its high byte; uint8 is returned as is)."""
    return (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb


@dataclass
class Preview:
    """A small uint8 copy of an image for detection stages (face mesh, chart finder).

    Attributes
    ----------
    rgb : ndarray
        (h, w, 3) uint8 sRGB.
    scale : float
        Preview pixels per full-resolution pixel (<= 1).
    """

    rgb: np.ndarray
    scale: float


def make_preview(rgb: np.ndarray, max_side: int = 800) -> Preview:
    """Downscale by a whole factor (area averaging) to a longest side of at most ``max_side``; 8 bits.

    Block averages over a whole factor k (twice as fast as a fractional one); up to k - 1
    pixels at the right and bottom edges are left out. An 8-bit image with k >= 3 goes through
    the compiled kernel (the same values as OpenCV's block averaging, in half the time); k = 2
    and 16-bit images through OpenCV.
    """
    h, w = rgb.shape[:2]
    k = max(1, -(-max(h, w) // max_side))  # ceil
    if k == 1:
        return Preview(np.ascontiguousarray(to_uint8(rgb)), 1.0)
    if rgb.dtype == np.uint8 and rgb.flags.c_contiguous and 3 <= k <= kernels.active().MAX_AREA_FACTOR:
        return Preview(kernels.active().area_downscale(rgb, k), 1.0 / k)
    src = rgb[: h - h % k, : w - w % k]
    small = cv2.resize(src, (src.shape[1] // k, src.shape[0] // k), interpolation=cv2.INTER_AREA)
    return Preview(np.ascontiguousarray(to_uint8(small)), 1.0 / k)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"image is {width}x{height} = {width * height / 1e6:.0f} megapixels, more than the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit (possible decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(f"image is {width}x{height} pixels; at least {MIN_SIDE} px per side is needed")


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, ...) array."""
    ops = {
        2: lambda a: a[:, ::-1],  # mirror
        3: lambda a: a[::-1, ::-1],  # rotate 180°
        4: lambda a: a[::-1],  # flip
        5: lambda a: a.swapaxes(0, 1),  # transpose
        6: lambda a: np.rot90(a, k=-1),  # rotate 90° clockwise
        7: lambda a: np.rot90(a[:, ::-1], k=-1),  # transverse
        8: lambda a: np.rot90(a, k=1),  # rotate 90° counter-clockwise
    }
    op = ops.get(orientation)
    return arr if op is None else np.ascontiguousarray(op(arr))


def _is_srgb_profile(icc: bytes) -> bool:
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(prof).lower()
    except (OSError, ImageCms.PyCMSError):
        return False
    return "srgb" in desc or "61966" in desc


def _icc_to_srgb(rgb8: np.ndarray, icc: bytes) -> np.ndarray:
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    dst = ImageCms.createProfile("sRGB")
    im = Image.fromarray(rgb8, "RGB")
    out = ImageCms.profileToProfile(
        im, src, dst, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
    )
    return np.asarray(out)


def _finish(
    arr: np.ndarray,
    file: str | None,
    orientation: int,
    icc: bytes | None,
    decoder: str,
    lossless: bool | None = None,
) -> LoadedImage:
    """Common checks: channel layout, greyscale refusal, ICC conversion."""
    notes: list[str] = []
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 2)):
        raise ImageLoadError("greyscale image: skin colour metrics need an RGB photo")
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageLoadError(f"unsupported pixel layout {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.round(np.clip(arr, 0.0, 1.0) * 65535).astype(np.uint16)
        else:
            raise ImageLoadError(f"unsupported sample type {arr.dtype}")
    _check_size(arr.shape[1], arr.shape[0])
    sub = arr[::7, ::7]
    if np.array_equal(sub[..., 0], sub[..., 1]) and np.array_equal(sub[..., 1], sub[..., 2]):
        raise ImageLoadError("greyscale image (R = G = B): skin colour metrics need a colour photo")
    converted = False
    if icc and not _is_srgb_profile(icc):
        try:
            if arr.dtype == np.uint16:
                # LittleCMS via Pillow handles 8-bit RGB only; keep precision where no
                # conversion is needed and accept 8-bit precision where one is.
                arr = to_uint8(arr)
                notes.append("16-bit image reduced to 8 bits for ICC conversion")
            arr = _icc_to_srgb(np.ascontiguousarray(arr), icc)
            converted = True
        except (OSError, ImageCms.PyCMSError) as exc:
            notes.append(f"embedded ICC profile could not be applied ({exc}); sRGB assumed")
    return LoadedImage(np.ascontiguousarray(arr), file, orientation, converted, notes, decoder, lossless)


def from_array(rgb: np.ndarray, *, file: str | None = None) -> LoadedImage:
    """Validate pixels given as an array like a loaded file (layout, size, greyscale).

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3|4) sRGB, uint8, uint16 or float in [0, 1] (stored as uint16), orientation
        already applied.

    Raises
    ------
    ImageLoadError
        As :func:`load_image` does for files.
    """
    return _finish(np.asarray(rgb), file, 1, None, "array")


def _load_jpeg(data: bytes, file: str | None) -> LoadedImage | None:
    """Fast path: libjpeg-turbo; None if simplejpeg cannot handle the file (e.g. CMYK)."""
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in ("YCbCr", "RGB", "Gray"):
        return None
    _check_size(w, h)
    with Image.open(io.BytesIO(data)) as im:  # header only: EXIF and ICC
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        icc = im.info.get("icc_profile")
    if colorspace == "Gray":
        raise ImageLoadError("greyscale image: skin colour metrics need an RGB photo")
    try:
        arr = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as exc:
        raise ImageLoadError(f"corrupt or truncated JPEG: {exc}") from exc
    return _finish(_orient(arr, orientation), file, orientation, icc, "libjpeg-turbo", lossless=False)


def _load_tiff(data: bytes, file: str | None) -> LoadedImage:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            page = tf.pages.first
            h, w = page.imagelength, page.imagewidth
            _check_size(w, h)
            arr = page.asarray()
            lossless = _tiff_lossless(page.compression)
            orientation = int(page.tags.valueof("Orientation", 1) or 1)
            icc = page.tags.valueof("InterColorProfile")
    except ImageLoadError:
        raise
    except Exception as exc:  # tifffile raises many types on corrupt input
        raise ImageLoadError(f"corrupt or unsupported TIFF: {exc}") from exc
    if isinstance(icc, (tuple, list, np.ndarray)):
        icc = bytes(bytearray(icc))
    return _finish(_orient(arr, orientation), file, orientation, icc or None, "tifffile", lossless)


_LOSSLESS_TIFF = {
    "NONE",
    "LZW",
    "ADOBE_DEFLATE",
    "DEFLATE",
    "PACKBITS",
    "LZMA",
    "ZSTD",
    "ZSTD_DEPRECATED",
    "PNG",
}
_LOSSY_TIFF = {
    "OJPEG",
    "JPEG",
    "JPEG_99",
    "ALT_JPEG",
    "JPEG_LOSSY",
    "JPEG_2000_LOSSY",
    "WEBP",
    "WEBP_DEPRECATED",
}


def _tiff_lossless(compression: Any) -> bool | None:
    """True for the TIFF compressions that keep every pixel, False for the JPEG and WebP ones,
    None for those that may be either (JPEG 2000, JPEG XL)."""
    name = getattr(compression, "name", str(compression))
    return True if name in _LOSSLESS_TIFF else False if name in _LOSSY_TIFF else None


def _load_pillow(data: bytes, file: str | None) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            # our own MAX_PIXELS check below decides; Pillow's error stays as a backstop
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data))
            _check_size(*im.size)
            orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            icc = im.info.get("icc_profile")
            lossless = {
                "PNG": True,
                "BMP": True,
                "PPM": True,
                "JPEG": False,
                "MPO": False,
                "HEIF": False,
            }.get(im.format or "")
            im.load()
            im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"image too large (possible decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError("not an image file (format not recognised)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"corrupt or truncated image: {exc}") from exc
    if im.mode in ("L", "LA", "1", "I", "I;16", "I;16B", "F"):
        raise ImageLoadError("greyscale image: skin colour metrics need an RGB photo")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] == 16 and data[25] in (2, 6):
        # Pillow reads 16-bit RGB PNGs as 8 bits; OpenCV keeps all 16.
        dec = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if dec is None:
            raise ImageLoadError("corrupt or truncated 16-bit PNG")
        return _finish(
            _orient(cv2.cvtColor(dec[..., :3], cv2.COLOR_BGR2RGB), orientation),
            file,
            orientation,
            icc,
            "opencv",
            lossless,
        )
    arr = np.asarray(im if im.mode in ("RGB", "RGBA") else im.convert("RGB"))
    return _finish(arr, file, orientation, icc, "pillow", lossless)


def load_image(source: str | Path | bytes) -> LoadedImage:
    """Decode a photo to an sRGB array with orientation and colour profile applied.

    Parameters
    ----------
    source : str, Path or bytes
        A file path or the file's bytes. JPEG, PNG, TIFF (8 or 16 bit) and HEIC/HEIF are read.

    Returns
    -------
    LoadedImage
        The decoded image; ``rgb`` is uint8 or (16-bit TIFF/PNG) uint16.

    Raises
    ------
    ImageLoadError
        If the file is missing, truncated, not an image, greyscale, smaller than
        ``MIN_SIDE`` pixels per side or larger than ``MAX_PIXELS``.
    """
    file: str | None = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        file = path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) < 8:
        raise ImageLoadError("file is empty or too short to be an image")
    if data[:3] == b"\xff\xd8\xff":
        loaded = _load_jpeg(data, file)
        if loaded is not None:
            return loaded
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        return _load_tiff(data, file)
    return _load_pillow(data, file)


def as_loaded(image: str | Path | bytes | np.ndarray | LoadedImage) -> LoadedImage:
    """Load a path or bytes, wrap an RGB array, or pass a :class:`LoadedImage` through."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, np.ndarray):
        return from_array(image)
    return load_image(image)
