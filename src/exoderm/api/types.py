"""Types shared by the API's input schemas."""

import datetime as dt
from typing import Annotated

from django.utils.translation import gettext
from pydantic import AfterValidator, AwareDatetime


def _in_utc(value: dt.datetime) -> dt.datetime:
    """An aware time as the same instant in UTC. ISO 8601 allows offsets up to ±23:59, PostgreSQL
    takes at most ±15:59 (no real time zone is beyond ±14:00): converted at the edge, a valid but
    odd offset neither reaches the database nor fails there."""
    try:
        return value.astimezone(dt.UTC) if value.tzinfo is not None else value
    except OverflowError:  # 0001-01-01 with a positive offset lies before the first UTC instant
        raise ValueError(gettext("The date and time is out of range: check the year.")) from None


Instant = Annotated[dt.datetime, AfterValidator(_in_utc)]
"""A date and time, converted to UTC when it has an offset."""

AwareInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A date and time that must have an offset, converted to UTC."""
