"""The contraindication screening items of protocol-rules.md and their default severities."""

from __future__ import annotations

import enum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Severity(enum.StrEnum):
    BLOCK = "block"
    WARN = "warn"
    OFF = "off"


class ScreeningItem(models.TextChoices):
    ACTIVE_INFECTION = "active_infection", _("Active skin infection or herpes")
    ISOTRETINOIN = "isotretinoin", _("Isotretinoin within the last 6 months")
    PREGNANCY = "pregnancy", _("Pregnancy or breastfeeding")
    KELOID = "keloid", _("Keloid tendency")
    ANTICOAGULANTS = "anticoagulants", _("Anticoagulants or bleeding disorder")
    ACNE_DERMATITIS = "acne_dermatitis", _("Active acne or dermatitis in the area")
    MALIGNANCY = "malignancy", _("Skin malignancy in the area")


# Items that only matter where they touch a treated area.
AREA_SPECIFIC = frozenset(
    {ScreeningItem.ACTIVE_INFECTION, ScreeningItem.ACNE_DERMATITIS, ScreeningItem.MALIGNANCY}
)

DEFAULT_SEVERITY: dict[str, Severity] = {
    ScreeningItem.ACTIVE_INFECTION: Severity.BLOCK,
    # 2017 ASDS consensus: no need to wait for non-ablative procedures; fully ablative
    # resurfacing is still advised against (the rules module escalates that case to block).
    ScreeningItem.ISOTRETINOIN: Severity.WARN,
    ScreeningItem.PREGNANCY: Severity.BLOCK,
    ScreeningItem.KELOID: Severity.WARN,
    ScreeningItem.ANTICOAGULANTS: Severity.WARN,
    ScreeningItem.ACNE_DERMATITIS: Severity.BLOCK,
    ScreeningItem.MALIGNANCY: Severity.BLOCK,
}
