"""Which times can be true? Limits for times people type, shared by every record and plan.

Clocks of the devices people type on (and of temperature loggers) run a little ahead or behind
ours; a time up to ``FUTURE_TOLERANCE`` ahead of the server's clock is taken as "now". A time
before ``EARLIEST`` (nothing this clinic records is older) or a plan more than ``PLAN_AHEAD``
ahead is a typo: a date picker happily offers the years 0001 and 9999, and date arithmetic on
those overflows.
"""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone
from django.utils.translation import gettext

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
EARLIEST = dt.date(2000, 1, 1)
"""No record of this therapy (lot, session, photo, course) is older."""
EARLIEST_BIRTH = dt.date(1900, 1, 1)
PLAN_AHEAD = dt.timedelta(days=3 * 366)
"""Courses, visits and expiry dates lie at most this far ahead."""


def in_future(value: dt.datetime, *, now: dt.datetime | None = None) -> bool:
    """Whether ``value`` (aware) lies more than ``FUTURE_TOLERANCE`` after ``now`` (default: now)."""
    return value > (now or timezone.now()) + FUTURE_TOLERANCE


def _date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def too_early(value: dt.date | dt.datetime, *, earliest: dt.date = EARLIEST) -> bool:
    """Whether ``value`` lies before ``earliest`` (default :data:`EARLIEST`)."""
    return _date(value) < earliest


def too_far_ahead(value: dt.date | dt.datetime, *, now: dt.datetime | None = None) -> bool:
    """Whether ``value`` lies more than :data:`PLAN_AHEAD` after ``now`` (default: now)."""
    return _date(value) > _date(now or timezone.now()) + PLAN_AHEAD


def too_early_message(earliest: dt.date = EARLIEST) -> str:
    """The refusal of a date before ``earliest``, worded in the active language."""
    return gettext("This lies before %(earliest)s: check the year.") % {
        "earliest": formats.date_format(earliest, "SHORT_DATE_FORMAT")
    }
