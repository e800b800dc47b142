"""Recorded changes as a reader of the clinic reads them: the one place that words the changes of
a correction (:class:`~exoderm.records.models.Revision`) and of an audit event for a page.

A field is named by its model's ``verbose_name`` in the reader's language, a choice by its label,
a yes/no field as yes or no, a list by its items' labels, a time in the active time zone (the
clinic's, on a page) and a date or number in the active language's format. What is stored stays as
it was written: this only words it. A field or model no longer known shows its stored name and
value.

A link to another record is stored as its id; a page words it by the record's name (a user's full
name, a lot's product and number, a patient's code) from :class:`LinkedNames`, which looks the
page's linked records up in one query per model, and only among the reader's clinic's records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from exoderm.audit.models import AuditEvent
from exoderm.core.areas import Area, label_list, validate_areas

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic


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


@dataclass(frozen=True)
class ShownValue:
    """One field of a stored version, worded."""

    label: str
    value: str


@dataclass(frozen=True)
class _Linked:
    """A row's link with the number the row stored beside it (``lot`` and ``lot_number``): named
    like any link, and by the stored number where the record is not looked up."""

    pk: Any
    stored: Any


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _linked_model(field: Any) -> type[models.Model] | None:
    """The model a forward link (a foreign key, a one-to-one) points to; ``None`` for any other field."""
    if field is None or not getattr(field, "concrete", False) or not (field.many_to_one or field.one_to_one):
        return None
    related = field.related_model
    return related if isinstance(related, type) else None


def _user_name(user: Any) -> str:
    return str(user.display_name)


def _session_name(session: Any) -> str:
    return f"{session.patient.code} {_scalar(session.performed_at)}"


def _screening_answer_name(answer: Any) -> str:
    return f"{answer.get_item_display()}: {_scalar(answer.present)} ({_scalar(answer.answered_on)})"


def _photo_name(photo: Any) -> str:
    return f"{photo.patient.code} {photo.get_view_display()} {_scalar(photo.taken_at)}"


def _analysis_name(analysis: Any) -> str:
    return _("Analysis of %(photo)s, engine %(version)s") % {
        "photo": _photo_name(analysis.photo),
        "version": analysis.engine_version,
    }


def _message_name(message: Any) -> str:
    return _("%(kind)s by %(channel)s to %(patient)s (%(status)s)") % {
        "kind": message.get_kind_display(),
        "channel": message.get_channel_display(),
        "patient": message.patient.code,
        "status": message.get_status_display(),
    }


def _revision_name(revision: Any) -> str:
    return _("Correction of %(when)s") % {"when": _scalar(revision.corrected_at)}


#: How a reader knows a linked record where its ``__str__`` would not do (a user by name, a session by
#: its patient's code and local time, a screening answer by its item's words), with the relations
#: the name reads.
_NAMERS: dict[str, tuple[tuple[str, ...], Callable[[Any], str]]] = {
    "clinics.user": ((), _user_name),
    "treatments.treatmentsession": (("patient",), _session_name),
    "patients.screeninganswer": ((), _screening_answer_name),
    "photos.photo": (("patient",), _photo_name),
    "photos.analysis": (("photo__patient",), _analysis_name),
    "messaging.outboxmessage": (("patient",), _message_name),
    "records.revision": ((), _revision_name),
}

#: Fields a reader of the trail has no use for: the workers' own bookkeeping (who holds a message
#: or an analysis, until when) and values derived from others (the digits of a phone number). The
#: trail keeps them; the page leaves them out.
BOOKKEEPING: dict[str, frozenset[str]] = {
    "messaging.outboxmessage": frozenset(
        {"claim_token", "claimed_by", "claimed_task", "lease_until", "handed_over_at", "key", "sealed_link"}
    ),
    "photos.photo": frozenset(
        {"analysis_task_id", "analysis_worker", "analysis_started_at", "file_name", "source_sha256", "sha256"}
    ),
    "patients.patientidentity": frozenset({"phone_digits", "search_key"}),
}

#: The names of fields their model names no better than by their attribute ("uploaded by").
_FIELD_LABELS: dict[str, dict[str, Any]] = {
    "photos.photo": {
        "uploaded_by": gettext_lazy("uploaded by"),
        "uploaded_at": gettext_lazy("uploaded at"),
        "size_bytes": gettext_lazy("file size (bytes)"),
        "width": gettext_lazy("width (pixels)"),
        "height": gettext_lazy("height (pixels)"),
        "content_type": gettext_lazy("file type"),
        "source_size": gettext_lazy("size of the upload (bytes)"),
        "taken_at_source": gettext_lazy("time taken from"),
    },
    "photos.analysis": {
        "photo": gettext_lazy("photo"),
        "engine_version": gettext_lazy("engine version"),
        "roi": gettext_lazy("region of interest"),
        "usable": gettext_lazy("usable"),
        "data": gettext_lazy("result"),
        "seconds": gettext_lazy("duration (seconds)"),
        "created_at": gettext_lazy("created at"),
    },
    "messaging.outboxmessage": {
        "created_at": gettext_lazy("created at"),
        "created_by": gettext_lazy("created by"),
        "provider_reference": gettext_lazy("provider reference"),
    },
}


def _analysis_summary(data: Mapping[str, Any]) -> str:
    """An analysis result (skinlab's JSON record) in a few words, not the JSON."""
    regions = data.get("regions")
    count = len(regions) if isinstance(regions, Mapping | list) else 0
    summary = ngettext("%(count)s region", "%(count)s regions", count) % {"count": count}
    if data.get("engine_version"):
        summary = _("%(regions)s, engine %(version)s") % {
            "regions": summary,
            "version": data["engine_version"],
        }
    return summary


def _by_number(record: Any) -> str:
    """A record whose model names it no better than Django's "Procedure object (1)"."""
    return f"#{record.pk}"


def _named_along(model: type[models.Model]) -> tuple[str, ...]:
    """The relations read with ``model``'s records for their names: a ``__str__`` may read one
    (a lot names its product), and must not cost a query per record."""
    return tuple(
        f.name for f in model._meta.concrete_fields if f.is_relation and (f.many_to_one or f.one_to_one)
    )


def _clinic_scope(model: type[models.Model], clinic: Clinic) -> models.QuerySet[Any] | None:
    """``model``'s records of ``clinic``; ``None`` for a model that belongs to no clinic."""
    from exoderm.clinics.models import Clinic

    manager = model._default_manager
    if issubclass(model, Clinic):
        return manager.filter(pk=clinic.pk)
    path = getattr(model, "CLINIC_PATH", None)
    if path is None and any(f.name == "clinic" for f in model._meta.concrete_fields):
        path = "clinic"  # the user
    return manager.filter(**{path: clinic}) if path else None


@dataclass(frozen=True)
class LinkedNames:
    """The names of the records a page's changes link to, by model and id (:meth:`look_up`)."""

    names: Mapping[tuple[type[models.Model], Any], str] = dataclass_field(default_factory=dict)
    looked_up: frozenset[type[models.Model]] = frozenset()

    @classmethod
    def look_up(
        cls,
        *,
        clinic: Clinic,
        values: Iterable[tuple[type[models.Model] | None, str, Any]],
        records: Iterable[tuple[type[models.Model], Any]] = (),
    ) -> LinkedNames:
        """The names of the records linked from ``values`` (model, field name, stored value), and of
        ``records`` (model, id) themselves (what audit events are about), in one query per model,
        among ``clinic``'s records only: another clinic's record reads as one deleted, as an id of
        another clinic reads as one that does not exist everywhere else."""
        wanted: dict[type[models.Model], set[Any]] = {}
        for model, name, value in values:
            for linked, pk in _links(model, name, value):
                wanted.setdefault(linked, set()).add(pk)
        for model, pk in records:
            wanted.setdefault(model, set()).add(pk)
        names: dict[tuple[type[models.Model], Any], str] = {}
        looked_up = set()
        for linked, pks in wanted.items():
            scope = _clinic_scope(linked, clinic)
            if scope is None:
                continue
            plain = linked.__str__ is models.Model.__str__
            along, namer = _NAMERS.get(
                linked._meta.label_lower, ((), _by_number) if plain else (_named_along(linked), str)
            )
            found = scope.filter(pk__in=pks)
            for record in found.select_related(*along) if along else found:
                names[(linked, record.pk)] = namer(record)
            looked_up.add(linked)
        return cls(names, frozenset(looked_up))

    def text(self, model: type[models.Model], pk: Any, stored: Any = None) -> str:
        """The record's name; one looked up and not found as deleted (by the number stored beside
        its id, or its id); one of a model not looked up as stored."""
        name = self.names.get((model, pk))
        if name is not None:
            return name
        known = str(stored) if stored not in (None, "") else f"#{pk}"
        if model in self.looked_up:
            return _("%(record)s (deleted)") % {"record": known}
        return known


def _links(
    model: type[models.Model] | None, name: str, value: Any
) -> Iterator[tuple[type[models.Model], Any]]:
    """The linked records (model, id) in the stored ``value`` of field ``name``, rows included."""
    if isinstance(value, list):
        related = _related_model(model, name)
        if related is not None:
            for row in value:
                if isinstance(row, Mapping):
                    for key, item in row.items():
                        yield from _links(related, key, item)
        return
    linked = _linked_model(_field(model, name))
    if linked is not None and _is_id(value):
        yield linked, value


def revision_values(
    model: type[models.Model] | None, *, snapshot: Mapping[str, Any], changes: Mapping[str, Any]
) -> Iterator[tuple[type[models.Model] | None, str, Any]]:
    """A revision's stored values (its version before and both sides of its changes), for
    :meth:`LinkedNames.look_up`."""
    for name, value in snapshot.items():
        yield model, name, value
    for name, values in changes.items():
        for value in values if isinstance(values, list | tuple) else [values]:
            yield model, name, value


def event_values(
    model: type[models.Model] | None, changes: Mapping[str, Any]
) -> Iterator[tuple[type[models.Model] | None, str, Any]]:
    """An audit event's stored old and new values, for :meth:`LinkedNames.look_up`."""
    for name, change in changes.items():
        if isinstance(change, Mapping):
            for side in ("old", "new"):
                if side in change:
                    yield model, name, change[side]


def _field(model: type[models.Model] | None, name: str) -> Any:
    """The field (or reverse relation) ``name`` of ``model``, by name, attname or related name."""
    if model is None:
        return None
    name = getattr(model, "VERSION_FIELDS", {}).get(name, name)
    *path, name = name.split("__")  # a version may keep a field of a related record ("identity__phone")
    owner: Any = model
    try:
        for step in path:
            owner = owner._meta.get_field(step).related_model
        return owner._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a model whose fields are not ready
        return None


def field_label(model: type[models.Model] | None, name: str) -> str:
    """``name`` of ``model`` as the reader calls it; the stored name when it is no known field.
    A version's companion of a relation (``lot_number`` beside ``lot``) is named as the relation."""
    if model is not None and (label := _FIELD_LABELS.get(model._meta.label_lower, {}).get(name)):
        return str(capfirst(label))
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


def value_text(
    model: type[models.Model] | None, name: str, value: Any, names: LinkedNames | None = None
) -> str | None:
    """``value`` of the field ``name`` of ``model`` as the reader reads it (``None`` stays ``None``);
    a link by the name of its record in ``names``."""
    if value is None:
        return None
    field = _field(model, name)
    linked = _linked_model(field)
    if isinstance(value, _Linked):
        if names is None or linked is None:
            return _scalar(value.stored)
        return names.text(linked, value.pk, value.stored)
    if linked is not None and names is not None and _is_id(value):
        return names.text(linked, value)
    labels = _choice_labels(field)
    if isinstance(value, list):
        related = _related_model(model, name)
        if related is not None and all(isinstance(row, Mapping) for row in value):
            return " · ".join(_row_text(related, row, names) for row in value) or "–"
        return label_list(labels.get(str(item), _scalar(item)) for item in value) or "–"
    if isinstance(value, Mapping) and model is not None and model._meta.label_lower == "photos.analysis":
        return _analysis_summary(value)
    if isinstance(value, Mapping) and model is not None:
        return _row_text(model, value, names)
    if labels and str(value) in labels and not isinstance(value, bool):
        return labels[str(value)]
    if value == "":
        return "–"
    return _scalar(_typed(field, value))


def _row_text(model: type[models.Model], row: Mapping[str, Any], names: LinkedNames | None) -> str:
    """A related row (a procedure of a session) as ``label: value`` pairs; a row whose model words a
    message from some of its fields (an acknowledged warning: ``version_message`` and
    ``VERSION_MESSAGE_FROM``) as that message, the other fields after it in brackets."""
    message_of = getattr(model, "version_message", None)
    message = message_of(row) if message_of is not None else None
    if message:
        row = {k: v for k, v in row.items() if k not in model.VERSION_MESSAGE_FROM}  # type: ignore[attr-defined]
    parts = [f"{field_label(model, k)}: {value_text(model, k, v, names)}" for k, v in _flat(row).items()]
    if message:
        return f"{message} ({', '.join(parts)})" if parts else message
    return ", ".join(parts)


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's fields, with a nested ``params`` mapping (a procedure's parameters) lifted to the top
    and a link's number stored beside it (``lot_number``) kept with the link."""
    flat: dict[str, Any] = {}
    for key, item in row.items():
        owner, _sep, suffix = key.rpartition("_")
        if suffix in ("number", "serial") and owner in row:
            continue  # the number of the lot or vial the row links to: kept with the link
        companion = next((row[f"{key}_{s}"] for s in ("number", "serial") if f"{key}_{s}" in row), None)
        if companion is not None:
            flat[key] = _Linked(item, companion)
        elif isinstance(item, Mapping) and key == "params":
            flat.update(item)
        else:
            flat[key] = item
    return flat


