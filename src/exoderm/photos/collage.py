"""The before/after image for the patient: the baseline and the latest photo of one view side by
side, each with its date, the clinic's name below and, if chosen, the clinic's name as a
watermark across both.

It leaves the record, so it is made only for a patient who holds a consent in force to share
their photos (:func:`~exoderm.photos.selectors.may_share_photos`), and each image made is an
``export`` event of the audit trail. The captions are in the patient's language (it is the
patient's image), with their own words as the PDF report has (:mod:`.report`).
"""

from __future__ import annotations

import io
import zoneinfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from exoderm.audit import chain
from exoderm.audit.models import AuditAction
from exoderm.clinics.models import User
from exoderm.core.permissions import Action, require
from exoderm.photos import selectors, storage
from exoderm.photos.models import Photo

CAPTIONS = {"en": {"before": "Before", "after": "After"}, "de": {"before": "Vorher", "after": "Nachher"}}
#: The height both photos are scaled to, in pixels; the image is about twice as wide.
PHOTO_HEIGHT = 900
GAP, MARGIN, FOOTER = 24, 32, 140
QUALITY = 88


def _language(photo: Photo) -> str:
    identity = getattr(photo.patient, "identity", None)
    language = getattr(identity, "language", "en")
    return language if language in CAPTIONS else "en"


def _day(photo: Photo, language: str) -> str:
    day = photo.taken_at.astimezone(zoneinfo.ZoneInfo(photo.clinic.time_zone)).date()
    return day.strftime("%d.%m.%Y") if language == "de" else day.isoformat()


def before_after_image(*, before: Photo, after: Photo, by: User, watermark: bool = False) -> bytes:
    """The JPEG of ``before`` and ``after`` (one patient, one view) for the patient to keep.

    Raises ``PermissionDenied`` for a role that may not hand out a record or for a patient
    without a consent to share photos, ``ValidationError`` for two photos that are not a
    before and after of one patient's view.
    """
    require(by, Action.EXPORT_PATIENT)
    patient = before.patient
    if (after.patient_id, after.view, after.area) != (before.patient_id, before.view, before.area):
        raise ValidationError(_("A before/after image shows two photos of the same patient and view."))
    if before.taken_at >= after.taken_at:
        raise ValidationError(_("The before photo must be older than the after photo."))
    if not selectors.may_share_photos(patient=patient):
        raise PermissionDenied(_("The patient has not consented to sharing their photos."))
    language = _language(before)
    photos = []
    for photo in (before, after):
        with Image.open(io.BytesIO(storage.read(photo.file_name))) as image:
            scaled = image.convert("RGB")
        width = round(scaled.width * PHOTO_HEIGHT / scaled.height)
        photos.append(scaled.resize((width, PHOTO_HEIGHT), Image.Resampling.LANCZOS))
    width = MARGIN * 2 + GAP + sum(p.width for p in photos)
    canvas = Image.new("RGB", (width, MARGIN + PHOTO_HEIGHT + FOOTER), "white")
    draw = ImageDraw.Draw(canvas)
    caption_font = ImageFont.load_default(size=34)
    clinic_font = ImageFont.load_default(size=28)
    x = MARGIN
    for photo, picture, key in zip((before, after), photos, ("before", "after"), strict=True):
        canvas.paste(picture, (x, MARGIN))
        caption = f"{CAPTIONS[language][key]} · {_day(photo, language)}"
        draw.text(
            (x + picture.width / 2, MARGIN + PHOTO_HEIGHT + 40),
            caption,
            font=caption_font,
            fill="#14202e",
            anchor="mm",
        )
        x += picture.width + GAP
    clinic = before.clinic.name
    draw.text((width / 2, MARGIN + PHOTO_HEIGHT + 100), clinic, font=clinic_font, fill="#0b5c9b", anchor="mm")
    if watermark:
        canvas = _watermarked(canvas, clinic)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=QUALITY, optimize=True)
    chain.append(
        action=AuditAction.EXPORT,
        object_type=Photo._meta.label_lower,
        object_id=after.pk,
        clinic_id=before.clinic_id,
        patient_id=patient.pk,
        changes={"before_after_image": [before.pk, after.pk], "watermark": watermark},
    )
    return out.getvalue()


def _watermarked(image: Image.Image, text: str) -> Image.Image:
    """``image`` with ``text`` written faintly across it, turned 30°, in rows."""
    layer = Image.new("RGBA", (image.width * 2, image.height * 2), (255, 255, 255, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(28, image.height // 14))
    step_x = round(draw.textlength(text, font=font)) + 120
    step_y = max(28, image.height // 14) * 4
    for row, y in enumerate(range(0, layer.height, step_y)):
        for x in range(-(row % 2) * step_x // 2, layer.width, step_x):
            draw.text(
                (x, y), text, font=font, fill=(255, 255, 255, 70), stroke_width=1, stroke_fill=(0, 0, 0, 40)
            )
    turned = layer.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (turned.width - image.width) // 2, (turned.height - image.height) // 2
    crop = turned.crop((left, top, left + image.width, top + image.height))
    return Image.alpha_composite(image.convert("RGBA"), crop).convert("RGB")
