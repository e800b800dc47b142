"""The instants at which `make test` runs the date-dependent suites again (under libfaketime).

A clinic works on its own calendar, the server on UTC: around midnight the two disagree about
the date, and in the night the clocks go back a wall-clock hour happens twice. Tests that take
"today" from the wrong clock pass all day and fail at such times (a lot-expiry test failed in CI
at 00:20 UTC). Printed one per line as ``YYYY-MM-DD HH:MM:SS`` (UTC), all in the future, since
fixtures carry real dates of the recent past:

* 00:20 UTC: the test factories' clinic (Europe/Berlin) is past midnight, a session two hours
  ago was yesterday there;
* the night Berlin's clocks next go back, 30 minutes and 2 hours 10 minutes after the change:
  the wall clock reads an hour that happens twice, now and for a session two hours ago;
* 14:30 UTC: the clinic's afternoon, when noon of its yesterday lies before a consent the
  factories date 24 hours back (a test charting at yesterday's noon failed only after lunch).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CLINIC_TIME_ZONE = ZoneInfo("Europe/Berlin")  # tests.factories.ClinicFactory's


def next_fall_back(after: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first instant after ``after`` at which ``tz``'s offset from UTC decreases."""
    day = after.replace(minute=0, second=0, microsecond=0)
    while day.astimezone(tz).utcoffset() <= (day + dt.timedelta(hours=1)).astimezone(tz).utcoffset():
        day += dt.timedelta(hours=1)
    return day + dt.timedelta(hours=1)


def awkward_instants(now: dt.datetime) -> list[dt.datetime]:
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        tomorrow.replace(minute=20),
        next_fall_back(now, CLINIC_TIME_ZONE) + dt.timedelta(minutes=30),
        next_fall_back(now, CLINIC_TIME_ZONE) + dt.timedelta(hours=2, minutes=10),
        tomorrow.replace(hour=14, minute=30),
    ]


if __name__ == "__main__":
    for instant in awkward_instants(dt.datetime.now(dt.UTC)):
        print(instant.strftime("%Y-%m-%d %H:%M:%S"))