def _row_changes(
    model: type[models.Model], old: list[Any], new: list[Any], names: LinkedNames | None
) -> list[ShownChange] | None:
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
                    old=value_text(model, key, before.get(key), names),
                    new=value_text(model, key, after.get(key), names),
                )
            )
    return shown


def revision_changes(
    model: type[models.Model] | None, changes: Mapping[str, Any], names: LinkedNames | None = None
) -> list[ShownChange]:
    """A correction's ``changes`` (name -> [old, new]) worded for the reader, links by ``names``."""
    shown: list[ShownChange] = []
    for name, values in changes.items():
        old, new = values if isinstance(values, list | tuple) and len(values) == 2 else (None, values)
        related = _related_model(model, name)
        if related is not None and isinstance(old, list) and isinstance(new, list):
            rows = _row_changes(related, old, new, names)
            if rows is not None:
                shown.extend(rows)
                continue
        shown.append(
            ShownChange(
                label=field_label(model, name),
                old=value_text(model, name, old, names),
                new=value_text(model, name, new, names),
            )
        )
    return shown


def version_fields(
    model: type[models.Model] | None, version: Mapping[str, Any], names: LinkedNames | None = None
) -> list[ShownValue]:
    """A stored version (a revision's record before the correction) as its fields, worded."""
    return [
        ShownValue(label=field_label(model, name), value=value_text(model, name, value, names) or "–")
        for name, value in version.items()
    ]


