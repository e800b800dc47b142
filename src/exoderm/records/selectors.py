"""Reads of revisions, always within one clinic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from exoderm.core.access import get_in_clinic, in_clinic
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
