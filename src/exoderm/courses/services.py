"""Writes for courses: templates, enrolment with its planned visits, visit changes, calendar feeds.

Visit times are planned on the clinic's wall clock: a course that starts at 10:00 keeps its
sessions and follow-ups at 10:00 local time even when a daylight-saving change lies between
them, so the arithmetic is done on naive local times and only then tied to the time zone.

Enrolment then books each visit into the appointment book (``exoderm.booking``): on a day of its
due window the clinic is open (no Sunday, public holiday or closure), a day no other visit of the
course takes, at a time the clinician works and is free, as near the planned day and time as
there is one. A visit with no such slot in its window refuses the enrolment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import zoneinfo
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.booking import selectors as booking_selectors
from exoderm.booking import services as booking
from exoderm.booking.calendar import ClinicCalendar
from exoderm.booking.models import BLOCKING, DEFAULT_MINUTES, Appointment, AppointmentKind, AppointmentStatus
from exoderm.clinics.models import Clinic, Role, User
from exoderm.consent.services import require_aware
from exoderm.core.clock import EARLIEST, PLAN_AHEAD, too_early, too_far_ahead
from exoderm.core.errors import RuleViolations
from exoderm.core.permissions import Action, require
from exoderm.courses import ics, selectors
from exoderm.courses.models import (
    CalendarFeed,
    Course,
    CourseTemplate,
    Visit,
    VisitKind,
    VisitStatus,
)
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.treatments.protocol import check_consent

NOT_PLANNED = {
    VisitStatus.DONE: gettext_lazy("This visit is done already; only a planned visit can be changed."),
    VisitStatus.MISSED: gettext_lazy("This visit was marked missed; only a planned visit can be changed."),
    VisitStatus.CANCELLED: gettext_lazy("This visit was cancelled; only a planned visit can be changed."),
}


def local_wall_time(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The naive wall-clock time of the instant ``value`` in ``tz``."""
    return value.astimezone(tz).replace(tzinfo=None)


