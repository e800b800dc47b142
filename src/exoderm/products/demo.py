"""Demo data of the products app: lots released on the day they came in, months ago."""

from __future__ import annotations

import datetime as dt

from exoderm.clinics.models import User
from exoderm.products import services
from exoderm.products.models import Lot, LotEvent, LotStatus

#: When the demo's lots were released after they came in: before the months of sessions that used them.
RELEASED_AFTER_RECEIPT = dt.timedelta(hours=2)


def release_on_arrival(lot: Lot, *, by: User, reason: str, received_at: dt.datetime) -> Lot:
    """Release ``lot`` through the service, then date that release back to shortly after
    ``received_at``. The demo's story starts months ago and its sessions used the lot since then;
    a release stamped at the moment of seeding would show a lot used while still in quarantine (a
    QA walk saw "Released today" above 55 uses). Only the demo does this: ``release_lot`` records
    the moment it is called."""
    lot = services.release_lot(lot=lot, by=by, reason=reason)
    at = received_at + RELEASED_AFTER_RECEIPT
    LotEvent.objects.filter(lot=lot, to_status=LotStatus.RELEASED).update(at=at)
    Lot.objects.filter(pk=lot.pk).update(status_changed_at=at)
    lot.status_changed_at = at
    return lot
