"""The clinic admin's view of the audit trail: one clinic's events, filtered, newest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.clinics.models import User
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.core.permissions import Action, require
from exoderm.patients.models import Patient

CSV_COLUMNS = (
    "id",
    "at",
    "action",
    "channel",
    "user_id",
    "username",
    "role",
    "object_type",
    "object_id",
    "patient_id",
    "changes",
    "route",
    "query",
    "ip",
    "user_agent",
    "request_id",
    "hash",
)


@dataclass(frozen=True)
class AuditFilter:
    patient: int | None = None
    user: int | None = None
    action: AuditAction | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def events(*, by: User, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """The events of ``by``'s clinic that match ``filters``; only clinic admins may read them."""
    require(by, Action.VIEW_AUDIT)
    assert by.clinic is not None  # require() refuses users of no clinic
    found = in_clinic(AuditEvent, by.clinic)
    if filters.patient is not None:
        found = found.filter(patient_id=filters.patient)
    if filters.user is not None:
        found = found.filter(user_id=filters.user)
    if filters.action is not None:
        found = found.filter(action=filters.action)
    if filters.since is not None:
        found = found.filter(at__gte=filters.since)
    if filters.until is not None:
        found = found.filter(at__lt=filters.until)
    return found.order_by("-at", "-id")


def csv_rows(
    found: QuerySet[AuditEvent], *, shown: Callable[[str, int | None, dict[str, Any]], dict[str, Any]]
) -> list[tuple[object, ...]]:
    """The rows of ``found`` in :data:`CSV_COLUMNS`; ``shown`` decides how the reader may see each
    event's changes (object type, patient id, changes -> changes)."""
    import json

    rows = []
    for row in found.values_list(*CSV_COLUMNS):
        values = dict(zip(CSV_COLUMNS, row, strict=True))
        values["changes"] = shown(values["object_type"], values["patient_id"], values["changes"])
        for name in ("changes", "query"):
            values[name] = json.dumps(values[name], sort_keys=True, ensure_ascii=False)
        rows.append(tuple(values.values()))
    return rows


def subject_patient(*, by: User, patient_id: int) -> Patient:
    """The patient whose trail ``by`` asks for, in ``by``'s clinic (another clinic's: 404)."""
    require(by, Action.VIEW_AUDIT)
    assert by.clinic is not None
    return get_in_clinic(Patient.objects.select_related("identity"), by.clinic, patient_id)


def subject_user(*, by: User, user_id: int) -> User:
    """The user whose trail ``by`` asks for, in ``by``'s clinic (another clinic's: 404)."""
    require(by, Action.VIEW_AUDIT)
    assert by.clinic is not None
    found = User.objects.filter(clinic=by.clinic, pk=user_id).first()
    if found is None:
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": User._meta.verbose_name, "id": user_id})
    return found
