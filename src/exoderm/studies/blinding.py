"""Who in a study may learn what: the one place that decides whether a user sees the allocation.

A user's study roles decide it, never their clinic role alone. Raters are blinded in every study
but an open one; the treating clinician in a double-blind study; the principal investigator and
everyone else unless the study is open or they hold the unblinded coordinator's role. An emergency
unblinding reveals one participant's allocation to the user who asked for it, and no more.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from exoderm.clinics.models import Role
from exoderm.studies.models import Blinding, Kit, Participant, Study, StudyRole, StudyRoleKind, Unblinding

if TYPE_CHECKING:
    from exoderm.clinics.models import User
    from exoderm.treatments.models import TreatmentSession


def roles_of(user: User, study: Study) -> set[str]:
    """The active study roles of ``user`` in ``study``."""
    return set(
        StudyRole.objects.filter(study=study, user=user, ended_at__isnull=True).values_list("role", flat=True)
    )


def blinded_roles(study: Study) -> set[str]:
    """The study roles that must not learn the allocation in ``study``."""
    if study.blinding == Blinding.OPEN:
        return set()
    blinded: set[str] = {StudyRoleKind.RATER, StudyRoleKind.PRINCIPAL_INVESTIGATOR}
    if study.blinding == Blinding.DOUBLE:
        blinded.add(StudyRoleKind.TREATING_CLINICIAN)
    return blinded


def sees_allocation(user: User, study: Study) -> bool:
    """Whether ``user`` may see every participant's allocation (and the arms behind the kits)."""
    if study.blinding == Blinding.OPEN:
        return user.clinic_id == study.clinic_id
    roles = roles_of(user, study)
    return StudyRoleKind.UNBLINDED_COORDINATOR in roles and not roles & {StudyRoleKind.RATER}


def sees_allocation_of(user: User, participant: Participant) -> bool:
    """Whether ``user`` may see this participant's allocation: unblinded for the study, or the one
    who unblinded this participant in an emergency."""
    if sees_allocation(user, participant.study):
        return True
    return Unblinding.objects.filter(participant=participant, by=user).exists()


def sees_arms(user: User, study: Study) -> bool:
    """Whether ``user`` may read the arms' names and products (not who got which): whoever sees the
    allocation, and the principal investigator or a clinic administrator who holds no role that
    meets participants or photos blinded (treating clinician of a double-blind study, rater)."""
    if sees_allocation(user, study):
        return True
    roles = roles_of(user, study)
    meets_blinded = roles & {StudyRoleKind.RATER, StudyRoleKind.TREATING_CLINICIAN} & blinded_roles(study)
    if meets_blinded:
        return False
    return StudyRoleKind.PRINCIPAL_INVESTIGATOR in roles or user.role == Role.CLINIC_ADMIN


def require_allocation_access(user: User, participant: Participant) -> None:
    if not sees_allocation_of(user, participant):
        raise PermissionDenied(
            _("The allocation is concealed: only the study's unblinded coordinator may see it.")
        )


def concealed_applications(*, session: TreatmentSession, user: User) -> list[Any]:
    """The session's applications as ``user`` may read them: a session charted from a coded kit
    shows the kit code and vial label instead of lot and vial to a user blinded for the
    participant (lot numbers and products would tell the arm)."""
    applications = list(session.applications.all())
    kit = _kit_of(session)
    if kit is None or sees_allocation_of(user, kit.participant):
        return applications
    label_of_vial = dict(kit.vials.values_list("vial_id", "label"))
    return [
        SimpleNamespace(
            id=application.pk,
            lot_id=None,
            lot=SimpleNamespace(number=""),
            vial_id=None,
            vial=SimpleNamespace(serial=None),
            kit=f"{kit.code} {label_of_vial.get(application.vial_id, '')}".strip(),
            volume_ml=application.volume_ml,
            areas=application.areas,
            applied_at=application.applied_at,
        )
        for application in applications
    ]


