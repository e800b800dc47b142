"""Reads for the study pages (``exoderm.web.views.studies``): who may open which study page, and the
summaries the coordinator's and the rater's pages show.

Nothing here returns an allocation: randomization progress is counted per stratum and block
without arms, the rater's queue and task name no arm, no participant and no date. The allocation
itself is read only through :mod:`exoderm.studies.blinding`'s checks.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from exoderm.clinics.models import Role
from exoderm.core.access import in_clinic
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.patients.selectors import clinic_today
from exoderm.products.models import LotStatus, Vial, VialState
from exoderm.studies import blinding
from exoderm.studies.models import (
    AllocationSlot,
    Kit,
    Participant,
    ParticipantStatus,
    Rating,
    RatingImage,
    RatingTask,
    Study,
    StudyRole,
    StudyRoleKind,
)

if TYPE_CHECKING:
    from exoderm.clinics.models import User

#: Roles that run the study from its page (a rater only rates).
COORDINATING = frozenset(
    {
        StudyRoleKind.PRINCIPAL_INVESTIGATOR,
        StudyRoleKind.UNBLINDED_COORDINATOR,
        StudyRoleKind.TREATING_CLINICIAN,
    }
)


def may_coordinate(user: User, study: Study) -> bool:
    """Whether the user opens the coordinator's page: a clinic administrator or a role that runs
    the study (a rater only rates)."""
    return user.role == Role.CLINIC_ADMIN or bool(blinding.roles_of(user, study) & COORDINATING)


def require_coordinator(user: User, study: Study) -> None:
    if not may_coordinate(user, study):
        raise PermissionDenied(_("Only the study's investigators and coordinators open this page."))


def is_rater(user: User, study: Study) -> bool:
    return StudyRoleKind.RATER in blinding.roles_of(user, study)


@dataclass
class StratumProgress:
    """How far the allocation list of one stratum is used: per block, places taken of its size."""

    stratum: str
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (block, allocated, size)

    @property
    def allocated(self) -> int:
        return sum(taken for _block, taken, _size in self.blocks)

    @property
    def size(self) -> int:
        return sum(size for _block, _taken, size in self.blocks)


def randomization_progress(*, study: Study) -> list[StratumProgress]:
    """Places taken per stratum and block, counted without reading an arm (safe for blinded users)."""
    rows = (
        AllocationSlot.objects.filter(study=study)
        .values("stratum", "block")
        .annotate(size=Count("id"), allocated=Count("id", filter=Q(participant__isnull=False)))
        .order_by("stratum", "block")
    )
    strata: dict[str, StratumProgress] = {}
    for row in rows:
        progress = strata.setdefault(row["stratum"], StratumProgress(stratum=row["stratum"]))
        progress.blocks.append((row["block"], row["allocated"], row["size"]))
    # Blocks not yet begun say nothing more than the list's length: show those begun and the next.
    for progress in strata.values():
        begun = [b for b in progress.blocks if b[1]]
        last = begun[-1][0] if begun else 0
        progress.blocks = [b for b in progress.blocks if b[0] <= last + 1]
    return list(strata.values())


@dataclass
class ParticipantRow:
    participant: Participant
    allocated: bool
    next_visit: Visit | None
    overdue: bool
    kits: int
    deviations: int


def participant_rows(*, study: Study, today: dt.date) -> list[ParticipantRow]:
    """Each participant with the next planned visit of their course (overdue if its window ended)."""
    participants = list(
        Participant.objects.filter(study=study)
        .select_related("patient__identity", "course")
        .annotate(kit_count=Count("kits", distinct=True), deviation_count=Count("deviations", distinct=True))
        .order_by("enrolled_at", "id")
    )
    allocated = set(
        AllocationSlot.objects.filter(study=study, participant__isnull=False).values_list(
            "participant_id", flat=True
        )
    )
    course_ids = [p.course_id for p in participants if p.course_id]
    next_visits: dict[int, Visit] = {}
    planned = Visit.objects.filter(course_id__in=course_ids, status=VisitStatus.PLANNED)
    for visit in planned.select_related("course__template").order_by("course_id", "planned_at"):
        next_visits.setdefault(visit.course_id, visit)
    rows = []
    for participant in participants:
        upcoming = next_visits.get(participant.course_id) if participant.course_id else None
        rows.append(
            ParticipantRow(
                participant=participant,
                allocated=participant.pk in allocated,
                next_visit=upcoming if participant.status == ParticipantStatus.ENROLLED else None,
                overdue=bool(upcoming and upcoming.due_until < today),
                kits=participant.kit_count,
                deviations=participant.deviation_count,
            )
        )
    return rows


@dataclass
class RatingProgress:
    tasks: int
    fully_rated: int
    raters: list[tuple[str, int]]  # (rater's name, tasks rated)


def rating_progress(*, study: Study) -> RatingProgress:
    """Tasks, how many every assigned rater has rated, and each rater's count (never a score)."""
    raters = [
        role.user
        for role in StudyRole.objects.filter(study=study, role=StudyRoleKind.RATER, ended_at__isnull=True)
        .select_related("user")
        .order_by("id")
    ]
    counts = Counter(Rating.objects.filter(task__study=study).values_list("rater_id", flat=True))
    rater_ids = {rater.pk for rater in raters}
    tasks = RatingTask.objects.filter(study=study)
    fully = 0
    if rater_ids:
        fully = (
            tasks.annotate(done=Count("ratings", filter=Q(ratings__rater_id__in=rater_ids), distinct=True))
            .filter(done__gte=len(rater_ids))
            .count()
        )
    return RatingProgress(
        tasks=tasks.count(),
        fully_rated=fully,
        raters=[(rater.display_name, counts.get(rater.pk, 0)) for rater in raters],
    )


