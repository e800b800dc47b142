"""The signature picture and the PDF of a signed consent, and the scan of a consent signed on paper:
checked, rendered, encrypted at rest.

Both are kept in the signature's row, encrypted with the clinic's data key in the photo store's
format (:mod:`exoderm.vault.cipher`, AES-256-GCM) and bound to their place: the context names the
clinic, the consent record and the column, so bytes copied into another row or another clinic's
record do not decrypt. They are small (a signature at most :data:`MAX_SIGNATURE_BYTES`, its PDF a
few hundred kilobytes), so the database keeps them with the record in one transaction, a failed
signing leaves no file behind, and the database backup holds them. A data key rotation re-encrypts
them (:func:`reseal_all`, called by ``exoderm manage rotate_keys --data-keys``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from exoderm.clinics.logo import print_logo
from exoderm.vault import cipher

if TYPE_CHECKING:
    from exoderm.consent.models import ConsentRecord, ConsentScan, ConsentSignature

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: a finger's signature on a tablet canvas as PNG is some 5-60 kB; anything far larger is not one
MAX_SIGNATURE_BYTES = 512 * 1024
MAX_SIGNATURE_PIXELS = (4000, 2000)
#: fewer dark pixels than this is no signature (an empty canvas, a dot, a stray touch)
MIN_INK_PIXELS = 150
FONTS = Path(__file__).parent / "fonts"


# --- the picture of the signature ---------------------------------------------------------------


def check_signature_png(data: bytes) -> None:
    """Refuse what is not a real PNG of a drawn signature: other formats, a file beyond
    :data:`MAX_SIGNATURE_BYTES` or :data:`MAX_SIGNATURE_PIXELS`, and a blank (or nearly blank) one.

    Ink is a pixel that is opaque enough and dark enough, so a transparent canvas and a canvas
    filled with white both count as blank.
    """
    if len(data) > MAX_SIGNATURE_BYTES:
        raise ValidationError(
            {
                "signature": _("The signature picture is too large (at most %(kb)d kB).")
                % {"kb": MAX_SIGNATURE_BYTES // 1024}
            }
        )
    not_png = ValidationError({"signature": _("The signature is not a PNG picture.")})
    if not data.startswith(PNG_MAGIC):
        raise not_png
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != "PNG":
                raise not_png
            width, height = probe.size  # from the header, before any pixel is decoded
            if width > MAX_SIGNATURE_PIXELS[0] or height > MAX_SIGNATURE_PIXELS[1]:
                raise ValidationError(
                    {
                        "signature": _("The signature picture is too large (at most %(w)d × %(h)d pixels).")
                        % {"w": MAX_SIGNATURE_PIXELS[0], "h": MAX_SIGNATURE_PIXELS[1]}
                    }
                )
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            # luminance and opacity, a byte each: 16 MB for the largest picture allowed
            pixels = np.asarray(image.convert("LA"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_png from None
    ink = int(np.count_nonzero((pixels[..., 1] > 64) & (pixels[..., 0] < 160)))
    if ink < MIN_INK_PIXELS:
        raise ValidationError({"signature": _("The signature is empty: please sign in the box.")})


# --- encryption at rest -------------------------------------------------------------------------


def _context(*, clinic_id: int, record_id: int, column: str) -> bytes:
    return f"consent/{clinic_id}/{record_id}/{column}".encode()


def seal(data: bytes, *, clinic_id: int, record_id: int, column: str) -> bytes:
    """``data`` encrypted with the clinic's newest data key, bound to the record and column."""
    from exoderm.vault.services import current_data_key

    version, key = current_data_key(clinic_id=clinic_id)
    out = io.BytesIO()
    cipher.seal(
        [data],
        out,
        key=key,
        key_version=version,
        context=_context(clinic_id=clinic_id, record_id=record_id, column=column),
    )
    return out.getvalue()


def unseal(blob: bytes | memoryview, *, clinic_id: int, record_id: int, column: str) -> bytes:
    """The plaintext of a sealed column; :class:`exoderm.vault.cipher.DecryptionError` if it was
    altered, copied from elsewhere, or its data key is gone."""
    from exoderm.vault.services import data_key

    return b"".join(
        cipher.open_sealed(
            io.BytesIO(bytes(blob)),
            key_for=lambda version: data_key(clinic_id=clinic_id, version=version),
            context=_context(clinic_id=clinic_id, record_id=record_id, column=column),
        )
    )


