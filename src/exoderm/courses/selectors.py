"""Reads for courses: templates, a patient's visits, due and overdue lists, calendar feeds."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, Role, User
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.courses.models import CalendarFeed, Course, CourseTemplate, Visit, VisitStatus
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today, open_records


def course_templates(*, clinic: Clinic) -> QuerySet[CourseTemplate]:
    return in_clinic(CourseTemplate, clinic).order_by("name", "pk")


def course_template(*, clinic: Clinic, template_id: Any) -> CourseTemplate:
    return get_in_clinic(CourseTemplate, clinic, template_id)


def clinician_of(*, clinic: Clinic, user_id: Any) -> User:
    """A clinician of ``clinic`` by id; anyone else (another clinic, another role) is ``NotFound``."""
    try:
        return User.objects.get(pk=user_id, clinic=clinic, role=Role.CLINICIAN, is_active=True)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Clinician %(id)s not found.") % {"id": user_id}) from None


def _visits(clinic: Clinic) -> QuerySet[Visit]:
    return open_records(in_clinic(Visit, clinic), "course__patient").select_related(
        "course__patient__clinic", "course__template", "course__clinician"
    )


def visit(*, clinic: Clinic, visit_id: Any) -> Visit:
    return get_in_clinic(_visits(clinic), clinic, visit_id)


def visits_of_patient(*, patient: Patient) -> QuerySet[Visit]:
    return _visits(patient.clinic).filter(course__patient=patient).order_by("planned_at", "pk")


def courses_of(*, patient: Patient) -> QuerySet[Course]:
    """The patient's courses, newest first, each with its visits in time order (prefetched)."""
    return (
        open_records(in_clinic(Course, patient.clinic))
        .filter(patient=patient)
        .select_related("patient__clinic", "template", "clinician")
        .prefetch_related(Prefetch("visits", queryset=Visit.objects.order_by("planned_at", "pk")))
        .order_by("-starts_at", "-pk")
    )


def due_visits(
    *, clinic: Clinic, on: dt.date | None = None, clinician: User | None = None
) -> QuerySet[Visit]:
    """Planned visits whose due window contains ``on`` (default: today in the clinic)."""
    on = on or clinic_today(clinic)
    queryset = _visits(clinic).filter(status=VisitStatus.PLANNED, due_from__lte=on, due_until__gte=on)
    if clinician is not None:
        queryset = queryset.filter(course__clinician=clinician)
    return queryset.order_by("planned_at", "pk")


def overdue_visits(
    *, clinic: Clinic, on: dt.date | None = None, clinician: User | None = None
) -> QuerySet[Visit]:
    """Visits still planned after their due window closed (before ``on``, default today)."""
    on = on or clinic_today(clinic)
    queryset = _visits(clinic).filter(status=VisitStatus.PLANNED, due_until__lt=on)
    if clinician is not None:
        queryset = queryset.filter(course__clinician=clinician)
    return queryset.order_by("due_until", "planned_at", "pk")


def planned_visits(*, clinic: Clinic, day: dt.date, days: int = 1) -> QuerySet[Visit]:
    """Planned visits on ``days`` calendar days of the clinic from ``day`` on, with patient and clinician."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(clinic.time_zone))
    return (
        open_records(in_clinic(Visit, clinic), "course__patient")
        .filter(
            status=VisitStatus.PLANNED,
            planned_at__gte=start,
            planned_at__lt=start + dt.timedelta(days=days),
        )
        .select_related("course__patient__identity", "course__template", "course__clinician")
        .order_by("planned_at", "pk")
    )


def calendar_visits(*, clinician: User, since: dt.datetime | None = None) -> QuerySet[Visit]:
    """The clinician's planned visits from ``since`` on (default: 30 days ago)."""
    since = since or timezone.now() - dt.timedelta(days=30)
    return (
        Visit.objects.filter(
            course__clinician=clinician,
            course__patient__clinic=clinician.clinic,
            course__patient__restricted_at__isnull=True,
            status=VisitStatus.PLANNED,
            planned_at__gte=since,
        )
        .select_related("course__patient__clinic", "course__template")
        .order_by("planned_at", "pk")
    )


def feed_owner(*, digest: str) -> User | None:
    """The active clinic user whose calendar feed has this token digest."""
    feed = (
        CalendarFeed.objects.select_related("user", "user__clinic")
        .filter(digest=digest, user__is_active=True, user__clinic__isnull=False)
        .first()
    )
    return feed.user if feed else None


def of_clinicians_patients(visits: QuerySet[Visit], *, clinician: User) -> QuerySet[Visit]:
    """``visits`` narrowed to the patients ``clinician`` treated (charted a session of) or is
    assigned to (the clinician of one of their courses): "my patients"."""
    assigned = Course.objects.filter(clinician=clinician).values("patient_id")
    treated = Patient.objects.filter(sessions__clinician=clinician).values("pk")
    return visits.filter(Q(course__patient_id__in=assigned) | Q(course__patient_id__in=treated))


@dataclass(frozen=True)
class VisitGroup:
    """The planned visits one patient comes in for on one day (a session and the follow-ups of
    earlier sessions that fall on it, or two follow-ups on the same day): one line on a list."""

    patient: Patient
    day: dt.date
    visits: tuple[Visit, ...]

    @property
    def first(self) -> Visit:
        return self.visits[0]

    @property
    def ids(self) -> list[int]:
        return [visit.pk for visit in self.visits]


def group_by_patient_day(visits: Iterable[Visit], *, time_zone: str) -> list[VisitGroup]:
    """``visits`` grouped by patient and planned day on the clinic's calendar, in the order of
    each group's first visit."""
    tz = zoneinfo.ZoneInfo(time_zone)
    groups: dict[tuple[int, dt.date], list[Visit]] = {}
    for visit in visits:
        key = (visit.course.patient_id, visit.planned_at.astimezone(tz).date())
        groups.setdefault(key, []).append(visit)
    return [
        VisitGroup(patient=members[0].course.patient, day=day, visits=tuple(members))
        for (_patient, day), members in groups.items()
    ]
