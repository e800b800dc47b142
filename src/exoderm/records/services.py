"""Writes for revisions. Only the owning apps' correction services call :func:`record_revision`,
inside their own transaction, after they checked the corrector's role."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.audit import recording
from exoderm.core.text import text_problem
from exoderm.records.models import REASON_MAX_LENGTH, Revision

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic, User
    from exoderm.patients.models import Patient


def checked_reason(reason: object) -> str:
    """The reason for a correction, stripped; refused (field ``reason``) when empty or too long."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationError({"reason": _("Give the reason for the correction.")})
    if (problem := text_problem(text)) is not None:
        raise ValidationError({"reason": problem})
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": _("Give a reason of at most %(n)d characters.") % {"n": REASON_MAX_LENGTH}}
        )
    return text


def as_json(value: Any) -> Any:
    """``value`` as plain JSON (dates and decimals as ISO strings), the form a snapshot stores."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _as_value(value: Any) -> Any:
    """``value`` in one form per value: an aware time in UTC (the same instant typed in the clinic's
    zone is the same time), tuples as lists, and so through lists and dicts; compared with ``==``,
    so that decimals compare by number (1.5 and 1.50) and not by how they are written."""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return value.astimezone(dt.UTC)
    if isinstance(value, Mapping):
        return {key: _as_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_value(item) for item in value]
    return value


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The keys whose values differ between two versions: name -> [old, new], as JSON.

    Values are compared, not their serialisations: a time compares as an instant, a decimal as a
    number, a list of rows by their contents."""
    old, new = _as_value(dict(before)), _as_value(dict(after))
    return {
        name: as_json([old.get(name), new.get(name)])
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


def nothing_changed() -> ValidationError:
    """The refusal of a correction whose values are the recorded ones: it corrects nothing, and a
    revision of it would say nothing."""
    return ValidationError(
        _(
            "Nothing was changed: the values given are the ones already recorded, so there is "
            "nothing to correct."
        )
    )


def record_revision(
    *,
    obj: models.Model,
    clinic: Clinic,
    patient: Patient | None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    reason: str,
    by: User,
) -> Revision:
    """Keep the version ``before`` a correction of ``obj``, and what changed, as a revision; refused
    (:func:`nothing_changed`) when nothing did, for the caller's transaction to roll back."""
    changes = changed_fields(before, after)
    if not changes:
        raise nothing_changed()
    revision = Revision.objects.create(
        clinic=clinic,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=obj.pk,
        patient=patient,
        snapshot=as_json(dict(before)),
        changes=changes,
        reason=checked_reason(reason),
        corrected_by=by,
        corrected_at=timezone.now(),
    )
    recording.record_correction(obj=obj, changes=changes, reason=revision.reason)
    return revision


def save_correction(
    *,
    obj: models.Model,
    fields: Collection[str],
    clinic: Clinic,
    patient: Patient | None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    reason: str,
    by: User,
) -> Revision:
    """Save the corrected ``fields`` of ``obj`` and keep its version ``before`` as a revision, in
    the caller's transaction; a correction that changes nothing is refused (:func:`nothing_changed`)
    before anything is saved."""
    if not changed_fields(before, after):
        raise nothing_changed()
    obj.save(update_fields=list(fields))
    return record_revision(
        obj=obj, clinic=clinic, patient=patient, before=before, after=after, reason=reason, by=by
    )


def redact(*, patient: Patient, fields: Collection[str]) -> int:
    """Blank ``fields`` in every revision of ``patient`` (the old values in snapshots and changes).

    The one exception to revisions being kept as written: an erasure request (GDPR Art. 17) erases
    data the law does not require the clinic to keep, such as contact details, and an old version
    holding them would keep them alive. Returns how many revisions held such a field.
    """
    redacted = 0
    for revision in Revision.objects.select_for_update().filter(patient=patient):
        held = (set(revision.snapshot) | set(revision.changes)) & set(fields)
        if not held:
            continue
        revision.snapshot = {k: ("" if k in held else v) for k, v in revision.snapshot.items()}
        revision.changes = {k: v for k, v in revision.changes.items() if k not in held}
        revision.save(update_fields=["snapshot", "changes"])
        redacted += 1
    return redacted
