"""Template helpers for the photo pages: measured numbers, region names and the analysis's
remarks for people."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html

from exoderm.photos import selectors
from exoderm.photos.models import Photo
from exoderm.photos.selectors import GalleryDay, gallery, number_text, region_label, without_minus_zero
from exoderm.photos.wording import word_remark

if TYPE_CHECKING:
    from exoderm.patients.models import Patient

register = template.Library()

SIGNIFICANT_DIGITS = 3


@register.filter
def measured(value: float | None, key: str = "") -> str:
    """A metric value for the table: counts whole, others to three significant digits, in the
    active language's number format."""
    if value is None:
        return "–"
    value = float(f"{value:.{SIGNIFICANT_DIGITS}g}")  # first: 9.998 becomes 10.0, shown as 10.0
    if key.endswith("_count") or value == 0:
        decimals = 0
    else:
        decimals = max(0, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
    return number_format(without_minus_zero(round(value, decimals)), decimal_pos=decimals, use_l10n=True)


@register.filter
def number(value: float | None) -> str:
    """A value or change as sentences say it (:func:`~exoderm.photos.selectors.number_text`)."""
    return "–" if value is None else number_text(value)


@register.filter
def region_name(region: str) -> str:
    """The translated name of an analysed region (``full``: the whole close-up)."""
    return region_label(region)


@register.filter
def remark(text: str) -> str:
    """A reason or note of a comparison in the active language."""
    return word_remark(text)


@register.simple_tag
def photo_gallery(patient: Patient) -> list[GalleryDay]:
    """The patient's photos by day, for the gallery on the patient page."""
    return gallery(patient=patient)


@register.simple_tag
def thumbnail_size(photo: Photo, side: int = 160) -> str:
    """The ``width`` and ``height`` attributes of a photo's thumbnail shown ``side`` pixels at its
    longest, so that the gallery does not jump while thumbnails arrive."""
    scale = side / max(photo.width, photo.height, 1)
    return format_html('width="{}" height="{}"', round(photo.width * scale), round(photo.height * scale))


@register.simple_tag
def may_share_photos(patient: Patient) -> bool:
    """Whether the before/after image is offered: the patient's consent to share photos."""
    return selectors.may_share_photos(patient=patient)
