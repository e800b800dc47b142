"""Types shared by the API's input schemas.

Every text input is one of :data:`Text`, :data:`Note` or :data:`Document` (limited, no NUL, no lone
surrogate: ``exoderm.core.text``), every id one of :data:`Id`; ``tests/trust/test_boundaries.py``
walks the OpenAPI document and fails on a text input without a maximum length or an integer id
without the database's range.
"""

import datetime as dt
from typing import Annotated, Any

from django.utils.translation import gettext
from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from exoderm.core.ids import MAX_ID
from exoderm.core.text import DOCUMENT, NOTE, SHORT_TEXT, text_problem

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A database id: a larger number is refused as invalid (422), not looked up."""


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_unstorable", problem)
    return value


Text = Annotated[str, StringConstraints(max_length=SHORT_TEXT), AfterValidator(_storable)]
"""A one-line text: names, titles, codes, kinds, search words."""

Note = Annotated[str, StringConstraints(max_length=NOTE), AfterValidator(_storable)]
"""A few sentences: addresses, reasons, notes."""

Document = Annotated[str, StringConstraints(max_length=DOCUMENT), AfterValidator(_storable)]
"""A long text: the wording of a consent."""


class PatchSchema(Schema):
    """The body of a PATCH: a field left out keeps its value, and none can be set to null.

    Fields are declared ``X | SkipJsonSchema[None] = None`` (left out: None, and the schema shows no
    null); a null sent anyway is refused here, naming the field, instead of reaching a column that
    cannot hold it.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "null_refused", gettext("Give a value, or leave the field out to keep its value.")
            )
        return value


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
