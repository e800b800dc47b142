"""Reads the pages need that no domain selector offers (yet). Every query is clinic-scoped."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Count, F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from exoderm.clinics.models import Clinic, User
from exoderm.core.access import in_clinic
from exoderm.courses.models import Visit, VisitStatus
from exoderm.products.models import Lot, LotStatus, VialState
from exoderm.treatments.models import ProtocolWarning, TreatmentSession

EXPIRY_HORIZON_DAYS = 30
LOW_VIALS = 3
WARNING_DAYS = 14


def lots_with_stock(clinic: Clinic) -> QuerySet[Lot]:
    """The clinic's lots with ``vials_left`` (received minus used or discarded) and their product."""
    spent = Count("vials", filter=Q(vials__state__in=[VialState.USED, VialState.DISCARDED]))
    return (
        in_clinic(Lot, clinic)
        .select_related("product")
        .annotate(vials_left=F("vials_received") - Coalesce(spent, Value(0), output_field=IntegerField()))
    )


def lots_needing_attention(clinic: Clinic, today: dt.date) -> QuerySet[Lot]:
    """Usable lots that expire within 30 days or have few vials left."""
    return (
        lots_with_stock(clinic)
        .filter(status__in=[LotStatus.RELEASED, LotStatus.QUARANTINED])
        .filter(
            Q(expires_on__lte=today + dt.timedelta(days=EXPIRY_HORIZON_DAYS)) | Q(vials_left__lte=LOW_VIALS)
        )
        .order_by("expires_on", "number")
    )


def quarantined_lots(clinic: Clinic) -> QuerySet[Lot]:
    return (
        in_clinic(Lot, clinic)
        .filter(status=LotStatus.QUARANTINED)
        .select_related("product", "status_changed_by")
        .order_by("status_changed_at", "number")
    )


def visits_on(clinic: Clinic, day: dt.date) -> QuerySet[Visit]:
    """Planned visits on the clinic's calendar day ``day``, with patient, identity and clinician."""
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return (
        in_clinic(Visit, clinic)
        .filter(
            status=VisitStatus.PLANNED, planned_at__gte=start, planned_at__lt=start + dt.timedelta(days=1)
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
