"""Reads of revisions, always within one clinic."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.core.display import (
    LinkedNames,
    ShownChange,
    ShownValue,
    revision_changes,
    revision_values,
    version_fields,
)
from exoderm.records.models import Revision

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic


def revisions_of(*, clinic: Clinic, obj: models.Model) -> QuerySet[Revision]:
    """The corrections of ``obj`` (a record of ``clinic``), newest first, with who made them."""
    return (
        in_clinic(Revision, clinic)
        .filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
        .select_related("corrected_by")
    )


def revision_of(*, clinic: Clinic, obj: models.Model, pk: object) -> Revision:
    """One correction of ``obj`` (``NotFound`` for another record's or another clinic's)."""
    return get_in_clinic(revisions_of(clinic=clinic, obj=obj), clinic, pk)


@dataclass(frozen=True)
class ShownRevision:
    """A correction as its history page shows it: its changes and the version before it, worded."""

    revision: Revision
    changes: list[ShownChange]
    version: list[ShownValue]


def history_of(*, clinic: Clinic, obj: models.Model) -> list[ShownRevision]:
    """The corrections of ``obj`` (a record of ``clinic``), newest first, worded for the reader: the
    records they link to by name, looked up once for the whole history, within ``clinic``."""
    revisions = list(revisions_of(clinic=clinic, obj=obj))
    model = obj._meta.concrete_model
    names = LinkedNames.look_up(
        clinic=clinic,
        values=chain.from_iterable(
            revision_values(model, snapshot=revision.snapshot, changes=revision.changes)
            for revision in revisions
        ),
    )
    return [
        ShownRevision(
            revision=revision,
            changes=revision_changes(model, revision.changes, names),
            version=version_fields(model, revision.snapshot, names),
        )
        for revision in revisions
    ]
