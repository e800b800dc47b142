"""Unblinding a study at its end: the logged act after which results are shown by arm.

The studies app records emergency unblindings of single participants; the study as a whole is
unblinded once, by its principal investigator, when no participant has a follow-up visit left to
come. The act is an event of the audit trail (hash-chained, append-only: it cannot be taken back
or back-dated), so no table of its own is needed; :func:`study_unblinded_at` reads it back.
Until then the results of a blinded study are pooled over the arms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.audit import chain
from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.core.errors import RuleViolations, Violation
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.records.services import checked_reason
from exoderm.studies.models import Blinding, ParticipantStatus, Study, StudyRoleKind
from exoderm.studies.services import require_study_role

if TYPE_CHECKING:
    from exoderm.clinics.models import User

STUDY_NOT_ENDED = "study-not-ended"
ALREADY_UNBLINDED = "study-already-unblinded"
#: The key of the audit event's ``changes`` that marks the act.
UNBLINDED_AT_END = "unblinded_at_end"


def unblinded_at_of(studies: Iterable[Study]) -> dict[int, dt.datetime]:
    """When each of ``studies`` was unblinded at its end, by study id (those not yet are left out),
    in one query (the study list)."""
    by_id = {str(study.pk): study for study in studies}
    events = (
        AuditEvent.objects.filter(
            clinic_id__in={study.clinic_id for study in by_id.values()},
            object_type=Study._meta.label_lower,
            object_id__in=by_id,
            changes__has_key=UNBLINDED_AT_END,
        )
        .order_by("-at")
        .values_list("object_id", "at")
    )
    return {by_id[object_id].pk: at for object_id, at in events}  # the earliest wins: ordered last


def study_unblinded_at(study: Study) -> dt.datetime | None:
    """When the study was unblinded at its end (None: not yet)."""
    return (
        AuditEvent.objects.filter(
            clinic_id=study.clinic_id,
            object_type=Study._meta.label_lower,
            object_id=str(study.pk),
            changes__has_key=UNBLINDED_AT_END,
        )
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )


def by_arm_allowed(study: Study) -> bool:
    """Whether results may be shown by arm: an open study always, a blinded one once unblinded at
    its end."""
    return study.blinding == Blinding.OPEN or study_unblinded_at(study) is not None


def visits_to_come(study: Study) -> int:
    """Follow-up visits still planned for participants who have not withdrawn."""
    return (
        Visit.objects.filter(
            course__study_participant__study=study,
            kind=VisitKind.FOLLOW_UP,
            status=VisitStatus.PLANNED,
        )
        .exclude(course__study_participant__status=ParticipantStatus.WITHDRAWN)
        .count()
    )


@transaction.atomic
def unblind_study(*, study: Study, by: User, reason: str) -> dt.datetime:
    """Unblind ``study`` at its end (its principal investigator, with a reason): refused with
    ``study-not-ended`` while a participant has a follow-up visit to come, and once done."""
    require_study_role(by, study, {StudyRoleKind.PRINCIPAL_INVESTIGATOR})
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if not (isinstance(reason, str) and reason.strip()):
        raise ValidationError({"reason": _("Give the reason for unblinding the study.")})
    text = checked_reason(reason)
    if study_unblinded_at(locked) is not None or locked.blinding == Blinding.OPEN:
        raise RuleViolations([Violation(ALREADY_UNBLINDED, _("The study is unblinded already."), "study")])
    remaining = visits_to_come(locked)
    if remaining:
        raise RuleViolations(
            [
                Violation(
                    STUDY_NOT_ENDED,
                    _("The study has not ended: %(n)d follow-up visits are still to come.")
                    % {"n": remaining},
                    "study",
                )
            ]
        )
    at = timezone.now()
    chain.append(
        action=AuditAction.UPDATE,
        object_type=Study._meta.label_lower,
        object_id=locked.pk,
        clinic_id=locked.clinic_id,
        changes={UNBLINDED_AT_END: {"old": None, "new": at.isoformat()}, "reason": text},
    )
    return at
