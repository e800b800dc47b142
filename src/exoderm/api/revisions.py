"""How a correction's revision is shown in the API (the routes live with the corrected records)."""

import datetime as dt
from typing import Any

from ninja import Field, Schema


class RevisionOut(Schema):
    id: int
    corrected_by: int = Field(alias="corrected_by_id")
    corrected_by_name: str = Field(alias="corrected_by.display_name")
    corrected_at: dt.datetime
    reason: str
    changes: dict[str, list[Any]] = Field(description="the fields that changed: name -> [old, new]")
    snapshot: dict[str, Any] = Field(description="the whole version before this correction")


REASON_DESCRIPTION = "why the record is corrected (required); kept with the old version"
