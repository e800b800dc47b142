"""The API's schema validation errors worded in the request's language.

Pydantic words its errors in English only, and django-ninja passes them on; the API promises its
messages in the request's ``Accept-Language``. The common error types get a message of ours, a rare
one keeps pydantic's English text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exoderm.core.text import surrogate_message

INTEGER = frozenset({"int_type", "int_parsing", "int_from_float"})
NUMBER = frozenset({"float_type", "float_parsing", "decimal_type", "decimal_parsing", "finite_number"})
BOOLEAN = frozenset({"bool_type", "bool_parsing"})
DATE = frozenset({"date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"})
DATETIME = frozenset(
    {"datetime_type", "datetime_parsing", "datetime_from_date_parsing", "datetime_object_invalid"}
)
CHOICE = frozenset({"enum", "literal_error"})
OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})
# Parts of an error's location that name no field: the request part and the view's body argument.
UNNAMED = frozenset({"body", "payload"})


@dataclass(frozen=True)
class FieldError:
    field: str  # the path clients match on, e.g. applications.0.lot or query.patient
    place: str  # the field named in a sentence, e.g. "query parameter patient"
    message: str


def field_error(error: Mapping[str, Any]) -> FieldError:
    """One error of ``ninja.errors.ValidationError.errors`` (type, loc, msg, ctx), worded."""
    loc = [str(part) for part in error.get("loc", ())]
    field = ".".join(part for part in loc if part not in UNNAMED)
    name = ".".join(part for part in loc[1:] if part not in UNNAMED)
    return FieldError(field, _place(loc[0] if loc else "", name) or field, _message(error))


def _place(source: str, name: str) -> str:
    if source == "query":
        return _("query parameter %(name)s") % {"name": name}
    if source == "path":
        return _("path parameter %(name)s") % {"name": name}
    if source in {"form", "file"}:
        return _("form field %(name)s") % {"name": name}
    if source == "header":
        return _("header %(name)s") % {"name": name}
    return name


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        return _("A value is required.")
    if kind in INTEGER:
        return _("Give a whole number.")
    if kind in NUMBER:
        return _("Give a number.")
    if kind in BOOLEAN:
        return _("Give true or false.")
    if kind in DATE:
        return _("Give a date, for example 2026-12-31.")
    if kind in DATETIME:
        return _("Give a date and time, for example 2026-12-01T10:00:00+01:00.")
    if kind == "timezone_aware":
        return _("Give the time with its UTC offset, for example 2026-12-01T10:00:00+01:00.")
    if kind == "string_type":
        return _("Give a text.")
    if kind == "string_unicode":  # pydantic's check of a limited text: a lone surrogate
        return surrogate_message()
    if kind == "list_type":
        return _("Give a list.")
    if kind in OBJECT:
        return _("Give an object.")
    if kind in CHOICE:
        return _("Choose one of: %(choices)s.") % {"choices": ", ".join(_choices(ctx["expected"]))}
    if kind == "string_too_short":
        count = ctx["min_length"]
        return ngettext(
            "Give at least %(count)d character.", "Give at least %(count)d characters.", count
        ) % {"count": count}
    if kind == "string_too_long":
        count = ctx["max_length"]
        return ngettext("Give at most %(count)d character.", "Give at most %(count)d characters.", count) % {
            "count": count
        }
    if kind == "too_short":
        count = ctx["min_length"]
        return ngettext("Give at least %(count)d item.", "Give at least %(count)d items.", count) % {
            "count": count
        }
    if kind == "too_long":
        count = ctx["max_length"]
        return ngettext("Give at most %(count)d item.", "Give at most %(count)d items.", count) % {
            "count": count
        }
    if kind == "greater_than":
        return _("Give a value above %(limit)s.") % {"limit": _number(ctx["gt"])}
    if kind == "greater_than_equal":
        return _("Give a value of at least %(limit)s.") % {"limit": _number(ctx["ge"])}
    if kind == "less_than":
        return _("Give a value below %(limit)s.") % {"limit": _number(ctx["lt"])}
    if kind == "less_than_equal":
        return _("Give a value of at most %(limit)s.") % {"limit": _number(ctx["le"])}
    return str(error.get("msg", ""))


def _number(value: Any) -> str:
    """A limit in the user's format; pydantic gives a float field's limit 0 as 0.0."""
    return formats.localize(int(value) if isinstance(value, float) and value.is_integer() else value)


def _choices(expected: str) -> Sequence[str]:
    """The values of pydantic's English ``'a', 'b' or 'c'``."""
    return [value.strip("'") for value in re.split(r", | or ", expected)]


def body_error(cause: BaseException) -> str:
    """What is wrong with a request body that could not be read as JSON."""
    if isinstance(cause, json.JSONDecodeError):
        return _("The JSON breaks off or goes wrong at line %(line)d, column %(column)d.") % {
            "line": cause.lineno,
            "column": cause.colno,
        }
    return _("Send the body as JSON encoded in UTF-8.")
