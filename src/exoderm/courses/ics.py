"""The iCalendar (RFC 5545) feed of a clinician's planned visits and booked appointments.

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

from exoderm.booking.models import Appointment
from exoderm.courses.models import Visit, VisitKind

CONTENT_TYPE = "text/calendar; charset=utf-8"

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


def appointment_summary(appointment: Appointment) -> str:
    kind, code = appointment.get_kind_display(), appointment.patient.code
    return _("%(kind)s · %(code)s") % {"kind": kind, "code": code}


def appointment_description(appointment: Appointment) -> str:
    where = [str(resource) for resource in (appointment.room, appointment.device) if resource is not None]
    return _("Appointment with %(clinician)s.") % {"clinician": appointment.clinician.display_name} + (
        " " + _("Room and device: %(where)s.") % {"where": ", ".join(where)} if where else ""
    )


def build_calendar(visits: Iterable[Visit], *, name: str, appointments: Iterable[Appointment] = ()) -> bytes:
    """An RFC 5545 calendar with one VEVENT per visit and per appointment, local times with TZID
    and VTIMEZONEs. A visit booked by one of ``appointments`` is that appointment's event (with
    the visit's label), not a second one.

    ``visits`` need ``course__patient__clinic`` and ``course__template`` loaded, ``appointments``
    ``clinic``, ``patient``, ``clinician``, ``room`` and ``device``.
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
    appointments = list(appointments)
    booking_of = {appointment.visit_id: appointment for appointment in appointments if appointment.visit_id}
    visits = list(visits)
    visit_ids = {visit.pk for visit in visits}
    for appointment in appointments:
        if appointment.visit_id in visit_ids:
            continue  # the visit's own event below, with the appointment's end
        tz = zoneinfo.ZoneInfo(appointment.clinic.time_zone)
        event = icalendar.Event()
        event.add("uid", f"appointment-{appointment.pk}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", appointment.starts_at.astimezone(tz))
        event.add("dtend", appointment.ends_at.astimezone(tz))
        event.add("summary", appointment_summary(appointment))
        event.add("description", appointment_description(appointment))
        event.add("categories", [appointment.get_kind_display()])
        calendar.add_component(event)
    for visit in visits:
        tz = zoneinfo.ZoneInfo(visit.course.patient.clinic.time_zone)
        start = visit.planned_at.astimezone(tz)
        booked = booking_of.get(visit.pk)
        event = icalendar.Event()
        # Stable per visit, so a rescheduled visit moves instead of appearing twice.
        event.add("uid", f"visit-{visit.pk}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add(
            "dtend",
            booked.ends_at.astimezone(tz) if booked is not None else start + DURATION[VisitKind(visit.kind)],
        )
        event.add("summary", summary(visit))
        text = description(visit)
        if booked is not None:
            text += " " + appointment_description(booked)
        event.add("description", text)
        event.add("categories", [visit.get_kind_display()])
        calendar.add_component(event)
    days = [visit.planned_at.date() for visit in visits] + [a.starts_at.date() for a in appointments]
    if days:
        # Transitions for the calendar's span only (the default stops at 2038).
        calendar.add_missing_timezones(
            first_date=min(days) - dt.timedelta(days=366), last_date=max(days) + dt.timedelta(days=366)
        )
    return calendar.to_ical()