def scanned_pdf(scan: ConsentScan) -> bytes:
    record = scan.record
    return unseal(scan.pdf, clinic_id=record.template.clinic_id, record_id=record.pk, column="scan")


def signature_png(signature: ConsentSignature) -> bytes:
    record = signature.record
    return unseal(
        signature.signature_png,
        clinic_id=record.template.clinic_id,
        record_id=record.pk,
        column="signature_png",
    )


def signed_pdf(signature: ConsentSignature) -> bytes:
    record = signature.record
    return unseal(signature.pdf, clinic_id=record.template.clinic_id, record_id=record.pk, column="pdf")


def document_name(record: ConsentRecord) -> str:
    """The file name of a signed consent's PDF: kind, version, day and record, never the name."""
    template = record.template
    return f"consent-{template.kind}-v{template.version}-{record.signed_at:%Y-%m-%d}-{record.pk}.pdf"


def reseal_all(*, newest: dict[int, int]) -> int:
    """Encrypt every signature picture, signed PDF and paper scan whose data key is not its clinic's
    newest (``newest``: clinic id -> version) again with the newest; one transaction per row.
    Returns how many rows were re-encrypted."""
    from exoderm.consent.models import ConsentScan, ConsentSignature
    from exoderm.vault.services import current_data_key

    resealed = 0
    for model, column_of in ((ConsentSignature, lambda name: name), (ConsentScan, lambda name: "scan")):
        rows = model.objects.select_related("record__template").order_by("pk")
        for row in rows.iterator():
            clinic_id = row.record.template.clinic_id
            if clinic_id not in newest:
                continue
            current_version, _key = current_data_key(clinic_id=clinic_id)
            fields = [
                name
                for name in sorted(model.SEALED_FIELDS)
                if cipher.key_version_of(bytes(getattr(row, name))[: cipher.HEADER_SIZE]) != current_version
            ]
            if not fields:
                continue
            place = {"clinic_id": clinic_id, "record_id": row.record_id}
            with transaction.atomic():
                for name in fields:
                    plain = unseal(getattr(row, name), column=column_of(name), **place)
                    setattr(row, name, seal(plain, column=column_of(name), **place))
                row.save(update_fields=fields)
            resealed += 1
    return resealed


# --- the PDF of what was signed -----------------------------------------------------------------


def _when(value: dt.datetime, *, tz: zoneinfo.ZoneInfo, language: str) -> str:
    local = value.astimezone(tz)
    pattern = "%d.%m.%Y %H:%M:%S" if language == "de" else "%Y-%m-%d %H:%M:%S"
    return f"{local.strftime(pattern)} ({local.tzname()})"


