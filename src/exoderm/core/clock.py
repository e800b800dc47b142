"""When is a time that someone says has happened too far in the future to be true?

Clocks of the devices people type on (and of temperature loggers) run a little ahead or behind
ours; a time up to ``FUTURE_TOLERANCE`` ahead of the server's clock is taken as "now".
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

FUTURE_TOLERANCE = dt.timedelta(minutes=5)


def in_future(value: dt.datetime, *, now: dt.datetime | None = None) -> bool:
    """Whether ``value`` (aware) lies more than ``FUTURE_TOLERANCE`` after ``now`` (default: now)."""
    return value > (now or timezone.now()) + FUTURE_TOLERANCE