def event_changes(
    model: type[models.Model] | None, changes: Mapping[str, Any], names: LinkedNames | None = None
) -> list[ShownChange]:
    """An audit event's ``changes`` (name -> {"old", "new"} or {"changed": True}) worded for the
    reader, links by ``names``; related rows that stayed as many one by one, as in a correction's
    history; the workers' bookkeeping (:data:`BOOKKEEPING`) left out."""
    skipped = BOOKKEEPING.get(model._meta.label_lower, frozenset()) if model is not None else frozenset()
    shown: list[ShownChange] = []
    for name, change in changes.items():
        if name in skipped:
            continue
        if name == AuditEvent.CORRECTION_REASON:
            shown.append(ShownChange(label=_("Reason"), new=str(change.get("new")), has_old=False))
            continue
        label = field_label(model, name)
        if not isinstance(change, Mapping) or change.get("changed"):
            shown.append(ShownChange(label=label, hidden=True))
            continue
        related = _related_model(model, name)
        old, new = change.get("old"), change.get("new")
        if related is not None and isinstance(old, list) and isinstance(new, list):
            rows = _row_changes(related, old, new, names)
            if rows is not None:
                shown.extend(rows)
                continue
        shown.append(
            ShownChange(
                label=label,
                old=value_text(model, name, old, names),
                new=value_text(model, name, new, names),
                has_old="old" in change,
                has_new="new" in change,
            )
        )
    return shown


def record_id(model: type[models.Model], stored: str) -> Any:
    """An id stored as text (an audit event's ``object_id``) as ``model``'s primary key; ``None``
    for one that is not."""
    try:
        return model._meta.pk.to_python(stored) if stored else None
    except ValidationError:
        return None


def model_of(object_type: str) -> type[models.Model] | None:
    """The model an audit event names (``treatments.procedure``); ``None`` for one no longer known."""
    from django.apps import apps

    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
