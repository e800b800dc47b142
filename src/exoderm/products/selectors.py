"""Reads for products, lots, vials and temperature logs, always within one clinic."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.core.clock import too_early, too_early_message
from exoderm.patients.selectors import clinic_today
from exoderm.products import coldchain
from exoderm.products.models import Lot, LotEvent, LotStatus, Product, TemperatureReading, Vial, VialState

# A usable lot needs attention when it expires within this many days or has this few vials left.
EXPIRY_HORIZON_DAYS = 30
LOW_VIALS = 3
# A logger's clock may run a little ahead of ours; more than this is a wrong clock. (Times people
# enter are held to exoderm.core.clock.FUTURE_TOLERANCE.)
CLOCK_SKEW = dt.timedelta(minutes=10)


def products(clinic: Clinic) -> QuerySet[Product]:
    return in_clinic(Product, clinic).order_by("name", "id")


def product(clinic: Clinic, pk: object) -> Product:
    return get_in_clinic(Product, clinic, pk)


def _vials_in(*states: str) -> Coalesce:
    """The number of the lot's vials in ``states``: a correlated subquery on the (lot, state) index,
    evaluated only for the rows of a page (a join with GROUP BY would count every lot's vials)."""
    counted = (
        Vial.objects.filter(lot=OuterRef("pk"), state__in=states)
        .order_by()
        .values("lot")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def _lots() -> QuerySet[Lot]:
    # the clinic: its time zone words the status reason (products.wording)
    return Lot.objects.select_related("product__clinic", "status_changed_by").annotate(
        # "used" as in used up: applied in a session or discarded (received - used = left)
        vials_used=_vials_in(VialState.USED, VialState.DISCARDED),
        vials_discarded=_vials_in(VialState.DISCARDED),
    )


def lots(clinic: Clinic, *, status: str | None = None, product_id: int | None = None) -> QuerySet[Lot]:
    """The clinic's lots with ``vials_used`` (used or discarded) and ``vials_discarded``, soonest
    expiry first."""
    queryset = in_clinic(_lots(), clinic)
    if status:
        queryset = queryset.filter(status=status)
    if product_id is not None:
        queryset = queryset.filter(product_id=product_id)
    return queryset.order_by("expires_on", "number", "id")


def lot(clinic: Clinic, pk: object) -> Lot:
    return get_in_clinic(_lots(), clinic, pk)


def lots_needing_attention(clinic: Clinic, today: dt.date) -> QuerySet[Lot]:
    """Usable lots that expire within 30 days or have few vials left (``vials_used`` annotated)."""
    return (
        lots(clinic)
        .filter(status__in=[LotStatus.RELEASED, LotStatus.QUARANTINED])
        .filter(
            Q(expires_on__lte=today + dt.timedelta(days=EXPIRY_HORIZON_DAYS))
            | Q(vials_received__lte=F("vials_used") + LOW_VIALS)
        )
    )


def quarantined_lots(clinic: Clinic) -> QuerySet[Lot]:
    return lots(clinic, status=LotStatus.QUARANTINED).order_by("status_changed_at", "number")


def unused_thawed_vial(
    lot: Lot, *, at: dt.datetime | None = None, besides: Vial | None = None
) -> Vial | None:
    """A vial of ``lot`` thawed (or reconstituted) by ``at`` (default now), not used, discarded or
    refrozen, and still within its use-by time then: the vial to use before another is opened.

    The one rule behind the pages' thaw button (:func:`next_vial`) and the thaw service (the
    API's too). ``besides`` leaves out the vial about to be thawed itself.
    """
    at = at or timezone.now()
    opened = lot.vials.filter(
        state=VialState.THAWED,
        thawed_at__lte=at,
        thawed_at__gt=at - dt.timedelta(minutes=lot.product.use_by_minutes),
    )
    if besides is not None:
        opened = opened.exclude(pk=besides.pk)
    return opened.order_by("thawed_at", "serial").first()


def next_vial(lot: Lot) -> Vial | None:
    """The stored vial the pages offer to thaw next; none while a thawed one is unused."""
    if unused_thawed_vial(lot) is not None:
        return None
    return vials(lot).filter(state=VialState.STORED).first()


def lot_panel(clinic: Any, lot_id: Any) -> dict[str, Any] | None:
    """What the charting form shows next to a chosen lot: status, expiry and thawed vials' countdowns."""
    if not lot_id:
        return None
    try:
        found = lot(clinic, lot_id)
    except NotFound:
        return None
    today = clinic_today(clinic)
    use_by = dt.timedelta(minutes=found.product.use_by_minutes)
    left = list(vials(found).filter(state__in=[VialState.STORED, VialState.THAWED]))
    now = timezone.now()
    thawed = [
        {"vial": v, "use_by": v.thawed_at + use_by, "passed": v.thawed_at + use_by <= now}
        for v in sorted(left, key=lambda v: v.thawed_at or now, reverse=True)
        if v.state == VialState.THAWED and v.thawed_at
    ]
    return {
        "lot": found,
        "next_vial": next_vial(found),
        "stored_waiting": any(v.state == VialState.STORED for v in left),
        "usable": found.status == LotStatus.RELEASED and found.expires_on >= today,
        "days_left": (found.expires_on - today).days,
        "thawed": thawed,
        "stored": sum(1 for v in left if v.state == VialState.STORED),
        "vials_left": found.vials_received - found.vials_used,  # type: ignore[attr-defined]
    }


def lot_events(lot: Lot) -> QuerySet[LotEvent]:
    return lot.events.select_related("by").order_by("-at", "-id")


def vials(lot: Lot) -> QuerySet[Vial]:
    return lot.vials.order_by("serial")


def vial(clinic: Clinic, *, lot_id: int, pk: object) -> Vial:
    """A vial of the lot ``lot_id`` of the clinic (another lot's vial id is a 404 too)."""
    return get_in_clinic(Vial.objects.filter(lot_id=lot_id).select_related("lot__product"), clinic, pk)


def temperature_log(
    lot: Lot, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[TemperatureReading]:
    queryset = lot.temperatures.order_by("recorded_at")
    if since is not None:
        queryset = queryset.filter(recorded_at__gte=since)
    if until is not None:
        queryset = queryset.filter(recorded_at__lte=until)
    return queryset


def cold_chain_check(lot: Lot) -> coldchain.CheckResult:
    """Every excursion and gap in the lot's whole log against its product's range."""
    return coldchain.check(
        lot.temperatures.order_by("recorded_at").values_list("recorded_at", "celsius"),
        minimum=lot.product.storage_min_c,
        maximum=lot.product.storage_max_c,
        interval_minutes=lot.logger_interval_minutes,
    )


def stored_readings(lot: Lot, readings: Sequence[coldchain.Reading]) -> dict[dt.datetime, Decimal]:
    """The lot's stored values at the instants from the first to the last of ``readings``."""
    if not readings:
        return {}
    instants = [r.recorded_at for r in readings]
    return dict(
        lot.temperatures.filter(recorded_at__gte=min(instants), recorded_at__lte=max(instants)).values_list(
            "recorded_at", "celsius"
        )
    )


def upload_refusals(readings: Sequence[coldchain.Reading], stored: dict[dt.datetime, Decimal]) -> list[str]:
    """Why ``readings`` cannot be stored: times before :data:`~exoderm.core.clock.EARLIEST` or in
    the future (a wrong logger clock: a reset one reports the year 0001 or 1970, whose "gap" of
    centuries would quarantine the lot) and values that differ from the stored ones at the same
    instant. Empty when they can."""
    latest_plausible = timezone.now() + CLOCK_SKEW
    refusals = [
        _("%(where)s: %(problem)s") % {"where": r.where, "problem": too_early_message()}
        for r in readings
        if too_early(r.recorded_at)
    ]
    refusals += [
        _("%(where)s: %(at)s lies in the future; check the logger's clock.")
        % {"where": r.where, "at": r.recorded_at.isoformat()}
        for r in readings
        if r.recorded_at > latest_plausible
    ]
    refusals += [
        _("%(where)s: %(celsius)s °C differs from the stored %(stored)s °C at %(at)s.")
        % {"where": r.where, "celsius": r.celsius, "stored": stored[r.recorded_at], "at": r.recorded_at}
        for r in readings
        if r.recorded_at in stored and stored[r.recorded_at] != r.celsius
    ]
    return refusals[: coldchain.MAX_REPORTED_ERRORS]


@dataclass(frozen=True)
class UploadPreview:
    """What an upload holds and what saving it would do, for the person who confirms it."""

    readings: list[coldchain.Reading]
    file: coldchain.LoggerFile | None  # None for a JSON batch
    new: int
    known: int
    lowest: Decimal
    highest: Decimal
    interval_minutes: float | None  # the typical step between readings
    findings: coldchain.CheckResult  # excursions and gaps the log would have that it has not now
    refusals: list[str]
    would_quarantine: bool

    @property
    def first(self) -> dt.datetime:
        return min(r.recorded_at for r in self.readings)

    @property
    def last(self) -> dt.datetime:
        return max(r.recorded_at for r in self.readings)


def upload_preview(
    lot: Lot, readings: Sequence[coldchain.Reading], *, file: coldchain.LoggerFile | None = None
) -> UploadPreview:
    """What storing ``readings`` in ``lot``'s log would store and find; nothing is written."""
    stored = stored_readings(lot, readings)
    new = [r for r in readings if r.recorded_at not in stored]
    log = dict(lot.temperatures.values_list("recorded_at", "celsius"))
    before = coldchain.check(
        sorted(log.items()),
        minimum=lot.product.storage_min_c,
        maximum=lot.product.storage_max_c,
        interval_minutes=lot.logger_interval_minutes,
    )
    log.update((r.recorded_at, r.celsius) for r in new)
    after = coldchain.check(
        sorted(log.items()),
        minimum=lot.product.storage_min_c,
        maximum=lot.product.storage_max_c,
        interval_minutes=lot.logger_interval_minutes,
    )
    known = before.keys()
    findings = coldchain.CheckResult(
        excursions=[e for e in after.excursions if e.key not in known],
        gaps=[g for g in after.gaps if g.key not in known],
    )
    instants = sorted(r.recorded_at for r in readings)
    steps = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(instants)]
    return UploadPreview(
        readings=list(readings),
        file=file,
        new=len(new),
        known=len(readings) - len(new),
        lowest=min(r.celsius for r in readings),
        highest=max(r.celsius for r in readings),
        interval_minutes=statistics.median(steps) if steps else None,
        findings=findings,
        refusals=upload_refusals(readings, stored),
        would_quarantine=bool(findings) and lot.status in {LotStatus.RELEASED, LotStatus.QUARANTINED},
    )
