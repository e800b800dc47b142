"""When the clinic and its clinicians work: open days, opening hours, working hours.

A day is closed when it is a public holiday of the clinic's state (the ``holidays`` package), lies
in one of the clinic's closures, or has no opening hours (a clinic that configured none is open
Monday to Saturday, around the clock: nothing refuses a time it was never told about). All times
of day are on the clinic's wall clock.

:class:`ClinicCalendar` loads a clinic's hours and closures once, so that planning a course (many
days) or drawing a week costs the same few queries as checking one appointment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable

import holidays
from django.utils import formats
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exoderm.booking.models import Closure, OpeningHours, Weekday, WorkingHours
from exoderm.clinics.models import Clinic, User

Span = tuple[dt.time, dt.time]
DEFAULT_OPEN_WEEKDAYS = frozenset(range(Weekday.MONDAY, Weekday.SATURDAY + 1))
"""The open days of a clinic without opening hours: every day but Sunday."""
WHOLE_DAY: Span = (dt.time.min, dt.time.max)


@functools.cache
def _public_holidays(state: str, year: int, language: str) -> dict[dt.date, str]:
    found = holidays.country_holidays("DE", subdiv=state or None, years=year, language=language)
    return dict(found.items())


def public_holiday(clinic: Clinic, day: dt.date) -> str | None:
    """The name of the public holiday on ``day`` in the clinic's state, if any, in the active language."""
    language = "en_US" if (get_language() or "").startswith("en") else "de"
    return _public_holidays(clinic.holiday_state, day.year, language).get(day)


def wall(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The naive wall-clock time of the instant ``value`` in ``tz``."""
    return value.astimezone(tz).replace(tzinfo=None)


def aware(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant at the naive wall-clock time ``value`` in ``tz`` (a time in the spring gap
    moves forward, an ambiguous autumn time takes its first occurrence)."""
    return value.replace(tzinfo=tz, fold=0).astimezone(dt.UTC).astimezone(tz)


def spans_text(spans: list[Span]) -> str:
    return ", ".join(f"{start:%H:%M}–{end:%H:%M}" for start, end in spans)


@dataclasses.dataclass
class ClinicCalendar:
    """A clinic's opening hours, closures and public holidays, loaded once."""

    clinic: Clinic
    opening: dict[int, list[Span]]
    closures: list[Closure]
    working: dict[int, dict[int, list[Span]]] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, clinic: Clinic, *, clinicians: list[User] | None = None) -> ClinicCalendar:
        opening: dict[int, list[Span]] = {}
        for hours in OpeningHours.objects.filter(clinic=clinic).order_by("weekday", "starts"):
            opening.setdefault(hours.weekday, []).append((hours.starts, hours.ends))
        calendar = cls(clinic=clinic, opening=opening, closures=list(Closure.objects.filter(clinic=clinic)))
        if clinicians:
            calendar.load_working_hours(clinicians)
        return calendar

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.clinic.time_zone)

    def load_working_hours(self, clinicians: list[User]) -> None:
        for user in clinicians:
            self.working.setdefault(user.pk, {})
        rows = WorkingHours.objects.filter(clinician__in=[user.pk for user in clinicians])
        for hours in rows.order_by("weekday", "starts"):
            self.working[hours.clinician_id].setdefault(hours.weekday, []).append((hours.starts, hours.ends))

    def closed_because(self, day: dt.date) -> str | None:
        """Why the clinic is closed on ``day`` (a sentence), or ``None`` when it is open."""
        date_text = formats.date_format(day, "DATE_FORMAT")
        holiday = public_holiday(self.clinic, day)
        if holiday:
            return _("The clinic is closed on %(date)s: public holiday (%(name)s).") % {
                "date": date_text,
                "name": holiday,
            }
        for closure in self.closures:
            if closure.first_day <= day <= closure.last_day:
                return _("The clinic is closed on %(date)s: %(reason)s.") % {
                    "date": date_text,
                    "reason": closure.reason or _("closure"),
                }
        if not self.open_spans(day):
            return _("The clinic is not open on %(weekday)s.") % {"weekday": formats.date_format(day, "l")}
        return None

    def open_spans(self, day: dt.date) -> list[Span]:
        """The spans the clinic is open on ``day``'s weekday (holidays and closures not applied)."""
        if not self.opening:
            return [WHOLE_DAY] if day.weekday() in DEFAULT_OPEN_WEEKDAYS else []
        return self.opening.get(day.weekday(), [])

    def working_spans(self, clinician: User, day: dt.date) -> list[Span] | None:
        """The clinician's working spans on ``day``'s weekday; ``None``: no hours configured."""
        hours = self.working.get(clinician.pk)
        if hours is None:
            self.load_working_hours([clinician])
            hours = self.working[clinician.pk]
        return hours.get(day.weekday(), []) if hours else None

    def bookable_spans(self, clinician: User, day: dt.date) -> list[Span]:
        """Where on ``day`` the clinic is open and the clinician works (empty on a closed day)."""
        if self.closed_because(day):
            return []
        spans = self.open_spans(day)
        working = self.working_spans(clinician, day)
        if working is None:
            return spans
        return [
            (max(a_start, b_start), min(a_end, b_end))
            for a_start, a_end in spans
            for b_start, b_end in working
            if max(a_start, b_start) < min(a_end, b_end)
        ]

    def refusals(self, *, clinician: User, starts_at: dt.datetime, ends_at: dt.datetime) -> list[str]:
        """Why an appointment of ``clinician`` from ``starts_at`` to ``ends_at`` cannot be booked:
        sentences for the closed days it touches, and for the clinic's opening hours or the
        clinician's working hours it leaves."""
        start, end = wall(starts_at, self.tz), wall(ends_at, self.tz)
        last_day = (end - dt.timedelta(microseconds=1)).date()
        day, problems = start.date(), []
        while day <= last_day:
            reason = self.closed_because(day)
            if reason:
                problems.append(reason)
            day += dt.timedelta(days=1)
        if problems:
            return problems
        weekday = formats.date_format(start.date(), "l")
        spans = self.open_spans(start.date())
        if self.opening and not _inside(start, end, self.open_spans):
            problems.append(
                _("The clinic is open on %(weekday)s from %(hours)s only.")
                % {"weekday": weekday, "hours": spans_text(spans)}
            )
        working = self.working_spans(clinician, start.date())
        if working is not None and not _inside(
            start, end, lambda day: self.working_spans(clinician, day) or []
        ):
            problems.append(
                _("%(name)s works on %(weekday)s from %(hours)s only.")
                % {"name": clinician.display_name, "weekday": weekday, "hours": spans_text(working)}
                if working
                else _("%(name)s does not work on %(weekday)s.")
                % {"name": clinician.display_name, "weekday": weekday}
            )
        return problems


def _inside(start: dt.datetime, end: dt.datetime, spans_of: Callable[[dt.date], list[Span]]) -> bool:
    """Whether the wall times ``start`` to ``end`` lie within the spans of their days: each day's
    piece within one span of that day (a span to ``dt.time.max`` runs to midnight, so a night
    across midnight fits a clinic open around the clock on both days)."""
    piece_start = start
    while piece_start < end:
        midnight = dt.datetime.combine(piece_start.date() + dt.timedelta(days=1), dt.time())
        piece_end = min(end, midnight)
        end_time = dt.time.max if piece_end == midnight else piece_end.time()
        if not any(
            span_start <= piece_start.time() and end_time <= span_end
            for span_start, span_end in spans_of(piece_start.date())
        ):
            return False
        piece_start = piece_end
    return True
