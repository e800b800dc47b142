"""The clinic's logo: checked, scaled down and re-encoded on upload, printed at the head of the
patient documents (the photo report, the signed consent, the export).

A logo is a small picture the clinic shows the public, not health data, so it is kept in the clinic's
row as PNG bytes (at most :data:`STORED_SIZE` pixels, some ten to a hundred kilobytes) rather than
in the encrypted photo store: the database backup holds it, and no file can go missing. Only what
Pillow decoded and drew anew is kept: the upload's metadata, other chunks and any trailing bytes
are dropped with it.
"""

from __future__ import annotations

import io
import warnings

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from fpdf import FPDF
from PIL import Image, UnidentifiedImageError

#: largest upload accepted; a logo is far smaller
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
#: a decoded picture beyond this is refused before its pixels are read (a decompression bomb)
MAX_SOURCE_PIXELS = 40_000_000
#: the stored logo fits this box (pixels): sharp at the height it is printed
STORED_SIZE = (900, 300)
#: the printed logo's height (mm)
PRINTED_HEIGHT_MM = 14.0


def clean_logo(data: bytes) -> bytes:
    """The upload ``data`` as a PNG of at most :data:`STORED_SIZE`, transparency kept; a
    ``ValidationError`` on ``logo`` for anything that is not a readable PNG or JPEG within the limits."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            {"logo": _("The logo is too large (at most %(mb)d MB).") % {"mb": MAX_UPLOAD_BYTES // 1024**2}}
        )
    unreadable = ValidationError({"logo": _("The logo must be a PNG or JPEG picture.")})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as picture:
                width, height = picture.size  # from the header, before any pixel is decoded
                if width * height > MAX_SOURCE_PIXELS:
                    raise ValidationError({"logo": _("The logo has too many pixels.")})
                picture.load()
                drawn = picture.convert("RGBA")
    except ValidationError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise unreadable from None
    drawn.thumbnail(STORED_SIZE, Image.Resampling.LANCZOS)
    if drawn.getchannel("A").getextrema() == (255, 255):
        drawn = drawn.convert("RGB")  # opaque: a smaller file
    out = io.BytesIO()
    drawn.save(out, format="PNG", optimize=True)
    return out.getvalue()


def print_logo(pdf: FPDF, logo: bytes | memoryview | None, *, height: float = PRINTED_HEIGHT_MM) -> None:
    """Print ``logo`` at the left margin where the page's text stands, and move below it; nothing
    without a logo."""
    if not logo:
        return
    data = bytes(logo)
    with Image.open(io.BytesIO(data)) as picture:
        width_px, height_px = picture.size
    top = pdf.get_y()
    width = min(height * width_px / height_px, pdf.w - pdf.l_margin - pdf.r_margin)
    pdf.image(io.BytesIO(data), x=pdf.l_margin, y=top, w=width, h=width * height_px / width_px)
    pdf.set_xy(pdf.l_margin, top + width * height_px / width_px + 2)
