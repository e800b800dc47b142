"""The signature picture and the PDF of a signed consent: checked, rendered, encrypted at rest.

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
import io
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from PIL import Image, UnidentifiedImageError

from exoderm.clinics.logo import print_logo
from exoderm.vault import cipher

if TYPE_CHECKING:
    from exoderm.consent.models import ConsentRecord, ConsentSignature

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
    """Encrypt every signature picture and PDF whose data key is not its clinic's newest
    (``newest``: clinic id -> version) again with the newest; one transaction per signature.
    Returns how many were re-encrypted."""
    from exoderm.consent.models import ConsentSignature
    from exoderm.vault.services import current_data_key

    resealed = 0
    signatures = ConsentSignature.objects.select_related("record__template").order_by("pk")
    for signature in signatures.iterator():
        clinic_id = signature.record.template.clinic_id
        if clinic_id not in newest:
            continue
        current_version, _key = current_data_key(clinic_id=clinic_id)
        columns = [
            name
            for name in sorted(ConsentSignature.SEALED_FIELDS)
            if cipher.key_version_of(bytes(getattr(signature, name))[: cipher.HEADER_SIZE]) != current_version
        ]
        if not columns:
            continue
        with transaction.atomic():
            for name in columns:
                plain = unseal(
                    getattr(signature, name),
                    clinic_id=clinic_id,
                    record_id=signature.record_id,
                    column=name,
                )
                setattr(
                    signature,
                    name,
                    seal(plain, clinic_id=clinic_id, record_id=signature.record_id, column=name),
                )
            signature.save(update_fields=columns)
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