def aware_from_wall(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant at wall-clock time ``wall`` in ``tz``.

    A wall time that falls into a spring-forward gap is taken with the offset before the change
    (02:30 becomes 03:30 summer time); an ambiguous autumn time takes its first occurrence.
    Round-tripping through UTC normalises the gap case.
    """
    return wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC).astimezone(tz)


def _plan_time_errors(value: dt.datetime, *, field: str) -> dict[str, str]:
    """Refuse a visit time before ``EARLIEST`` or beyond ``PLAN_AHEAD``: such a year is a typo. A
    course in 1900 puts all its visits on the overdue list, and the years 0001 and 9999 that date
    pickers offer overflow the visit arithmetic."""
    if too_early(value):
        return {
            field: _("The date lies before %(earliest)s: check the year.")
            % {"earliest": formats.date_format(EARLIEST, "SHORT_DATE_FORMAT")}
        }
    if too_far_ahead(value):
        return {
            field: _("Visits are planned at most until %(latest)s: check the year.")
            % {"latest": formats.date_format(timezone.now().date() + PLAN_AHEAD, "SHORT_DATE_FORMAT")}
        }
    return {}


def _visit(
    *, course: Course, kind: str, session_number: int, weeks: int | None, wall: dt.datetime, window: int
) -> Visit:
    tz = zoneinfo.ZoneInfo(course.patient.clinic.time_zone)
    planned_at = aware_from_wall(wall, tz)
    day = planned_at.date()
    return Visit(
        course=course,
        kind=kind,
        session_number=session_number,
        weeks_after_session=weeks,
        planned_at=planned_at,
        due_from=day - dt.timedelta(days=window),
        due_until=day + dt.timedelta(days=window),
    )


def plan_visits(course: Course) -> list[Visit]:
    """The (unsaved) visits of ``course``: each session and its follow-ups, on local wall time."""
    template = course.template
    tz = zoneinfo.ZoneInfo(course.patient.clinic.time_zone)
    start = local_wall_time(course.starts_at, tz)
    visits = []
    for number in range(1, template.session_count + 1):
        session_wall = start + dt.timedelta(weeks=(number - 1) * template.interval_weeks)
        visits.append(
            _visit(
                course=course,
                kind=VisitKind.SESSION,
                session_number=number,
                weeks=None,
                wall=session_wall,
                window=template.window_days,
            )
        )
        for weeks in sorted(template.followup_weeks):
            visits.append(
                _visit(
                    course=course,
                    kind=VisitKind.FOLLOW_UP,
                    session_number=number,
                    weeks=weeks,
                    wall=session_wall + dt.timedelta(weeks=weeks),
                    window=template.window_days,
                )
            )
    return sorted(visits, key=lambda visit: (visit.planned_at, visit.kind != VisitKind.SESSION))


@transaction.atomic
def create_course_template(
    *,
    clinic: Clinic,
    name: str,
    session_count: int,
    interval_weeks: int,
    followup_weeks: Sequence[int],
    window_days: int,
    by: User,
) -> CourseTemplate:
    require(by, Action.MANAGE_CLINIC)
    template = CourseTemplate(
        clinic=clinic,
        name=name.strip(),
        session_count=session_count,
        interval_weeks=interval_weeks,
        followup_weeks=list(followup_weeks),
        window_days=window_days,
    )
    duplicate = _("The clinic already has a course template of this name.")
    template.full_clean(validate_constraints=False)  # first: the duplicate check needs a valid name
    if CourseTemplate.objects.filter(clinic=clinic, name__iexact=template.name).exists():
        raise ValidationError({"name": duplicate})
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # a template of the same name was saved since the check above
        raise ValidationError({"name": duplicate}) from None
    return template


@transaction.atomic
def enroll(
    *, patient: Patient, template: CourseTemplate, clinician: User, starts_at: dt.datetime, by: User
) -> Course:
    """Start a course for ``patient`` and plan all its visits; ``starts_at`` is the first session.

    The patient needs a valid treatment consent now (the protocol's ``consent-missing`` rule,
    raised as ``RuleViolations`` like for a session): a course plans treatments, and nobody is
    booked for them without having consented.
    """
    require(by, Action.EDIT_PATIENT)
    require_aware(starts_at, field="starts_at")
    errors = _plan_time_errors(starts_at, field="starts_at")
    if template.clinic_id != patient.clinic_id:
        errors["template_id"] = _("This course template belongs to another clinic.")
    same_clinic = clinician.clinic_id == patient.clinic_id
    if not (same_clinic and clinician.role == Role.CLINICIAN and clinician.is_active):
        errors["clinician_id"] = _("Choose an active clinician of the patient's clinic.")
    if errors:
        raise ValidationError(errors)
    refused = check_consent(patient, at=timezone.now())
    if refused:
        raise RuleViolations(refused)
    course = Course(patient=patient, template=template, clinician=clinician, starts_at=starts_at)
    course.full_clean()
    course.save()
    visits = plan_visits(course)
    calendar = ClinicCalendar.of(patient.clinic, clinicians=[clinician])
    booking.lock_resources(clinician=clinician, room=None, device=None)
    place_visits(visits, calendar=calendar, clinician=clinician)
    for visit in visits:
        visit.full_clean()
    Visit.objects.bulk_create(visits)
    for visit in visits:
        booking.book_appointment(
            patient=patient,
            kind=APPOINTMENT_KIND[VisitKind(visit.kind)],
            starts_at=visit.planned_at,
            clinician=clinician,
            visit=visit,
            by=by,
            calendar=calendar,
        )
    return course


APPOINTMENT_KIND = {
    VisitKind.SESSION: AppointmentKind.TREATMENT,
    VisitKind.FOLLOW_UP: AppointmentKind.FOLLOW_UP,
}
SLOT_STEP = dt.timedelta(minutes=15)
"""Times a visit may move to on its day, from the start of the clinician's working span."""


def _days_by_nearness(visit: Visit, nominal: dt.date) -> list[dt.date]:
    """The days of the visit's due window, the planned day first, then one day later, one earlier, ..."""
    days = []
    for distance in range((visit.due_until - visit.due_from).days + 1):
        for day in (nominal + dt.timedelta(days=distance), nominal - dt.timedelta(days=distance)):
            if visit.due_from <= day <= visit.due_until and day not in days:
                days.append(day)
    return days


def place_visits(
    visits: list[Visit],
    *,
    calendar: ClinicCalendar,
    clinician: User,
    used_days: set[dt.date] | None = None,
    ignore: Sequence[int] = (),
) -> None:
    """Move each of a new course's ``visits`` (unsaved, at their nominal times) to a bookable slot:
    an open day of its window that no other visit of the course takes, at a time the clinician
    works and has free, nearest the nominal day and then the nominal time. Sessions are placed
    first (they set the course's rhythm), then the follow-ups. The due windows stay where the
    course put them. ``used_days``: days other visits of the course take already; ``ignore``:
    appointments (being moved) that do not count as taken."""
    if not visits:
        return
    tz = calendar.tz
    first = min(v.due_from for v in visits)
    last = max(v.due_until for v in visits) + dt.timedelta(days=1)
    taken = [
        (a.starts_at, a.ends_at)
        for a in Appointment.objects.exclude(pk__in=ignore).filter(
            clinician=clinician,
            status__in=BLOCKING,  # what the clash check counts: a completed appointment keeps its slot
            patient__restricted_at__isnull=True,
            ends_at__gt=aware_from_wall(dt.datetime.combine(first, dt.time.min), tz),
            starts_at__lt=aware_from_wall(dt.datetime.combine(last, dt.time.min), tz),
        )
    ]
    used_days = set(used_days or ())
    for visit in sorted(visits, key=lambda v: (v.kind != VisitKind.SESSION, v.planned_at)):
        nominal = local_wall_time(visit.planned_at, tz)
        length = dt.timedelta(minutes=DEFAULT_MINUTES[APPOINTMENT_KIND[VisitKind(visit.kind)]])
        slot = None
        for day in _days_by_nearness(visit, nominal.date()):
            if day in used_days:
                continue
            slot = _free_slot(day, nominal.time(), length, calendar.bookable_spans(clinician, day), taken, tz)
            if slot is not None:
                break
        if slot is None:
            raise ValidationError(
                {
                    "starts_at": _(
                        "No free slot for %(visit)s between %(start)s and %(end)s: on every day of its "
                        "window the clinic is closed, %(name)s is not working or is booked, or another "
                        "visit of the course takes the day."
                    )
                    % {
                        "visit": _visit_name(visit),
                        "start": formats.date_format(visit.due_from, "SHORT_DATE_FORMAT"),
                        "end": formats.date_format(visit.due_until, "SHORT_DATE_FORMAT"),
                        "name": clinician.display_name,
                    }
                }
            )
        visit.planned_at = slot
        used_days.add(local_wall_time(slot, tz).date())
        taken.append((slot, slot + length))


def _visit_name(visit: Visit) -> str:
    if visit.kind == VisitKind.SESSION:
        return _("session %(number)s") % {"number": visit.session_number}
    return _("the follow-up %(weeks)s weeks after session %(number)s") % {
        "weeks": visit.weeks_after_session,
        "number": visit.session_number,
    }


def _free_slot(
    day: dt.date,
    wanted: dt.time,
    length: dt.timedelta,
    spans: list[tuple[dt.time, dt.time]],
    taken: list[tuple[dt.datetime, dt.datetime]],
    tz: zoneinfo.ZoneInfo,
) -> dt.datetime | None:
    """The free start on ``day`` within ``spans`` nearest the wall time ``wanted``, or ``None``."""
    wanted_wall = dt.datetime.combine(day, wanted)
    candidates = [wanted_wall]
    for span_start, _span_end in spans:
        moment = dt.datetime.combine(day, span_start)
        while moment.date() == day:
            candidates.append(moment)
            moment += SLOT_STEP
    candidates.sort(key=lambda moment: (abs(moment - wanted_wall), moment))
    for moment in candidates:
        end = moment + length
        fits = any(
            dt.datetime.combine(day, span_start) <= moment and end <= _span_end_on(day, span_end)
            for span_start, span_end in spans
        )
        if not fits:
            continue
        start_at, end_at = aware_from_wall(moment, tz), aware_from_wall(end, tz)
        if all(end_at <= other_start or other_end <= start_at for other_start, other_end in taken):
            return start_at
    return None


def _span_end_on(day: dt.date, end: dt.time) -> dt.datetime:
    # A span to the end of the day (dt.time.max) takes an appointment up to midnight.
    if end == dt.time.max:
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
    return dt.datetime.combine(day, end)


def _lock_planned(visit: Visit) -> Visit:
    locked = Visit.objects.select_for_update().select_related("course__patient__clinic").get(pk=visit.pk)
    if locked.status != VisitStatus.PLANNED:
        raise ValidationError({"status": str(NOT_PLANNED[VisitStatus(locked.status)])})
    return locked


def _move(visit: Visit, planned_at: dt.datetime, tz: zoneinfo.ZoneInfo, by: User) -> None:
    """Save ``visit`` at ``planned_at``; its due window moves along and keeps its width, and its
    booked appointment moves too (checked against the appointment book like any move)."""
    window = (visit.due_until - visit.due_from) / 2
    day = planned_at.astimezone(tz).date()
    visit.planned_at = planned_at
    visit.due_from, visit.due_until = day - window, day + window
    visit.save(update_fields=["planned_at", "due_from", "due_until"])
    for appointment in Appointment.objects.filter(visit=visit, status=AppointmentStatus.BOOKED):
        booking.move_appointment(appointment=appointment, starts_at=planned_at, by=by)


@transaction.atomic
def reschedule_visit(*, visit: Visit, planned_at: dt.datetime, by: User) -> Visit:
    """Move a planned visit; its due window moves along and keeps its width.

    A session takes its follow-ups along (the same weeks after it, on the clinic's wall clock),
    all in this one transaction. A follow-up stays where it is when it is no longer planned
    (done, missed or cancelled) or when someone moved it by hand. No flag records the latter: a
    follow-up that still lies where the course put it (its session's time plus its weeks) is
    one nobody moved, any other was moved on purpose and keeps its time.
    """
    require(by, Action.EDIT_PATIENT)
    require_aware(planned_at, field="planned_at")
    errors = _plan_time_errors(planned_at, field="planned_at")
    if errors:
        raise ValidationError(errors)
    visit = _lock_planned(visit)
    tz = zoneinfo.ZoneInfo(visit.course.patient.clinic.time_zone)
    if visit.kind == VisitKind.SESSION:
        before, after = local_wall_time(visit.planned_at, tz), local_wall_time(planned_at, tz)
        follow_ups = Visit.objects.select_for_update().filter(
            course_id=visit.course_id,
            kind=VisitKind.FOLLOW_UP,
            session_number=visit.session_number,
            status=VisitStatus.PLANNED,
            weeks_after_session__isnull=False,
        )
        for follow_up in follow_ups:
            weeks = dt.timedelta(weeks=follow_up.weeks_after_session or 0)
            if follow_up.planned_at == aware_from_wall(before + weeks, tz):
                _move(follow_up, _placed_again(follow_up, aware_from_wall(after + weeks, tz), by), tz, by)
    _move(visit, planned_at, tz, by)
    return visit


def _placed_again(follow_up: Visit, planned_at: dt.datetime, by: User) -> dt.datetime:
    """Where a follow-up that moves along with its session goes: ``planned_at`` on a bookable
    day, else the nearest slot in its moved window (a follow-up without an appointment, planned
    before the appointment book, simply moves)."""
    booked = list(
        Appointment.objects.filter(visit=follow_up, status=AppointmentStatus.BOOKED).values_list(
            "pk", flat=True
        )
    )
    if not booked:
        return planned_at
    clinic = follow_up.course.patient.clinic
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    window = (follow_up.due_until - follow_up.due_from) / 2
    day = planned_at.astimezone(tz).date()
    moved = Visit(
        course=follow_up.course,
        kind=follow_up.kind,
        session_number=follow_up.session_number,
        weeks_after_session=follow_up.weeks_after_session,
        planned_at=planned_at,
        due_from=day - window,
        due_until=day + window,
    )
    others = Visit.objects.filter(course=follow_up.course, status=VisitStatus.PLANNED).exclude(
        pk=follow_up.pk
    )
    clinician = follow_up.course.clinician
    place_visits(
        [moved],
        calendar=ClinicCalendar.of(clinic, clinicians=[clinician]),
        clinician=clinician,
        used_days={local_wall_time(other.planned_at, tz).date() for other in others},
        ignore=booked,
    )
    return moved.planned_at


def _set_status(visit: Visit, status: str, by: User) -> Visit:
    """Change a planned visit's status; a visit whose due window lies ahead cannot be done or
    missed yet (one that took place earlier is first rescheduled to when it did)."""
    require(by, Action.EDIT_PATIENT)
    visit = _lock_planned(visit)
    if status in {VisitStatus.DONE, VisitStatus.MISSED} and visit.due_from > clinic_today(
        visit.course.patient.clinic
    ):
        raise ValidationError(
            {
                "status": _(
                    "This visit is not due before %(date)s, so it cannot be done or missed yet. If it "
                    "took place earlier, reschedule it to that time first."
                )
                % {"date": formats.date_format(visit.due_from, "SHORT_DATE_FORMAT")}
            }
        )
    visit.status = status
    visit.save(update_fields=["status"])
    if status in VISIT_APPOINTMENT_STATUS:
        booking.close_visit_appointments(visit=visit, status=VISIT_APPOINTMENT_STATUS[status])
    return visit


VISIT_APPOINTMENT_STATUS: dict[str, str] = {
    VisitStatus.CANCELLED: AppointmentStatus.CANCELLED,
    VisitStatus.MISSED: AppointmentStatus.NO_SHOW,
    VisitStatus.DONE: AppointmentStatus.COMPLETED,
}


@transaction.atomic
def mark_missed(*, visit: Visit, by: User) -> Visit:
    return _set_status(visit, VisitStatus.MISSED, by)


@transaction.atomic
def cancel_visit(*, visit: Visit, by: User) -> Visit:
    return _set_status(visit, VisitStatus.CANCELLED, by)


@transaction.atomic
def mark_done(*, visit: Visit, by: User) -> Visit:
    return _set_status(visit, VisitStatus.DONE, by)


@transaction.atomic
def mark_visits(*, visits: Sequence[Visit], status: str, by: User) -> list[Visit]:
    """Mark the visits of one patient's day done or missed together: all of them, or none when
    one cannot be (it is no longer planned, or not due yet)."""
    if status not in {VisitStatus.DONE, VisitStatus.MISSED}:
        raise ValueError(f"visits are marked done or missed, not {status!r}")
    return [_set_status(visit, status, by) for visit in visits]


def feed_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def issue_calendar_feed(*, user: User) -> str:
    """A new secret feed token for ``user``; any earlier feed address stops working."""
    require(user, Action.VIEW_CLINICAL)
    token = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(user=user, defaults={"digest": feed_digest(token)})
    return token


@transaction.atomic
def revoke_calendar_feed(*, user: User) -> None:
    CalendarFeed.objects.filter(user=user).delete()


def calendar_for(user: User) -> bytes:
    """The iCalendar feed of ``user``'s planned visits and booked appointments (from 30 days ago)."""
    since = timezone.now() - dt.timedelta(days=30)
    return ics.build_calendar(
        selectors.calendar_visits(clinician=user, since=since),
        appointments=booking_selectors.calendar_appointments(clinician=user, since=since),
        name=_("exoderm visits of %(name)s") % {"name": user.display_name},
    )


def feed_for_token(token: str) -> bytes | None:
    """The calendar of the feed with this secret token, or ``None`` for an unknown token."""
    user = selectors.feed_owner(digest=feed_digest(token))
    return calendar_for(user) if user is not None else None
