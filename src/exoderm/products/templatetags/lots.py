"""Template helpers for the lot pages: a lot's status reason in the reader's language."""

from __future__ import annotations

from django import template

from exoderm.products import wording
from exoderm.products.models import Lot, LotEvent

register = template.Library()


@register.filter
def reason(record: Lot | LotEvent) -> str:
    """Why a lot has its status (or why a status change happened), in the active language."""
    return wording.lot_reason(record) if isinstance(record, Lot) else wording.event_reason(record)
