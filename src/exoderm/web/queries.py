"""Reads the pages need that no domain selector offers (yet). Every query is clinic-scoped."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from exoderm.clinics.models import Clinic, User
from exoderm.core.access import NotFound, in_clinic
from exoderm.courses.models import Visit, VisitStatus
from exoderm.patients.selectors import clinic_today
from exoderm.products import selectors as product_selectors
from exoderm.products.models import Lot, LotStatus, VialState
from exoderm.treatments.models import ProtocolWarning, TreatmentSession

EXPIRY_HORIZON_DAYS = 30
LOW_VIALS = 3
WARNING_DAYS = 14


def lots_needing_attention(clinic: Clinic, today: dt.date) -> QuerySet[Lot]:
    """Usable lots that expire within 30 days or have few vials left (``vials_used`` annotated)."""
    return (
        product_selectors.lots(clinic)
        .filter(status__in=[LotStatus.RELEASED, LotStatus.QUARANTINED])
        .filter(
            Q(expires_on__lte=today + dt.timedelta(days=EXPIRY_HORIZON_DAYS))
            | Q(vials_received__lte=F("vials_used") + LOW_VIALS)
        )
    )


def quarantined_lots(clinic: Clinic) -> QuerySet[Lot]:
    return product_selectors.lots(clinic, status=LotStatus.QUARANTINED).order_by(
        "status_changed_at", "number"
    )


def planned_visits(clinic: Clinic, day: dt.date, *, days: int = 1) -> QuerySet[Visit]:
    """Planned visits on ``days`` calendar days of the clinic from ``day`` on, with patient and clinician."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(clinic.time_zone))
    return (
        in_clinic(Visit, clinic)
        .filter(
            status=VisitStatus.PLANNED,
            planned_at__gte=start,
            planned_at__lt=start + dt.timedelta(days=days),
        )
        .select_related("course__patient__identity", "course__template", "course__clinician")
        .order_by("planned_at", "pk")
    )


def recent_warnings(clinic: Clinic, now: dt.datetime) -> QuerySet[ProtocolWarning]:
    """Protocol warnings acknowledged in the last two weeks, newest first."""
    return (
        in_clinic(ProtocolWarning, clinic)
        .filter(acknowledged_at__gte=now - dt.timedelta(days=WARNING_DAYS))
        .select_related("session__patient", "acknowledged_by")
        .order_by("-acknowledged_at", "-pk")
    )


def sessions(clinic: Clinic) -> QuerySet[TreatmentSession]:
    """The clinic's sessions with patient and clinician and the number of applications."""
    return (
        in_clinic(TreatmentSession, clinic)
        .select_related("patient", "clinician")
        .annotate(application_count=Count("applications", distinct=True))
    )


def clinic_users(clinic: Clinic) -> QuerySet[User]:
    return User.objects.filter(clinic=clinic)


def lot_panel(clinic: Any, lot_id: Any) -> dict[str, Any] | None:
    """What the charting form shows next to a chosen lot: status, expiry and thawed vials' countdowns."""
    if not lot_id:
        return None
    try:
        lot = product_selectors.lot(clinic, lot_id)
    except NotFound:
        return None
    today = clinic_today(clinic)
    use_by = dt.timedelta(minutes=lot.product.use_by_minutes)
    vials = list(product_selectors.vials(lot).filter(state__in=[VialState.STORED, VialState.THAWED]))
    now = timezone.now()
    thawed = [
        {"vial": v, "use_by": v.thawed_at + use_by, "passed": v.thawed_at + use_by <= now}
        for v in sorted(vials, key=lambda v: v.thawed_at or now, reverse=True)
        if v.state == VialState.THAWED and v.thawed_at
    ]
    return {
        "lot": lot,
        "next_vial": next((v for v in vials if v.state == VialState.STORED), None),
        "usable": lot.status == LotStatus.RELEASED and lot.expires_on >= today,
        "days_left": (lot.expires_on - today).days,
        "thawed": thawed,
        "stored": sum(1 for v in vials if v.state == VialState.STORED),
        "vials_left": lot.vials_received - lot.vials_used,  # type: ignore[attr-defined]
    }
