"""Which ids can exist? Primary keys are 64-bit integers in every database exoderm runs on.

A larger number in a URL or a request is no id of ours: it is refused at the edge (404 for a page
address, 422 for an API parameter) instead of reaching the database, which cannot even compare it
(SQLite: "Python int too large to convert to SQLite INTEGER").
"""

from __future__ import annotations

from django.urls.converters import IntConverter

MAX_ID = 2**63 - 1
"""The largest value of a 64-bit primary key."""


class IdConverter(IntConverter):
    """The URL converter ``<id:name>``: a positive integer within the database's range."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"{value} is no database id")  # the URL does not match: 404
        return number
