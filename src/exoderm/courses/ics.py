"""The iCalendar (RFC 5545) feed of a clinician's planned visits.

Calendar apps sync to phones and third-party servers, so an event carries the patient's
pseudonymous code and never a name, birth date or contact detail.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable

import icalendar
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.courses.models import Visit, VisitKind

PRODID = "-//exoderm//visit calendar//EN"
UID_DOMAIN = "exoderm"
REFRESH = dt.timedelta(hours=1)
DURATION = {VisitKind.SESSION: dt.timedelta(minutes=60), VisitKind.FOLLOW_UP: dt.timedelta(minutes=20)}


def summary(visit: Visit) -> str:
    code = visit.course.patient.code
    if visit.kind == VisitKind.SESSION:
        return _("Session %(number)s · %(code)s") % {"number": visit.session_number, "code": code}
    return _("Follow-up %(weeks)s wk after session %(number)s · %(code)s") % {
        "weeks": visit.weeks_after_session,
        "number": visit.session_number,
        "code": code,
    }


def description(visit: Visit) -> str:
    return _("Course: %(course)s. Due %(start)s to %(end)s.") % {
        "course": visit.course.template.name,
        "start": visit.due_from.isoformat(),
        "end": visit.due_until.isoformat(),
    }


def build_calendar(visits: Iterable[Visit], *, name: str) -> bytes:
    """An RFC 5545 calendar with one VEVENT per visit, local times with TZID and VTIMEZONEs.

    ``visits`` need ``course__patient__clinic`` and ``course__template`` loaded.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    # Subscribed calendars poll; an hour keeps rescheduled visits reasonably fresh (RFC 7986).
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = timezone.now().astimezone(dt.UTC)
    visits = list(visits)
    for visit in visits:
        tz = zoneinfo.ZoneInfo(visit.course.patient.clinic.time_zone)
        start = visit.planned_at.astimezone(tz)
        event = icalendar.Event()
        # Stable per visit, so a rescheduled visit moves instead of appearing twice.
        event.add("uid", f"visit-{visit.pk}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", start + DURATION[VisitKind(visit.kind)])
        event.add("summary", summary(visit))
        event.add("description", description(visit))
        event.add("categories", [visit.get_kind_display()])
        calendar.add_component(event)
    if visits:
        # Transitions for the calendar's span only (the default stops at 2038).
        days = [visit.planned_at.date() for visit in visits]
        calendar.add_missing_timezones(
            first_date=min(days) - dt.timedelta(days=366), last_date=max(days) + dt.timedelta(days=366)
        )
    return calendar.to_ical()