def rating_counts(*, study: Study, rater: User) -> tuple[int, int]:
    """(tasks the rater has rated, tasks of the study): the rater's own progress only."""
    tasks = RatingTask.objects.filter(study=study)
    return Rating.objects.filter(task__study=study, rater=rater).count(), tasks.count()


def next_unrated_task(*, study: Study, rater: User) -> RatingTask | None:
    """The first task in the queue's random order that ``rater`` has not rated yet."""
    return (
        RatingTask.objects.filter(study=study)
        .exclude(ratings__rater=rater)
        .order_by("order_key", "id")
        .first()
    )


def own_rating(*, task: RatingTask, rater: User) -> Rating | None:
    """The rater's own rating of ``task`` (never another rater's)."""
    return Rating.objects.filter(task=task, rater=rater).prefetch_related("scores").first()


@dataclass
class RatingSide:
    """One side of a task as the rater sees it: a number in the task's random order, its photos."""

    number: int
    side: str
    baseline: RatingImage | None
    follow_up: RatingImage | None


def rating_sides(*, task: RatingTask) -> list[RatingSide]:
    """The task's sides in a random order that stays the same on every load (by the images' random
    tokens), numbered 1, 2, ...: the page says "side 1", never "left" or an arm."""
    images: dict[str, dict[str, RatingImage]] = {}
    for image in RatingImage.objects.filter(task=task):
        images.setdefault(image.side, {})[image.timepoint] = image
    order = sorted(images, key=lambda side: min(image.token for image in images[side].values()))

    def shown(image: RatingImage | None) -> RatingImage | None:
        return image if image is not None and image.photo_id is not None else None  # erased: empty

    return [
        RatingSide(
            number=number,
            side=side,
            baseline=shown(images[side].get("baseline")),
            follow_up=shown(images[side].get("follow_up")),
        )
        for number, side in enumerate(order, start=1)
    ]


def follow_ups(*, participant: Participant) -> QuerySet[Visit]:
    """The follow-up visits of the participant's course, due from today or earlier (those at
    which satisfaction can have been asked), latest first."""
    if participant.course_id is None:
        return Visit.objects.none()
    today = clinic_today(participant.study.clinic)
    return Visit.objects.filter(
        course_id=participant.course_id, kind=VisitKind.FOLLOW_UP, due_from__lte=today
    ).order_by("-planned_at")


@dataclass
class KitToPrepare:
    participant: Participant
    session_number: int
    planned_at: dt.datetime | None


def kits_to_prepare(*, study: Study) -> list[KitToPrepare]:
    """For the unblinded coordinator: each session of an active participant without its kit yet,
    soonest first (sessions of a course not yet planned last)."""
    participants = Participant.objects.filter(study=study, status=ParticipantStatus.ENROLLED).order_by(
        "enrolled_at", "id"
    )
    in_use = Kit.objects.filter(study=study, discarded_at__isnull=True)  # a discarded kit is replaced
    have = set(in_use.values_list("participant_id", "session_number"))
    planned = {
        (visit.course_id, visit.session_number): visit.planned_at
        for visit in Visit.objects.filter(
            course__study_participant__study=study, kind=VisitKind.SESSION
        ).only("course_id", "session_number", "planned_at")
    }
    wanted = []
    for participant in participants:
        for number in range(1, study.course_template.session_count + 1):
            if (participant.pk, number) not in have:
                at = planned.get((participant.course_id, number)) if participant.course_id else None
                wanted.append(KitToPrepare(participant=participant, session_number=number, planned_at=at))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(wanted, key=lambda kit: (kit.planned_at or far, kit.participant.pk, kit.session_number))


def kit_vials(*, study: Study, product_id: int) -> QuerySet[Vial]:
    """Vials a kit may take for an arm's product: of released lots not expired, stored or thawed,
    in no kit yet, oldest lot first."""
    return (
        in_clinic(Vial, study.clinic)
        .filter(
            lot__product_id=product_id,
            lot__status=LotStatus.RELEASED,
            lot__expires_on__gte=clinic_today(study.clinic),
            state__in=[VialState.STORED, VialState.THAWED],
            kit_vial__isnull=True,
        )
        .select_related("lot__product")
        .order_by("lot__expires_on", "lot__number", "serial")
    )
