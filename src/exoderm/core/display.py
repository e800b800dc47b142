"""Recorded changes as a reader of the clinic reads them: the one place that words the changes of
a correction (:class:`~exoderm.records.models.Revision`) and of an audit event for a page.

A field is named by its model's ``verbose_name`` in the reader's language, a choice by its label,
a yes/no field as yes or no, a list by its items' labels, a time in the active time zone (the
clinic's, on a page) and a date or number in the active language's format. What is stored stays as
it was written: this only words it. A field or model no longer known shows its stored name and
value.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from exoderm.core.areas import Area, validate_areas


@dataclass(frozen=True)
class ShownChange:
    """One changed field, worded: ``old`` is ``None`` when there was no old value (a record
    created), ``new`` when there is none (deleted); ``hidden`` when only the fact of the change
    may be shown."""

    label: str
    old: str | None = None
    new: str | None = None
    has_old: bool = True
    has_new: bool = True
    hidden: bool = False


def _field(model: type[models.Model] | None, name: str) -> Any:
    """The field (or reverse relation) ``name`` of ``model``, by name, attname or related name."""
    if model is None:
        return None
    name = getattr(model, "VERSION_FIELDS", {}).get(name, name)
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a model whose fields are not ready
        return None


def field_label(model: type[models.Model] | None, name: str) -> str:
    """``name`` of ``model`` as the reader calls it; the stored name when it is no known field.
    A version's companion of a relation (``lot_number`` beside ``lot``) is named as the relation."""
    field = _field(model, name)
    if field is None and "_" in name:
        companion = _field(model, name.rsplit("_", 1)[0])
        if companion is not None and companion.is_relation and companion.concrete:
            field = companion
    if field is None:
        return name
    if field.auto_created and not field.concrete:  # a reverse relation: the related rows
        meta = field.related_model._meta
        return str(capfirst(meta.verbose_name_plural))
    # A field without a name of its own is called by its attribute ("lot"): the model's name in the
    # catalogue, where there is one.
    return str(capfirst(_(field.verbose_name) if isinstance(field.verbose_name, str) else field.verbose_name))


def _related_model(model: type[models.Model] | None, name: str) -> type[models.Model] | None:
    field = _field(model, name)
    if field is None or not (field.auto_created and not field.concrete):
        return None
    related: type[models.Model] = field.related_model
    return related


def _choice_labels(field: Any) -> dict[str, str]:
    if field is not None and getattr(field, "choices", None):
        return {str(value): str(label) for value, label in field.flatchoices}
    if field is not None and validate_areas in getattr(field, "validators", ()):
        return {str(value): str(label) for value, label in Area.choices}
    return {}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return formats.date_format(
            timezone.localtime(value) if timezone.is_aware(value) else value, "SHORT_DATETIME_FORMAT"
        )
    if isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal | float | int):
        return str(formats.localize(value, use_l10n=True))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _typed(field: Any, value: Any) -> Any:
    """A stored JSON value as the Python value of ``field`` (a time, a date, a decimal)."""
    if not isinstance(value, str):
        return value
    if isinstance(field, models.DateTimeField):
        parsed = parse_datetime(value)
        return parsed if parsed is not None else value
    if isinstance(field, models.DateField):
        day = parse_date(value)
        return day if day is not None else value
    if isinstance(field, models.DecimalField | models.FloatField):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def value_text(model: type[models.Model] | None, name: str, value: Any) -> str | None:
    """``value`` of the field ``name`` of ``model`` as the reader reads it (``None`` stays ``None``)."""
    if value is None:
        return None
    field = _field(model, name)
    labels = _choice_labels(field)
    if isinstance(value, list):
        related = _related_model(model, name)
        if related is not None and all(isinstance(row, Mapping) for row in value):
            return " · ".join(_row_text(related, row) for row in value) or "–"
        return ", ".join(labels.get(str(item), _scalar(item)) for item in value) or "–"
    if isinstance(value, Mapping) and model is not None:
        return _row_text(model, value)
    if labels and str(value) in labels and not isinstance(value, bool):
        return labels[str(value)]
    if value == "":
        return "–"
    return _scalar(_typed(field, value))


def _row_text(model: type[models.Model], row: Mapping[str, Any]) -> str:
    """A related row (a procedure of a session) as ``label: value`` pairs."""
    parts = []
    for key, item in _flat(row).items():
        parts.append(f"{field_label(model, key)}: {value_text(model, key, item)}")
    return ", ".join(parts)


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's fields, with a nested ``params`` mapping (a procedure's parameters) lifted to the top."""
    flat: dict[str, Any] = {}
    for key, item in row.items():
        if f"{key}_number" in row or f"{key}_serial" in row:
            continue  # the id of a lot or vial whose number the row holds beside it
        if isinstance(item, Mapping) and key == "params":
            flat.update(item)
        else:
            flat[key] = item
    return flat


def _row_changes(model: type[models.Model], old: list[Any], new: list[Any]) -> list[ShownChange] | None:
    """The changes of related rows one by one (``Procedure 1, Needle depth: 1.00 → 1.50``) when
    the rows stayed as many; ``None`` when rows were added or removed."""
    if len(old) != len(new) or not all(isinstance(row, Mapping) for row in (*old, *new)):
        return None
    shown: list[ShownChange] = []
    row_name = str(capfirst(model._meta.verbose_name))
    for number, (before, after) in enumerate(zip(old, new, strict=True), start=1):
        before, after = _flat(before), _flat(after)
        for key in [*before, *(k for k in after if k not in before)]:
            if before.get(key) == after.get(key):
                continue
            shown.append(
                ShownChange(
                    label=f"{row_name} {number}, {field_label(model, key)}",
                    old=value_text(model, key, before.get(key)),
                    new=value_text(model, key, after.get(key)),
                )
            )
    return shown


def revision_changes(model: type[models.Model] | None, changes: Mapping[str, Any]) -> list[ShownChange]:
    """A correction's ``changes`` (name -> [old, new]) worded for the reader."""
    shown: list[ShownChange] = []
    for name, values in changes.items():
        old, new = values if isinstance(values, list | tuple) and len(values) == 2 else (None, values)
        related = _related_model(model, name)
        if related is not None and isinstance(old, list) and isinstance(new, list):
            rows = _row_changes(related, old, new)
            if rows is not None:
                shown.extend(rows)
                continue
        shown.append(
            ShownChange(
                label=field_label(model, name),
                old=value_text(model, name, old),
                new=value_text(model, name, new),
            )
        )
    return shown


def event_changes(model: type[models.Model] | None, changes: Mapping[str, Any]) -> list[ShownChange]:
    """An audit event's ``changes`` (name -> {"old", "new"} or {"changed": True}) worded for the reader."""
    shown: list[ShownChange] = []
    for name, change in changes.items():
        label = field_label(model, name)
        if not isinstance(change, Mapping) or change.get("changed"):
            shown.append(ShownChange(label=label, hidden=True))
            continue
        shown.append(
            ShownChange(
                label=label,
                old=value_text(model, name, change.get("old")),
                new=value_text(model, name, change.get("new")),
                has_old="old" in change,
                has_new="new" in change,
            )
        )
    return shown


def model_of(object_type: str) -> type[models.Model] | None:
    """The model an audit event names (``treatments.procedure``); ``None`` for one no longer known."""
    from django.apps import apps

    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
