"""Upload validation: recognise an allowed image by its content, decode it fully, re-encode it clean.

Nothing of the uploaded file survives but its pixels: the output is a fresh image built from the
decoded pixel buffer (orientation applied, converted to sRGB), so EXIF, GPS, XMP, comments, ICC
profiles, thumbnails and any bytes appended after the image (archives of a polyglot) are gone.
What the clinic needs from the metadata is read first and returned as plain fields: the capture
time (EXIF ``DateTimeOriginal``) and the orientation that was applied.

No Django model is touched here; :mod:`exoderm.photos.services` calls :func:`clean_image`.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

try:  # pillow-heif registers HEIC/HEIF with Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a hard dependency
    pass

MAX_PIXELS = 80_000_000
"""More pixels than this are refused before decoding (decompression bombs): below Pillow's own
bomb warning, above the 50 MP of current phone cameras."""

MIN_SIDE = 64
"""Shorter sides are refused: nothing on such an image can be measured (skinlab's own limit)."""

JPEG_QUALITY = 95

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ORIENTATION = 0x0112
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class CleanImage:
    """A validated photo, re-encoded without metadata."""

    data: bytes
    format: str  # stored format: "jpeg" or "png"
    source_format: str  # recognised upload format: "jpeg", "png", "tiff" or "heic"
    width: int
    height: int
    orientation: int  # EXIF orientation of the upload that was applied to the pixels (1 = none)
    taken_at: dt.datetime | None  # EXIF DateTimeOriginal, aware

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else "png"

    @property
    def content_type(self) -> str:
        return f"image/{self.format}"


def sniff_format(head: bytes) -> str | None:
    """The allowed format the first bytes announce, or None. Names and client MIME types are ignored."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


_PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF", "heic": "HEIF"}


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": message})


def clean_image(path: Path, *, time_zone: str) -> CleanImage:
    """Validate the upload at ``path`` and return its pixels re-encoded without any metadata.

    ``time_zone`` interprets an EXIF capture time that carries no offset (cameras write local time).
    Raises ``ValidationError`` (field ``file``) for anything that is not a complete, allowed image.
    """
    with path.open("rb") as fh:
        head = fh.read(32)
    source_format = sniff_format(head)
    if source_format is None:
        raise _refuse(_("This is not a JPEG, PNG, TIFF or HEIC image."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[_PILLOW_FORMAT[source_format]]) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise _refuse(
                        _("The image has %(mp)d megapixels; at most %(max)d are accepted.")
                        % {"mp": width * height // 1_000_000, "max": MAX_PIXELS // 1_000_000}
                    )
                if min(width, height) < MIN_SIDE:
                    raise _refuse(_("The image is too small to measure anything on it."))
                if getattr(img, "n_frames", 1) > 1 and source_format == "tiff":
                    raise _refuse(_("A TIFF with several pages is not one photo."))
                exif = img.getexif()
                orientation = int(exif.get(_ORIENTATION, 1) or 1)
                if orientation not in range(1, 9):
                    orientation = 1
                # pillow-heif turns HEIC pixels upright itself and resets the EXIF tag to 1
                heif_orientation = img.info.get("original_orientation") if source_format == "heic" else None
                taken_at = _capture_time(exif, time_zone)
                icc = img.info.get("icc_profile")
                img.load()  # decodes every byte: truncated or corrupt data fails here
                upright = ImageOps.exif_transpose(img) if orientation != 1 else img
                rgb = _to_srgb(upright, icc)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _refuse(_("The image cannot be decoded: %(reason)s") % {"reason": exc}) from None
    except (Image.DecompressionBombWarning, MemoryError):
        raise _refuse(_("The image is too large to decode safely.")) from None

    # A new image from the bare pixel buffer: no info dict, so no comment, XMP, ICC or EXIF.
    fresh = Image.frombytes(rgb.mode, rgb.size, rgb.tobytes())
    out = io.BytesIO()
    stored = "jpeg" if source_format in ("jpeg", "heic") else "png"
    if stored == "jpeg":
        fresh.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        fresh.save(out, "PNG", optimize=False, compress_level=6)
    if isinstance(heif_orientation, int) and heif_orientation in range(1, 9):
        orientation = heif_orientation
    return CleanImage(
        data=out.getvalue(),
        format=stored,
        source_format=source_format,
        width=fresh.width,
        height=fresh.height,
        orientation=orientation,
        taken_at=taken_at,
    )


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit RGB in sRGB. Embedded profiles (Display P3 on phones, Adobe RGB) are converted,
    because the stored file carries no profile and skinlab reads it as sRGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGBA") if "A" in img.mode or img.mode == "P" else img.convert("RGB")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        img = background
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if img.mode in ("RGB", "CMYK"):
                return ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGB") or img.convert("RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # an unreadable profile: treat the pixels as sRGB, as a browser would
    return img.convert("RGB")


def _capture_time(exif: Image.Exif, time_zone: str) -> dt.datetime | None:
    """EXIF DateTimeOriginal as an aware datetime; None when missing or not a well-formed time."""
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        naive = dt.datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            return dt.datetime.strptime(f"{naive:%Y-%m-%d %H:%M:%S}{offset.strip()}", "%Y-%m-%d %H:%M:%S%z")
        except ValueError:
            pass
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(time_zone))
