"""Writes for products, lots, vials and the cold chain. Every lot status change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from exoderm.clinics.models import User
from exoderm.products.models import Lot, LotEvent, LotStatus, Vial, VialState


def set_lot_status(
    *,
    lot: Lot,
    status: str,
    reason: str,
    by: User | None,
    at: dt.datetime | None = None,
    details: dict[str, Any] | None = None,
) -> Lot:
    """Move ``lot`` to ``status`` and record who did it and why (``by=None``: the system)."""
    at = at or timezone.now()
    LotEvent.objects.create(
        lot=lot, from_status=lot.status, to_status=status, reason=reason, details=details or {}, by=by, at=at
    )
    lot.status, lot.status_reason, lot.status_changed_at, lot.status_changed_by = status, reason, at, by
    lot.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])
    return lot


@transaction.atomic
def consume_vial(*, vial: Vial, at: dt.datetime, by: User) -> Vial:
    """Mark a vial used by a session; the lot becomes depleted with its last vial."""
    vial.state = VialState.USED
    vial.save(update_fields=["state"])
    lot = Lot.objects.select_for_update().get(pk=vial.lot_id)
    used = lot.vials.filter(state__in=[VialState.USED, VialState.DISCARDED]).count()
    if used >= lot.vials_received and lot.status == LotStatus.RELEASED:
        set_lot_status(lot=lot, status=LotStatus.DEPLETED, reason="All vials used.", by=by, at=at)
    return vial
