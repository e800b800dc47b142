"""Reads of the study side. Every read goes through :func:`study_for` (the clinic and the user's
study roles); the allocation only through :func:`allocation_of`, which refuses blinded users."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _
from PIL import Image

from exoderm.clinics.models import Role
from exoderm.core.access import NotFound, get_in_clinic, in_clinic
from exoderm.patients.models import Patient
from exoderm.photos import storage
from exoderm.studies.blinding import require_allocation_access, roles_of
from exoderm.studies.models import (
    Amendment,
    Deviation,
    Kit,
    Participant,
    ParticipantStatus,
    Rating,
    RatingImage,
    RatingTask,
    Satisfaction,
    ScreenFailure,
    Study,
    StudyRole,
    StudyRoleKind,
)
from exoderm.studies.services import Allocation, _allocation, require_study_role

if TYPE_CHECKING:
    from exoderm.clinics.models import User

#: Roles that may read the study's participants, visits, kits, deviations and adverse events.
STAFF_ROLES = {
    StudyRoleKind.PRINCIPAL_INVESTIGATOR,
    StudyRoleKind.UNBLINDED_COORDINATOR,
    StudyRoleKind.TREATING_CLINICIAN,
}
#: Roles that may read the study's results, report and exports (and clinic administrators): the
#: staff roles and the statistician, who reads nothing else of the study.
RESULTS_ROLES = STAFF_ROLES | {StudyRoleKind.STATISTICIAN}
#: Roles that open the study itself (its pages and ``/api/v1/studies/<id>``): all but the statistician.
OPENING_ROLES = frozenset(StudyRoleKind) - {StudyRoleKind.STATISTICIAN}
#: Rating images are served at most this wide or high (large enough to judge, small to send).
RATING_IMAGE_MAX_PX = 1600


def studies_for(*, user: User, results_only: bool = False) -> QuerySet[Study]:
    """The studies of the user's clinic in which they hold a role that opens the study (a clinic
    admin: all of them); with ``results_only`` also those of which they read the results only
    (the statistician's)."""
    if user.clinic is None:
        return Study.objects.none()
    studies = in_clinic(Study, user.clinic).select_related("course_template")
    if user.role != Role.CLINIC_ADMIN:
        kinds = set(StudyRoleKind) if results_only else OPENING_ROLES
        studies = studies.filter(
            roles__user=user, roles__ended_at__isnull=True, roles__role__in=kinds
        ).distinct()
    return studies.order_by("-created_at", "-id")


def study_for(*, user: User, study_id: Any) -> Study:
    """One study the user may open (``NotFound`` otherwise, as for another clinic's id): a
    statistician opens none, they read results only (:func:`results_study_for`)."""
    return _one(studies_for(user=user), user, study_id)


def results_study_for(*, user: User, study_id: Any) -> Study:
    """One study whose results pages the user may reach: those they open and those of which they
    are the statistician (``NotFound`` otherwise; ``analysis.results.results_of`` checks the role)."""
    return _one(studies_for(user=user, results_only=True), user, study_id)


@dataclass(frozen=True)
class ListedStudy:
    """A study of the user's list: ``opens`` it (its pages and ``/api/v1/studies/<id>``) or reads
    its results only (the statistician)."""

    study: Study
    opens: bool


def listed_studies_for(*, user: User) -> list[ListedStudy]:
    """Every study whose results or more the user reaches, newest first, each marked by whether
    the user opens it: exactly those of :func:`study_for`, so the list never names a study its
    detail answers 404 to without saying so."""
    opened = set(studies_for(user=user).values_list("pk", flat=True))
    return [
        ListedStudy(study=study, opens=study.pk in opened)
        for study in studies_for(user=user, results_only=True)
    ]


def _one(studies: QuerySet[Study], user: User, study_id: Any) -> Study:
    if user.clinic is None:
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": Study._meta.verbose_name, "id": study_id})
    return get_in_clinic(studies, user.clinic, study_id)


def is_statistician(user: User, study: Study) -> bool:
    return StudyRoleKind.STATISTICIAN in roles_of(user, study)


def roles_in(*, study: Study) -> QuerySet[StudyRole]:
    return study.roles.filter(ended_at__isnull=True).select_related("user").order_by("role", "id")


def roles_barred_by_clinic_role(*, user: User, clinic_role: str) -> QuerySet[StudyRole]:
    """The user's live study roles that ``services.assign_role`` would not give a user of
    ``clinic_role``: a statistician who is no researcher, a researcher with any other study role, a
    treating clinician who is no clinician. A change of clinic role must not leave them behind."""
    statistician, clinician = StudyRoleKind.STATISTICIAN, StudyRoleKind.TREATING_CLINICIAN
    if clinic_role == Role.RESEARCHER:
        barred = Q(role__in=set(StudyRoleKind) - {statistician})
    else:
        barred = Q(role=statistician)
        if clinic_role != Role.CLINICIAN:
            barred |= Q(role=clinician)
    return (
        StudyRole.objects.filter(barred, user=user, ended_at__isnull=True)
        .select_related("study")
        .order_by("study__title", "study_id", "role")
    )


def study_roles_in_the_way(account: User, role: str) -> str | None:
    """Why ``account`` may not become ``role`` in the clinic, naming each study and role: the live
    study roles that :func:`assign_role` would not give a user of that role (a statistician who is
    no researcher, a researcher still treating or rating); None when there are none.

    Refused rather than ending those roles with the change: who works on a trial, and whether its
    analysis passes to another statistician first, is for the study's principal investigator to
    decide and record on its team, not a side effect of editing a user (an account change shows
    nothing of the studies). The study team ends the role (its principal investigator or a clinic
    administrator), audited there; then the change goes through and is audited as any role change.
    """
    barred = list(roles_barred_by_clinic_role(user=account, clinic_role=role))
    if not barred:
        return None
    named = "; ".join(f"{held.study.title} ({held.get_role_display()})" for held in barred)
    return _(
        "%(name)s holds study roles that the clinic role %(role)s does not allow: %(roles)s. "
        "End them on each study's team first, then change the clinic role."
    ) % {"name": account.display_name, "role": dict(Role.choices).get(role, role), "roles": named}


def participants_of(*, study: Study, user: User) -> QuerySet[Participant]:
    """The participants in enrolment order (staff roles of the study; raters see none)."""
    require_study_role(user, study, STAFF_ROLES, clinic_admin=True)
    return study.participants.select_related("patient", "course").order_by("enrolled_at", "id")


def participant_of(*, study: Study, user: User, participant_id: Any) -> Participant:
    return get_in_clinic(participants_of(study=study, user=user), study.clinic, participant_id)


def allocation_of(*, participant: Participant, user: User) -> Allocation:
    """The participant's allocation: only for the unblinded coordinator (or the one who unblinded
    this participant); ``PermissionDenied`` for everyone else."""
    require_allocation_access(user, participant)
    return _allocation(participant)


def kits_of(*, study: Study, user: User) -> QuerySet[Kit]:
    require_study_role(user, study, STAFF_ROLES)
    return (
        study.kits.select_related("participant", "session")
        .prefetch_related("vials__vial__lot__product")
        .order_by("code")
    )


def kit_of(*, study: Study, user: User, code: str) -> Kit:
    found = kits_of(study=study, user=user).filter(code=code.strip().upper()).first()
    if found is None:
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": Kit._meta.verbose_name, "id": code})
    return found


@dataclass(frozen=True)
class QueuedTask:
    task: RatingTask
    own_rating: Rating | None


def rating_queue(*, study: Study, rater: User) -> list[QueuedTask]:
    """The rater's tasks in their random order, each with the rater's own rating if any (never
    another rater's). A task not yet rated whose photo was erased (an erasure request) is left
    out: there is nothing to judge any more."""
    require_study_role(rater, study, {StudyRoleKind.RATER})
    own = Rating.objects.filter(rater=rater).prefetch_related("scores")
    tasks = study.rating_tasks.prefetch_related(
        Prefetch("ratings", queryset=own, to_attr="own_ratings"), "images"
    ).order_by("order_key")
    return [
        QueuedTask(task, task.own_ratings[0] if task.own_ratings else None)
        for task in tasks
        if task.own_ratings or all(image.photo_id is not None for image in task.images.all())
    ]


def rating_task_for_rater(*, study: Study, rater: User, task_id: Any) -> RatingTask:
    require_study_role(rater, study, {StudyRoleKind.RATER})
    return get_in_clinic(study.rating_tasks.all(), study.clinic, task_id)


def rating_image(*, study: Study, user: User, token: str) -> tuple[bytes, RatingImage]:
    """A rating photo by its token, as a JPEG re-encoded from the pixels only (no EXIF, no name,
    no date): for the study's raters and those who prepare the tasks."""
    require_study_role(
        user,
        study,
        {StudyRoleKind.RATER, StudyRoleKind.PRINCIPAL_INVESTIGATOR, StudyRoleKind.UNBLINDED_COORDINATOR},
    )
    image = (
        RatingImage.objects.filter(
            task__study=study, token=token, photo__isnull=False, photo__trashed_at__isnull=True
        )
        .select_related("photo")
        .first()
    )
    if image is None or image.photo is None:  # an erased photo (filtered above) leaves nothing to show
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": _("photo"), "id": token})
    with Image.open(io.BytesIO(storage.read(image.photo.file_name))) as source:
        pixels = source.convert("RGB")
    pixels.thumbnail((RATING_IMAGE_MAX_PX, RATING_IMAGE_MAX_PX))
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=90)
    return out.getvalue(), image


