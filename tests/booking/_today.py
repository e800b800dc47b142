"""Times on the clinic's today for the check-in tests: a patient is checked in on the
appointment's day only, and no clock is mocked here, so the scenes are placed around now, in a
clinic whose day is half gone (:func:`clinic`): "five minutes ago" and "half an hour ago" are then
its today at any real time, also in the minutes after Berlin's midnight."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

#: Zones a whole number of hours from UTC, from UTC-12 to UTC+14 (the ``Etc`` names count the
#: other way round), so that one of them is always within half an hour of noon.
WHOLE_HOUR_ZONES = [f"Etc/GMT{-hours:+d}" if hours else "UTC" for hours in range(-12, 15)]


def noon_time_zone(now: dt.datetime | None = None) -> str:
    """The zone of :data:`WHOLE_HOUR_ZONES` whose wall clock is nearest noon ``now``."""
    now = now or timezone.now()

    def from_noon(name: str) -> float:
        local = now.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 12)

    return min(WHOLE_HOUR_ZONES, key=from_noon)


@pytest.fixture(name="clinic")
def clinic_at_noon(clinic):
    """The test clinic moved to the zone where it is about noon now (import it into a test module
    to use it there)."""
    clinic.time_zone = noon_time_zone()
    clinic.full_clean()
    clinic.save(update_fields=["time_zone"])
    return clinic


def clinic_today(clinic) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(clinic.time_zone)).date()


def minutes_ago(clinic, minutes: int) -> dt.datetime:
    """``minutes`` before now (to the minute), which must still be the clinic's today: it is,
    for up to 11 hours in the clinic of :func:`clinic_at_noon`."""
    moment = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
    assert moment.astimezone(ZoneInfo(clinic.time_zone)).date() == clinic_today(clinic), (
        "the clinic's day began less than that long ago: use the clinic_at_noon fixture"
    )
    return moment


def on_day(clinic, day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(clinic.time_zone))
