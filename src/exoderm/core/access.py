"""Clinic isolation: the one queryset helper every selector and service uses to read records.

Each clinic-owned model names the lookup path to its clinic in ``CLINIC_PATH``. Anything read
by id goes through :func:`get_in_clinic`, so that another clinic's id is indistinguishable from
an id that does not exist (404, never 403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic

M = TypeVar("M", bound=models.Model)


class NotFound(ObjectDoesNotExist):
    """A record that does not exist or belongs to another clinic."""


def in_clinic[M: models.Model](source: type[M] | models.QuerySet[M], clinic: Clinic) -> models.QuerySet[M]:
    queryset = source if isinstance(source, models.QuerySet) else source._default_manager.all()
    path: str = queryset.model.CLINIC_PATH  # type: ignore[attr-defined]
    return queryset.filter(**{path: clinic})


def get_in_clinic[M: models.Model](source: type[M] | models.QuerySet[M], clinic: Clinic, pk: Any) -> M:
    queryset = in_clinic(source, clinic)
    try:
        return queryset.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise NotFound(
            _("%(thing)s %(id)s not found.") % {"thing": queryset.model._meta.verbose_name, "id": pk}
        ) from None