def ratings_of(*, study: Study, user: User) -> QuerySet[Rating]:
    """Every rating of the study, for the principal investigator and the coordinator (never for a
    rater: raters rate independently)."""
    require_study_role(
        user, study, {StudyRoleKind.PRINCIPAL_INVESTIGATOR, StudyRoleKind.UNBLINDED_COORDINATOR}
    )
    if StudyRoleKind.RATER in roles_of(user, study):
        return Rating.objects.none()
    return (
        Rating.objects.filter(task__study=study)
        .select_related("task__participant", "task__visit", "rater")
        .prefetch_related("scores")
        .order_by("task__participant__enrolled_at", "task__visit__planned_at", "rater_id")
    )


def deviations_of(*, study: Study, user: User) -> QuerySet[Deviation]:
    require_study_role(user, study, STAFF_ROLES, clinic_admin=True)
    return (
        Deviation.objects.filter(participant__study=study)
        .select_related("participant", "visit", "recorded_by")
        .order_by("occurred_on", "id")
    )


def satisfaction_of(*, study: Study, user: User) -> QuerySet[Satisfaction]:
    require_study_role(user, study, STAFF_ROLES)
    return (
        Satisfaction.objects.filter(participant__study=study)
        .select_related("participant", "visit")
        .order_by("participant__enrolled_at", "visit__planned_at", "side")
    )