def recall_rows_for[Row: Any](*, user: User, rows: list[Row]) -> tuple[list[Row], int]:
    """The rows of a lot's recall list (each with a ``session_id``) that ``user`` may read, and how
    many were left out: a kit session's row would tell a user blinded for its participant which arm
    received the lot. The study's unblinded coordinator sees every row and answers for the recall of
    its participants."""
    sessions = {row.session_id for row in rows}
    kits = list(Kit.objects.filter(session_id__in=sessions).select_related("participant__study"))
    seen = _allocation_seen(user, [kit.participant for kit in kits])
    hidden = {kit.session_id for kit in kits if kit.participant_id not in seen}
    visible = [row for row in rows if row.session_id not in hidden]
    return visible, len(rows) - len(visible)


def _allocation_seen(user: User, participants: list[Participant]) -> set[int]:
    """The ids of ``participants`` whose allocation ``user`` may see, as :func:`sees_allocation_of`
    decides, in a query per study and one for the user's emergency unblindings (not two per
    participant: a recall list holds every kit session of a lot)."""
    studies = {participant.study_id: participant.study for participant in participants}
    unblinded = {study_id for study_id, study in studies.items() if sees_allocation(user, study)}
    emergency = set(
        Unblinding.objects.filter(by=user, participant__in=participants).values_list(
            "participant_id", flat=True
        )
    )
    return {p.pk for p in participants if p.study_id in unblinded or p.pk in emergency}


def conceals_lots(*, session: TreatmentSession, user: User) -> bool:
    """Whether ``session`` was charted from a study kit whose allocation ``user`` may not see: its
    lots, vials, products and their corrections would tell the arm."""
    kit = _kit_of(session)
    return kit is not None and not sees_allocation_of(user, kit.participant)


def concealed_warnings(*, session: TreatmentSession, user: User) -> list[Any]:
    """The session's acknowledged warnings as ``user`` may read them: for a kit session and a user
    blinded for the participant, the dose warning names the kit instead of the product."""
    warnings = list(session.warnings.all())
    kit = _kit_of(session)
    if kit is None or sees_allocation_of(user, kit.participant):
        return warnings
    neutral = _("A volume applied from kit %(kit)s lies outside the labelled range.") % {"kit": kit.code}
    return [
        SimpleNamespace(
            rule=warning.rule,
            message=neutral if warning.rule == "dose-out-of-range" else warning.message,
            acknowledged_by_id=warning.acknowledged_by_id,
            acknowledged_by=warning.acknowledged_by,
            acknowledged_at=warning.acknowledged_at,
        )
        for warning in warnings
    ]


def _kit_of(session: TreatmentSession) -> Kit | None:
    """The kit the session was charted from, if any (no query when the caller selected
    ``kit__participant__study`` with the session)."""
    try:
        kit: Kit = session.kit
    except Kit.DoesNotExist:
        return None
    return kit


# The records of the audit trail that would tell the arm of a kit session: the lot and vial applied to
# each side, a warning that names the product, and a corrected chart (a revision holds all of it).
ALLOCATION_TRAIL = frozenset(
    {"treatments.exosomeapplication", "treatments.protocolwarning", "records.revision"}
)

type TrailChanges = Callable[[str, int | None, dict[str, Any]], dict[str, Any]]


def trail_changes_for(*, user: User) -> TrailChanges:
    """How ``user`` may read the ``changes`` of audit events: for the patients of kit sessions whose
    allocation ``user`` may not see, the allocation records of :data:`ALLOCATION_TRAIL` show each field
    as changed, without values. The stored trail (and its hash chain) stays as written.

    Returns ``shown(object_type, patient_id, changes)``, computed once per reader (a query per study
    with kit sessions, for the reader's study roles)."""
    participants = list(
        Participant.objects.filter(study__clinic=user.clinic, kits__session__isnull=False)
        .exclude(study__blinding=Blinding.OPEN)
        .select_related("study")
        .distinct()
    )
    seen = _allocation_seen(user, participants)
    concealed = {p.patient_id for p in participants if p.pk not in seen}

    def shown(object_type: str, patient_id: int | None, changes: dict[str, Any]) -> dict[str, Any]:
        if patient_id in concealed and object_type in ALLOCATION_TRAIL:
            return {name: {"changed": True} for name in changes}
        return changes

    return shown
