"""Times on the clinic's today for the check-in tests: a patient is checked in on the
appointment's day only, and no clock is mocked here, so the scenes are placed around now."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone


def clinic_today(clinic) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(clinic.time_zone)).date()


def minutes_ago(clinic, minutes: int) -> dt.datetime:
    """``minutes`` before now (to the minute), which must still be the clinic's today: the
    awkward instants of `make test` lie at least 80 minutes after the clinic's midnight."""
    moment = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
    assert moment.astimezone(ZoneInfo(clinic.time_zone)).date() == clinic_today(clinic), (
        "run again later: the clinic's day began less than that long ago"
    )
    return moment


def on_day(clinic, day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(clinic.time_zone))