def screen_failures_of(*, study: Study, user: User) -> QuerySet[ScreenFailure]:
    require_study_role(user, study, STAFF_ROLES - {StudyRoleKind.TREATING_CLINICIAN}, clinic_admin=True)
    return study.screen_failures.select_related("patient").order_by("recorded_at", "id")


def amendments_of(*, study: Study) -> QuerySet[Amendment]:
    return study.amendments.select_related("by").order_by("number")


def adverse_events_of_study(*, study: Study, user: User) -> QuerySet[Any]:
    """The adverse events of the study's participants while in the study, through the clinic-wide
    selector of ``exoderm.safety``."""
    from exoderm.safety.models import AdverseEvent
    from exoderm.safety.selectors import adverse_events_of

    require_study_role(user, study, STAFF_ROLES, clinic_admin=True)
    participants = list(study.participants.values_list("patient_id", "enrolled_at", "course__starts_at"))
    if not participants:
        return AdverseEvent.objects.none()
    # In the study from enrolment or the course's first session, whichever came first (a course
    # planned for a participant may start before the enrolment was entered).
    in_study = Q()
    for patient_id, enrolled_at, starts_at in participants:
        since = min(enrolled_at, starts_at) if starts_at is not None else enrolled_at
        in_study |= Q(patient_id=patient_id, onset__gte=since.date())
    patients = in_clinic(Patient, study.clinic).filter(pk__in=[row[0] for row in participants])
    return adverse_events_of(patients=patients).filter(in_study)


@dataclass(frozen=True)
class Flow:
    """The CONSORT flow of the study so far."""

    assessed: int
    excluded: int
    excluded_by_reason: dict[str, int]
    enrolled: int
    allocated_by_stratum: dict[str, int]
    withdrawn: int
    completed: int
    active: int


def flow_of(*, study: Study, user: User) -> Flow:
    """Patients assessed, excluded (by rule or criterion), enrolled and withdrawn: counts only,
    nothing of the allocation (a split-face study allocates sides, so every arm gets everyone).
    Counts only, so for the statistician too (the results' CONSORT flow)."""
    require_study_role(user, study, RESULTS_ROLES, clinic_admin=True)
    enrolled_patients = set(study.participants.values_list("patient_id", flat=True))
    failures = study.screen_failures.exclude(patient_id__in=enrolled_patients)
    excluded_patients = set(failures.values_list("patient_id", flat=True))
    reasons: Counter[str] = Counter()
    for failure in failures.order_by("patient_id", "id"):
        reasons[failure.criterion or failure.rule] += 1
    statuses = Counter(study.participants.values_list("status", flat=True))
    strata = Counter(study.participants.values_list("stratum", flat=True))
    return Flow(
        assessed=len(enrolled_patients | excluded_patients),
        excluded=len(excluded_patients),
        excluded_by_reason=dict(reasons),
        enrolled=len(enrolled_patients),
        allocated_by_stratum=dict(strata),
        withdrawn=statuses[ParticipantStatus.WITHDRAWN],
        completed=statuses[ParticipantStatus.COMPLETED],
        active=statuses[ParticipantStatus.ENROLLED],
    )