def render_pdf(
    *,
    record: ConsentRecord,
    language: str,
    png: bytes,
    text_sha256: str,
    signed_at: dt.datetime,
    signer_name: str,
    device: str,
    witness_name: str,
) -> bytes:
    """The PDF of exactly what was signed, in the language it was signed in: the clinic, the
    consent's title and text as the patient read them, the signature, the names, the time on the
    clinic's clock and the text's SHA-256. DejaVu Sans (vendored, in ``fonts/``) prints every
    character of the text, umlauts and typographic dashes and quotes alike, as it was signed."""
    template = record.template
    patient = record.patient
    clinic = patient.clinic
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    with translation.override(language):
        pdf = FPDF(format="A4")
        pdf.set_margins(18, 18, 18)
        pdf.set_auto_page_break(True, margin=18)
        pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        pdf.set_lang(language)
        pdf.set_title(template.title(language))
        pdf.set_creator("exoderm")
        pdf.add_page()
        print_logo(pdf, clinic.logo_png)
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(0, 5, clinic.name, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 15)
        pdf.multi_cell(0, 7, template.title(language), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(
            0,
            5,
            _("%(kind)s, version %(version)d")
            % {"kind": template.get_kind_display(), "version": template.version},
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(4)
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(0, 5.5, template.text(language), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(0, 6, _("Signature"), new_x="LMARGIN", new_y="NEXT")
        with Image.open(io.BytesIO(png)) as picture:
            width, height = picture.size
        shown_width = 90.0
        shown_height = min(45.0, shown_width * height / max(width, 1))
        if pdf.will_page_break(shown_height + 40):
            pdf.add_page()
        pdf.image(io.BytesIO(png), w=shown_width, h=shown_height, keep_aspect_ratio=True)
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 9)
        identity = getattr(patient, "identity", None)
        rows = [
            (_("Patient"), f"{identity} ({patient.code})" if identity else patient.code),
            (_("Signed by"), signer_name),
            (_("Signed at"), _when(signed_at, tz=tz, language=language)),
            (_("Witness"), witness_name),
            (_("Device"), device),
            (_("SHA-256 of the signed text"), text_sha256),
        ]
        for label, value in rows:
            pdf.multi_cell(0, 5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())


# --- the scan of a consent signed on paper --------------------------------------------------------

#: a few scanned pages as PDF, or a phone's photo of the form, stay well below this
MAX_SCAN_BYTES = 10 * 1024 * 1024
#: a page scanned at 600 dpi is some 35 million pixels; more is no scan of a form
MAX_SCAN_PIXELS = 60_000_000
PDF_MAGIC = b"%PDF-"
JPEG_MAGIC = b"\xff\xd8\xff"
#: the resolution a picture without one is laid out at: an A4 page scanned at 300 dpi fills A4
DEFAULT_SCAN_DPI = 300.0


@dataclass(frozen=True)
class Scan:
    """A checked upload: the PDF to keep, and what was uploaded (its format and SHA-256)."""

    pdf: bytes
    uploaded_format: str
    uploaded_sha256: str


def _read_at_most(chunks: Iterable[bytes], limit: int) -> bytes:
    """The upload's bytes; refused as soon as it grows beyond ``limit``, before the rest is read."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ValidationError(
                {"scan": _("The scan is too large (at most %(mb)d MB).") % {"mb": limit // (1024 * 1024)}}
            )
        parts.append(chunk)
    return b"".join(parts)


def _checked_pdf(data: bytes) -> bytes:
    broken = ValidationError({"scan": _("The file starts like a PDF but cannot be opened.")})
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ValidationError(
                {"scan": _("The PDF is password-protected: please upload it without a password.")}
            )
        if len(reader.pages) == 0:
            raise broken
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError, RecursionError):
        raise broken from None
    return data


def _picture_as_pdf(data: bytes, *, expected: str) -> bytes:
    """A JPEG or PNG as a one-page PDF, upright (the camera's orientation applied), at the
    picture's own resolution (so a scan keeps its paper size), without the picture's metadata."""
    broken = ValidationError(
        {"scan": _("The file starts like a %(format)s picture but cannot be opened.") % {"format": expected}}
    )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != expected:
                raise broken
            width, height = probe.size  # from the header, before any pixel is decoded
            if width * height > MAX_SCAN_PIXELS:
                raise ValidationError(
                    {
                        "scan": _("The picture has too many pixels (at most %(mp)d million).")
                        % {"mp": MAX_SCAN_PIXELS // 1_000_000}
                    }
                )
            probe.verify()
        with Image.open(io.BytesIO(data)) as opened:
            dpi = opened.info.get("dpi", (DEFAULT_SCAN_DPI, DEFAULT_SCAN_DPI))[0] or DEFAULT_SCAN_DPI
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "P", "PA"):
                # a transparent ground reads as the white of the paper
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, (255, 255, 255))
                image.paste(rgba, mask=rgba.getchannel("A"))
            elif image.mode not in ("RGB", "L", "1"):
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, format="PDF", resolution=float(dpi), quality=90)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise broken from None
    return out.getvalue()


def read_scan(chunks: Iterable[bytes]) -> Scan:
    """Check an uploaded scan by its content and return the PDF to keep: a PDF as it is (it must
    open, have a page and no password), a JPEG or PNG turned into a one-page PDF, so that the
    signed document of a consent is always a PDF. Refuses anything else, an empty file and one
    beyond :data:`MAX_SCAN_BYTES`."""
    data = _read_at_most(chunks, MAX_SCAN_BYTES)
    if not data:
        raise ValidationError({"scan": _("The file is empty.")})
    if data.startswith(PDF_MAGIC):
        uploaded_format, pdf = "pdf", _checked_pdf(data)
    elif data.startswith(JPEG_MAGIC):
        uploaded_format, pdf = "jpeg", _picture_as_pdf(data, expected="JPEG")
    elif data.startswith(PNG_MAGIC):
        uploaded_format, pdf = "png", _picture_as_pdf(data, expected="PNG")
    else:
        raise ValidationError({"scan": _("The scan must be a PDF, a JPEG or a PNG file.")})
    return Scan(pdf=pdf, uploaded_format=uploaded_format, uploaded_sha256=hashlib.sha256(data).hexdigest())
