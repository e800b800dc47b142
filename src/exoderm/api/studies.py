"""Studies: definition, roles, enrolment, concealed allocation, coded kits, blinded rating,
satisfaction, deviations and adverse events, so that tools can script a trial.

Mounted at /api/v1/studies. What a response holds depends on the caller's study role: blinded roles
get no allocation, no arm names or products, no kit contents and no kit preparation times
(``exoderm.studies.blinding``); the allocation route answers them 403.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from exoderm.api.courses import current_user
from exoderm.api.problems import Problem
from exoderm.api.sessions import ProcedureIn
from exoderm.api.types import Id, Instant, Note, Text
from exoderm.clinics.models import User
from exoderm.core.access import NotFound, get_in_clinic
from exoderm.courses.models import Visit
from exoderm.patients.models import Patient
from exoderm.studies import selectors, services
from exoderm.studies.blinding import roles_of, sees_allocation, sees_arms
from exoderm.studies.models import Kit, Participant, Rating, Study, StudyRole
from exoderm.treatments.models import TreatmentSession
from exoderm.treatments.services import ProcedureInput

router = Router(tags=["studies"])

ERRORS: dict[int, Any] = {403: Problem, 404: Problem, 422: Problem}


# --- schemas ----------------------------------------------------------------------------------


class ArmIn(Schema):
    code: Text = Field(max_length=4, examples=["A"])
    name: Text = Field(max_length=120, examples=["Exosome serum"])
    product: Id
    description: Text = ""


class CriterionIn(Schema):
    kind: Literal["inclusion", "exclusion"]
    subject: Literal["age", "fitzpatrick", "screening"]
    min_value: int | None = Field(None, ge=0, le=120)
    max_value: int | None = Field(None, ge=0, le=120)
    screening_item: Text = Field("", description="for subject screening: a screening item id")
    description: Text = ""


class EndpointIn(Schema):
    kind: Literal["gais", "metric", "satisfaction"]
    primary: bool = False
    metric: Text = Field("", description="for kind metric: the skinlab metric")
    region: Text = Field(
        "",
        description=(
            "for kind metric: face, one of its regions (skinlab's) or neck, decolletage, scalp, hands (on "
            "their close-ups); a split-face study names a region "
            "of one side (cheek_left), the other side is measured at its mirror image"
        ),
    )
    session_number: int = Field(ge=1, le=24, description="the follow-up after this session")
    weeks_after_session: int = Field(ge=1, le=104)


class StudyIn(Schema):
    title: Text
    registry_id: Text = ""
    design: Literal["split_face", "parallel", "single_arm"]
    blinding: Literal["open", "rater_blind", "double_blind"] = "double_blind"
    course_template: Id
    arms: list[ArmIn]
    criteria: list[CriterionIn] = Field(default_factory=list)
    endpoints: list[EndpointIn]
    block_size: int = Field(4, ge=2, le=24)
    stratification: Literal["none", "fitzpatrick_group"] = "none"
    slots_per_stratum: int = Field(40, ge=2, le=2000)


class StudyChangeIn(Schema):
    """Fields left out keep their value. After the first enrolment a change is an amendment:
    ``reason`` is required, and what fixes the allocation list cannot change."""

    title: Text | None = None
    registry_id: Text | None = None
    criteria: list[CriterionIn] | None = None
    endpoints: list[EndpointIn] | None = None
    design: Literal["split_face", "parallel", "single_arm"] | None = None
    blinding: Literal["open", "rater_blind", "double_blind"] | None = None
    course_template: Id | None = None
    arms: list[ArmIn] | None = None
    block_size: int | None = Field(None, ge=2, le=24)
    stratification: Literal["none", "fitzpatrick_group"] | None = None
    slots_per_stratum: int | None = Field(None, ge=2, le=2000)
    reason: Note = ""


class ArmOut(Schema):
    code: str
    name: str
    product: int
    product_name: str
    description: str


class CriterionOut(Schema):
    kind: str
    subject: str
    min_value: int | None
    max_value: int | None
    screening_item: str
    description: str


class EndpointOut(Schema):
    kind: str
    primary: bool
    metric: str
    region: str
    session_number: int
    weeks_after_session: int


class StudyOut(Schema):
    id: int
    access: Literal["full"] = Field(
        description=(
            "the caller opens the study: /api/v1/studies/{id} and, as their study roles allow, its "
            "participants, roles and the rest"
        )
    )
    title: str
    registry_id: str
    design: str
    blinding: str
    course_template: int
    block_size: int
    stratification: str
    slots_per_stratum: int
    list_generated: bool
    locked_at: dt.datetime | None
    created_at: dt.datetime
    arms: list[ArmOut] | None = Field(description="null for a user blinded to the arms")
    criteria: list[CriterionOut]
    endpoints: list[EndpointOut]
    my_roles: list[str]


class StudyResultsOnlyOut(Schema):
    """A study of which the caller (its statistician) reads the results only: what the results
    page shows of it and where its results are; nothing of participants or enrolment, and its
    other routes, ``/api/v1/studies/{id}`` included, answer 404."""

    id: int
    access: Literal["results_only"]
    title: str
    registry_id: str
    design: str
    blinding: str
    results: str = Field(
        description="path of the study's results; its consort, report.pdf and export routes sit next to it",
        examples=["/api/v1/studies/7/results"],
    )


#: An item of the study list: ``access`` says which shape it has and what the caller may do.
ListedStudyOut = Annotated[StudyOut | StudyResultsOnlyOut, Field(discriminator="access")]


class AmendmentOut(Schema):
    number: int
    reason: str
    changes: dict[str, Any]
    by: int = Field(alias="by_id")
    at: dt.datetime


class RoleIn(Schema):
    user: Id
    role: Literal[
        "principal_investigator", "unblinded_coordinator", "treating_clinician", "rater", "statistician"
    ]


class RoleOut(Schema):
    id: int
    user: int = Field(alias="user_id")
    user_name: str = Field(alias="user.display_name")
    role: str
    assigned_at: dt.datetime


class RandomizationOut(Schema):
    seed: str
    block_size: int
    strata: list[str]
    slots_per_stratum: int
    generated_at: dt.datetime | None


class ParticipantIn(Schema):
    patient: Id
    first_session_at: Instant | None = Field(None, description="plans the course at once, with clinician")
    clinician: Id | None = None


class CourseIn(Schema):
    first_session_at: Instant
    clinician: Id


class ParticipantOut(Schema):
    id: int
    pseudonym: str
    patient: int = Field(alias="patient_id")
    patient_code: str = Field(alias="patient.code")
    stratum: str
    status: str
    course: int | None = Field(alias="course_id")
    enrolled_at: dt.datetime
    withdrawn_at: dt.datetime | None
    withdrawal_reason: str


class AllocationOut(Schema):
    face_left: str | None = None
    face_right: str | None = None
    arm: str | None = None


class StudyReasonIn(Schema):
    reason: Note


class ScreenFailureIn(Schema):
    patient: Id
    reason: Note


class ScreenFailureOut(Schema):
    id: int
    patient: int = Field(alias="patient_id")
    rule: str
    criterion: str
    reason: str
    recorded_at: dt.datetime


class StudyVisitOut(Schema):
    id: int
    kind: str
    session_number: int
    weeks_after_session: int | None
    planned_at: dt.datetime
    due_from: dt.date
    due_until: dt.date
    status: str
    session: int | None = Field(alias="session_id")


class KitIn(Schema):
    participant: Id
    session_number: int = Field(ge=1, le=24)
    vials: dict[Literal["left", "right", "single"], Id] = Field(examples=[{"left": 12, "right": 31}])
    thawed_at: Instant | None = Field(
        None, description="thaw (or reconstitute) the stored vials at this time"
    )


class KitVialOut(Schema):
    label: str
    vial: int
    vial_serial: int
    lot: int
    lot_number: str
    product: str
    arm: str


class KitOut(Schema):
    code: str
    participant: int
    pseudonym: str
    session_number: int
    labels: list[str]
    used: bool
    discarded: bool = False
    session: int | None
    prepared_at: dt.datetime | None = Field(None, description="only for the unblinded coordinator")
    vials: list[KitVialOut] | None = Field(None, description="only for the unblinded coordinator")


class KitApplicationIn(Schema):
    side: Literal["face_left", "face_right", "whole"]
    volume_ml: Decimal = Field(examples=[1.0])
    applied_at: Instant
    areas: list[Text] = Field(default_factory=list, description="for a single-vial kit: the areas")


class KitSessionIn(Schema):
    kit: Text = Field(max_length=12, examples=["K-0012"])
    performed_at: Instant
    procedures: list[ProcedureIn]
    applications: list[KitApplicationIn]
    acknowledged_warnings: list[Text] = Field(default_factory=list)
    notes: Note = ""


class KitSessionOut(Schema):
    session: int
    kit: str
    performed_at: dt.datetime


class SatisfactionIn(Schema):
    visit: Id
    scores: dict[Literal["face_left", "face_right", "whole"], int] = Field(
        description="1 very dissatisfied … 5 very satisfied, per side"
    )


class SatisfactionOut(Schema):
    participant: int = Field(alias="participant_id")
    visit: int = Field(alias="visit_id")
    side: str
    score: int
    recorded_at: dt.datetime


class ImageOut(Schema):
    timepoint: str
    url: str


class TaskSideOut(Schema):
    side: str
    images: list[ImageOut]


class OwnRatingOut(Schema):
    scores: dict[str, str]
    better_side: str
    rated_at: dt.datetime


class RatingTaskOut(Schema):
    id: int
    session_number: int
    weeks_after_session: int | None
    sides: list[TaskSideOut]
    my_rating: OwnRatingOut | None


class RatingIn(Schema):
    task: Id
    scores: dict[
        Literal["face_left", "face_right", "whole"],
        Literal["very_much_improved", "much_improved", "improved", "no_change", "worse"],
    ]
    better_side: Literal["face_left", "face_right", "equal", ""] = ""


class RatingOut(Schema):
    id: int
    task: int
    participant: int | None = None
    pseudonym: str | None = None
    rater: int
    scores: dict[str, str]
    better_side: str
    rated_at: dt.datetime


class PreparedOut(Schema):
    created: int


class StudyAdverseEventIn(Schema):
    participant: Id
    term: Literal[
        "erythema",
        "oedema",
        "pain",
        "petechiae",
        "infection",
        "hyperpigmentation",
        "allergic_reaction",
        "other",
    ]
    onset: dt.date
    resolved_on: dt.date | None = None
    severity: int = Field(ge=1, le=5, description="CTCAE grade")
    serious: bool
    report_date: dt.date | None = Field(None, description="required for a serious event")
    related_to_procedure: Literal["not_related", "unlikely", "possible", "probable", "definite"]
    related_to_product: Literal["not_related", "unlikely", "possible", "probable", "definite"]
    side: Literal["face_left", "face_right", "whole"] = "whole"
    session: Id | None = None
    description: Note = ""


class StudyAdverseEventOut(Schema):
    id: int
    participant: int
    pseudonym: str
    term: str
    onset: dt.date
    resolved_on: dt.date | None
    severity: int
    serious: bool
    report_date: dt.date | None
    related_to_procedure: str
    related_to_product: str
    side: str
    session: int | None
    description: str


class DeviationIn(Schema):
    participant: Id
    kind: Literal[
        "visit_out_of_window",
        "missed_session",
        "missed_visit",
        "wrong_kit",
        "wrong_side",
        "unblinding",
        "other",
    ]
    description: Note
    occurred_on: dt.date
    visit: Id | None = None


class DeviationOut(Schema):
    id: int
    participant: int = Field(alias="participant_id")
    pseudonym: str = Field(alias="participant.pseudonym")
    kind: str
    description: str
    occurred_on: dt.date
    visit: int | None = Field(alias="visit_id")
    recorded_at: dt.datetime


class RecordedOut(Schema):
    recorded: int


class FlowOut(Schema):
    assessed: int
    excluded: int
    excluded_by_reason: dict[str, int]
    enrolled: int
    allocated_by_stratum: dict[str, int]
    withdrawn: int
    completed: int
    active: int


# --- helpers ----------------------------------------------------------------------------------


def _study(request: HttpRequest, study_id: int) -> tuple[User, Study]:
    user = current_user(request)
    return user, selectors.study_for(user=user, study_id=study_id)


def _study_out(study: Study, user: User) -> dict[str, Any]:
    show_arms = sees_arms(user, study)
    definition = services.definition(study)
    return {
        "id": study.pk,
        "access": "full",
        "title": study.title,
        "registry_id": study.registry_id,
        "design": study.design,
        "blinding": study.blinding,
        "course_template": study.course_template_id,
        "block_size": study.block_size,
        "stratification": study.stratification,
        "slots_per_stratum": study.slots_per_stratum,
        "list_generated": study.list_generated_at is not None,
        "locked_at": study.locked_at,
        "created_at": study.created_at,
        "arms": [
            {
                "code": arm.code,
                "name": arm.name,
                "product": arm.product_id,
                "product_name": arm.product.name,
                "description": arm.description,
            }
            for arm in study.arms.select_related("product")
        ]
        if show_arms
        else None,
        "criteria": definition["criteria"],
        "endpoints": definition["endpoints"],
        "my_roles": sorted(roles_of(user, study)),
    }


def _participant(request: HttpRequest, study_id: int, participant_id: int) -> tuple[User, Participant]:
    user, study = _study(request, study_id)
    return user, selectors.participant_of(study=study, user=user, participant_id=participant_id)


def _kit_out(kit: Kit, *, unblinded: bool) -> dict[str, Any]:
    vials = sorted(kit.vials.all(), key=lambda kv: kv.label)
    out: dict[str, Any] = {
        "code": kit.code,
        "participant": kit.participant_id,
        "pseudonym": kit.participant.pseudonym,
        "session_number": kit.session_number,
        "labels": [kv.label for kv in vials],
        "used": kit.session_id is not None,
        "discarded": kit.discarded_at is not None,
        "session": kit.session_id,
    }
    if unblinded:
        arm_of_product = {arm.product_id: arm.code for arm in kit.study.arms.all()}
        out["prepared_at"] = kit.prepared_at
        out["vials"] = [
            {
                "label": kv.label,
                "vial": kv.vial_id,
                "vial_serial": kv.vial.serial,
                "lot": kv.vial.lot_id,
                "lot_number": kv.vial.lot.number,
                "product": kv.vial.lot.product.name,
                "arm": arm_of_product.get(kv.vial.lot.product_id, ""),
            }
            for kv in vials
        ]
    return out


def _rating_out(rating: Rating, *, with_participant: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rating.pk,
        "task": rating.task_id,
        "rater": rating.rater_id,
        "scores": {score.side: score.gais for score in rating.scores.all()},
        "better_side": rating.better_side,
        "rated_at": rating.rated_at,
    }
    if with_participant:
        out["participant"] = rating.task.participant_id
        out["pseudonym"] = rating.task.participant.pseudonym
    return out


# --- studies ----------------------------------------------------------------------------------


@router.post("", response={201: StudyOut, **ERRORS})
def create_study(request: HttpRequest, payload: StudyIn) -> Any:
    """Define a study. The definition locks at the first enrolment; later changes are amendments."""
    user = current_user(request)
    study = services.create_study(
        by=user,
        title=payload.title,
        registry_id=payload.registry_id,
        design=payload.design,
        blinding=payload.blinding,
        course_template=payload.course_template,
        arms=[services.ArmInput(**arm.dict()) for arm in payload.arms],
        criteria=[services.CriterionInput(**c.dict()) for c in payload.criteria],
        endpoints=[services.EndpointInput(**e.dict()) for e in payload.endpoints],
        block_size=payload.block_size,
        stratification=payload.stratification,
        slots_per_stratum=payload.slots_per_stratum,
    )
    return Status(201, _study_out(study, user))


def _results_only_out(study: Study) -> dict[str, Any]:
    return {
        "id": study.pk,
        "access": "results_only",
        "title": study.title,
        "registry_id": study.registry_id,
        "design": study.design,
        "blinding": study.blinding,
        "results": f"/api/v1/studies/{study.pk}/results",
    }


@router.get("", response=list[ListedStudyOut])
def list_studies(request: HttpRequest) -> Any:
    """The studies the caller opens (``access`` ``full``) and those of which they read the results
    only (``results_only``: the statistician's, with the path of the results)."""
    user = current_user(request)
    return [
        _study_out(listed.study, user) if listed.opens else _results_only_out(listed.study)
        for listed in selectors.listed_studies_for(user=user)
    ]


@router.get("/{study_id}", response={200: StudyOut, **ERRORS})
def get_study(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    return _study_out(study, user)


@router.patch("/{study_id}", response={200: StudyOut, **ERRORS})
def change_study(request: HttpRequest, study_id: Id, payload: StudyChangeIn) -> Any:
    """Change the definition; after the first enrolment an amendment with its ``reason``."""
    user, study = _study(request, study_id)
    changes = payload.dict(exclude={"reason"}, exclude_none=True)
    study = services.update_study(study=study, by=user, changes=changes, reason=payload.reason)
    return _study_out(study, user)


@router.get("/{study_id}/amendments", response={200: list[AmendmentOut], **ERRORS})
def list_amendments(request: HttpRequest, study_id: Id) -> Any:
    _user, study = _study(request, study_id)
    return list(selectors.amendments_of(study=study))


@router.get("/{study_id}/roles", response={200: list[RoleOut], **ERRORS})
def list_roles(request: HttpRequest, study_id: Id) -> Any:
    _user, study = _study(request, study_id)
    return list(selectors.roles_in(study=study))


@router.post("/{study_id}/roles", response={201: RoleOut, **ERRORS})
def assign_role(request: HttpRequest, study_id: Id, payload: RoleIn) -> Any:
    user, study = _study(request, study_id)
    member = _clinic_user(study, payload.user)
    return Status(201, services.assign_role(study=study, user=member, role=payload.role, by=user))


def _clinic_user(study: Study, user_id: int) -> User:
    """A user of the study's clinic (``NotFound`` for another clinic's, as for any id)."""
    found = User.objects.filter(clinic_id=study.clinic_id, pk=user_id).first()
    if found is None:
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": User._meta.verbose_name, "id": user_id})
    return found


@router.delete("/{study_id}/roles/{role_id}", response={204: None, **ERRORS})
def end_role(request: HttpRequest, study_id: Id, role_id: Id) -> Any:
    user, study = _study(request, study_id)
    study_role = get_in_clinic(StudyRole.objects.filter(study=study), study.clinic, role_id)
    services.end_role(study_role=study_role, by=user)
    return Status(204, None)


@router.post("/{study_id}/allocation-list", response={200: RandomizationOut, **ERRORS})
def draw_allocation_list(request: HttpRequest, study_id: Id) -> Any:
    """Draw the allocation list now (the unblinded coordinator); the first enrolment does it otherwise."""
    user, study = _study(request, study_id)
    study = services.generate_allocation_list(study=study, by=user)
    return _randomization_out(study)


@router.get("/{study_id}/randomization", response={200: RandomizationOut, **ERRORS})
def get_randomization(request: HttpRequest, study_id: Id) -> Any:
    """The seed and parameters that reproduce the allocation list: the unblinded coordinator only."""
    user, study = _study(request, study_id)
    services.require_study_role(user, study, {services.COORDINATOR})
    return _randomization_out(study)


def _randomization_out(study: Study) -> dict[str, Any]:
    return {
        "seed": study.randomization_seed,
        "block_size": study.block_size,
        "strata": services.strata_of(study),
        "slots_per_stratum": study.slots_per_stratum,
        "generated_at": study.list_generated_at,
    }


@router.get("/{study_id}/flow", response={200: FlowOut, **ERRORS})
def get_flow(request: HttpRequest, study_id: Id) -> Any:
    """The CONSORT flow so far: assessed, excluded by reason, enrolled, withdrawn."""
    user, study = _study(request, study_id)
    return vars(selectors.flow_of(study=study, user=user))


# --- participants -----------------------------------------------------------------------------


@router.post("/{study_id}/participants", response={201: ParticipantOut, **ERRORS})
def enroll(request: HttpRequest, study_id: Id, payload: ParticipantIn) -> Any:
    """Enrol a patient: 422 with rule ``research-consent-missing`` or ``not-eligible`` (naming the
    ``criterion``) otherwise. The allocation is drawn and concealed."""
    user, study = _study(request, study_id)
    patient = get_in_clinic(Patient, study.clinic, payload.patient)
    clinician = _clinic_user(study, payload.clinician) if payload.clinician is not None else None
    participant = services.enroll_participant(
        study=study, patient=patient, by=user, first_session_at=payload.first_session_at, clinician=clinician
    )
    return Status(201, participant)


@router.get("/{study_id}/participants", response={200: list[ParticipantOut], **ERRORS})
def list_participants(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    return list(selectors.participants_of(study=study, user=user))


@router.get("/{study_id}/participants/{participant_id}", response={200: ParticipantOut, **ERRORS})
def get_participant(request: HttpRequest, study_id: Id, participant_id: Id) -> Any:
    _user, participant = _participant(request, study_id, participant_id)
    return participant


@router.post("/{study_id}/participants/{participant_id}/course", response={200: ParticipantOut, **ERRORS})
def plan_course(request: HttpRequest, study_id: Id, participant_id: Id, payload: CourseIn) -> Any:
    user, participant = _participant(request, study_id, participant_id)
    clinician = _clinic_user(participant.study, payload.clinician)
    return services.plan_course(
        participant=participant, first_session_at=payload.first_session_at, clinician=clinician, by=user
    )


@router.get("/{study_id}/participants/{participant_id}/visits", response={200: list[StudyVisitOut], **ERRORS})
def list_visits(request: HttpRequest, study_id: Id, participant_id: Id) -> Any:
    _user, participant = _participant(request, study_id, participant_id)
    if participant.course_id is None:
        return []
    return list(Visit.objects.filter(course=participant.course).order_by("planned_at", "id"))


@router.get(
    "/{study_id}/participants/{participant_id}/allocation",
    response={200: AllocationOut, **ERRORS},
    exclude_none=True,
)
def get_allocation(request: HttpRequest, study_id: Id, participant_id: Id) -> Any:
    """``{"face_left": "A", "face_right": "B"}`` (split-face) or ``{"arm": "A"}``: only for the
    unblinded coordinator (and whoever unblinded this participant); 403 for blinded roles."""
    user, participant = _participant(request, study_id, participant_id)
    return selectors.allocation_of(participant=participant, user=user).as_dict()


@router.post(
    "/{study_id}/participants/{participant_id}/unblinding",
    response={200: AllocationOut, **ERRORS},
    exclude_none=True,
)
def unblind(request: HttpRequest, study_id: Id, participant_id: Id, payload: StudyReasonIn) -> Any:
    """Emergency unblinding of one participant: recorded with the reason (and as a deviation);
    answers the allocation to the one who asked."""
    user, participant = _participant(request, study_id, participant_id)
    return services.unblind_participant(participant=participant, by=user, reason=payload.reason).as_dict()


@router.post("/{study_id}/participants/{participant_id}/withdrawal", response={200: ParticipantOut, **ERRORS})
def withdraw(request: HttpRequest, study_id: Id, participant_id: Id, payload: StudyReasonIn) -> Any:
    user, participant = _participant(request, study_id, participant_id)
    return services.withdraw_participant(participant=participant, by=user, reason=payload.reason)


@router.post("/{study_id}/participants/{participant_id}/sessions", response={201: KitSessionOut, **ERRORS})
def chart_from_kit(request: HttpRequest, study_id: Id, participant_id: Id, payload: KitSessionIn) -> Any:
    """Chart a session from a coded kit: the procedures, and per half the vial of that label.
    The protocol check of every session applies; refusals name the kit's vials by label only."""
    user, participant = _participant(request, study_id, participant_id)
    session = services.chart_from_kit(
        participant=participant,
        kit_code=payload.kit,
        clinician=user,
        performed_at=payload.performed_at,
        procedures=[
            ProcedureInput(
                kind=p.kind, areas=p.areas, started_at=p.started_at, ended_at=p.ended_at, params=p.params
            )
            for p in payload.procedures
        ],
        applications=[
            services.KitApplicationInput(
                side=a.side, volume_ml=a.volume_ml, applied_at=a.applied_at, areas=tuple(a.areas)
            )
            for a in payload.applications
        ],
        acknowledged_warnings=payload.acknowledged_warnings,
        notes=payload.notes,
    )
    return Status(
        201, {"session": session.pk, "kit": payload.kit.strip().upper(), "performed_at": session.performed_at}
    )


@router.post(
    "/{study_id}/participants/{participant_id}/satisfaction", response={201: list[SatisfactionOut], **ERRORS}
)
def record_satisfaction(
    request: HttpRequest, study_id: Id, participant_id: Id, payload: SatisfactionIn
) -> Any:
    user, participant = _participant(request, study_id, participant_id)
    visit = get_in_clinic(
        Visit.objects.filter(course=participant.course), participant.study.clinic, payload.visit
    )
    return Status(
        201,
        services.record_satisfaction(
            participant=participant,
            visit=visit,
            scores={str(side): value for side, value in payload.scores.items()},
            by=user,
        ),
    )


@router.get("/{study_id}/satisfaction", response={200: list[SatisfactionOut], **ERRORS})
def list_satisfaction(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    return list(selectors.satisfaction_of(study=study, user=user))


@router.post("/{study_id}/screen-failures", response={201: ScreenFailureOut, **ERRORS})
def record_screen_failure(request: HttpRequest, study_id: Id, payload: ScreenFailureIn) -> Any:
    """A patient screened and not enrolled for another reason (declined, lost)."""
    user, study = _study(request, study_id)
    patient = get_in_clinic(Patient, study.clinic, payload.patient)
    return Status(
        201, services.record_screen_failure(study=study, patient=patient, by=user, reason=payload.reason)
    )


@router.get("/{study_id}/screen-failures", response={200: list[ScreenFailureOut], **ERRORS})
def list_screen_failures(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    return list(selectors.screen_failures_of(study=study, user=user))


# --- kits -------------------------------------------------------------------------------------


@router.post("/{study_id}/kits", response={201: KitOut, **ERRORS})
def prepare_kit(request: HttpRequest, study_id: Id, payload: KitIn) -> Any:
    """Prepare a coded kit from real vials (the unblinded coordinator): each label's vial must be of
    the product the participant's allocation gives that side."""
    user, study = _study(request, study_id)
    participant = get_in_clinic(study.participants.all(), study.clinic, payload.participant)
    kit = services.prepare_kit(
        participant=participant,
        session_number=payload.session_number,
        vials={str(label): vial for label, vial in payload.vials.items()},
        by=user,
        thawed_at=payload.thawed_at,
    )
    return Status(201, _kit_out(kit, unblinded=True))


@router.get("/{study_id}/kits", response={200: list[KitOut], **ERRORS}, exclude_none=True)
def list_kits(request: HttpRequest, study_id: Id) -> Any:
    """The kits by code; their vials and preparation times only for the unblinded coordinator."""
    user, study = _study(request, study_id)
    unblinded = sees_allocation(user, study)
    return [_kit_out(kit, unblinded=unblinded) for kit in selectors.kits_of(study=study, user=user)]


@router.get("/{study_id}/kits/{code}", response={200: KitOut, **ERRORS}, exclude_none=True)
def get_kit(request: HttpRequest, study_id: Id, code: Text) -> Any:
    user, study = _study(request, study_id)
    return _kit_out(
        selectors.kit_of(study=study, user=user, code=code), unblinded=sees_allocation(user, study)
    )


@router.post("/{study_id}/kits/{code}/discard", response={200: KitOut, **ERRORS})
def discard_kit(request: HttpRequest, study_id: Id, code: Text, payload: StudyReasonIn) -> Any:
    """Take an unused kit out of use with the reason (the unblinded coordinator); another kit may
    then be prepared for its session."""
    user, study = _study(request, study_id)
    kit = services.discard_kit(
        kit=selectors.kit_of(study=study, user=user, code=code), by=user, reason=payload.reason
    )
    return _kit_out(kit, unblinded=True)


# --- rating -----------------------------------------------------------------------------------


@router.post("/{study_id}/rating-tasks", response={200: PreparedOut, **ERRORS})
def prepare_rating_tasks(request: HttpRequest, study_id: Id) -> Any:
    """Create the rating tasks whose photos are complete (principal investigator or coordinator)."""
    user, study = _study(request, study_id)
    return {"created": services.prepare_rating_tasks(study=study, by=user)}


@router.get("/{study_id}/rating-tasks", response={200: list[RatingTaskOut], **ERRORS})
def rating_tasks(request: HttpRequest, study_id: Id) -> Any:
    """The rater's queue in random order: per side the baseline and follow-up photo (by opaque
    link, without names or dates), and the rater's own rating once given (never another's)."""
    user, study = _study(request, study_id)
    out = []
    for queued in selectors.rating_queue(study=study, rater=user):
        task = queued.task
        images = sorted(task.images.all(), key=lambda image: image.token)
        side_order = list(dict.fromkeys(image.side for image in images))
        sides = [
            {
                "side": side,
                "images": [
                    {
                        "timepoint": image.timepoint,
                        "url": f"/api/v1/studies/{study.pk}/rating-images/{image.token}",
                    }
                    for image in sorted((i for i in images if i.side == side), key=lambda i: i.timepoint)
                ],
            }
            for side in side_order
        ]
        own = queued.own_rating
        out.append(
            {
                "id": task.pk,
                "session_number": task.visit.session_number,
                "weeks_after_session": task.visit.weeks_after_session,
                "sides": sides,
                "my_rating": {
                    "scores": {score.side: score.gais for score in own.scores.all()},
                    "better_side": own.better_side,
                    "rated_at": own.rated_at,
                }
                if own is not None
                else None,
            }
        )
    return out


@router.get("/{study_id}/rating-images/{token}", response={200: None, **ERRORS})
def rating_image(request: HttpRequest, study_id: Id, token: Text) -> HttpResponse:
    """A rating photo as a JPEG of its pixels only (no metadata), for the study's raters."""
    user, study = _study(request, study_id)
    data, _image = selectors.rating_image(study=study, user=user, token=token)
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "no-store"
    return response


@router.post("/{study_id}/ratings", response={201: RatingOut, **ERRORS}, exclude_none=True)
def rate(request: HttpRequest, study_id: Id, payload: RatingIn) -> Any:
    user, study = _study(request, study_id)
    task = selectors.rating_task_for_rater(study=study, rater=user, task_id=payload.task)
    rating = services.record_rating(
        task=task,
        rater=user,
        scores={str(side): value for side, value in payload.scores.items()},
        better_side=payload.better_side,
    )
    return Status(201, _rating_out(rating, with_participant=False))


@router.get("/{study_id}/ratings", response={200: list[RatingOut], **ERRORS})
def list_ratings(request: HttpRequest, study_id: Id) -> Any:
    """Every rating (principal investigator and coordinator; raters see only their own, in the queue)."""
    user, study = _study(request, study_id)
    return [_rating_out(r, with_participant=True) for r in selectors.ratings_of(study=study, user=user)]


# --- adverse events and deviations ------------------------------------------------------------


def _event_out(event: Any, pseudonyms: dict[int, tuple[int, str]]) -> dict[str, Any]:
    participant_id, pseudonym = pseudonyms[event.patient_id]
    return {
        "id": event.pk,
        "participant": participant_id,
        "pseudonym": pseudonym,
        "term": event.term,
        "onset": event.onset,
        "resolved_on": event.resolved_on,
        "severity": event.severity,
        "serious": event.serious,
        "report_date": event.report_date,
        "related_to_procedure": event.related_to_procedure,
        "related_to_product": event.related_to_product,
        "side": event.side,
        "session": event.session_id,
        "description": event.description,
    }


@router.post("/{study_id}/adverse-events", response={201: StudyAdverseEventOut, **ERRORS})
def record_adverse_event(request: HttpRequest, study_id: Id, payload: StudyAdverseEventIn) -> Any:
    """An adverse event of a participant (per side and session), recorded in the clinic's
    adverse events (``exoderm.safety``): it shows on the patient's record too."""
    user, study = _study(request, study_id)
    participant = selectors.participant_of(study=study, user=user, participant_id=payload.participant)
    session = (
        get_in_clinic(TreatmentSession, study.clinic, payload.session)
        if payload.session is not None
        else None
    )
    fields = payload.dict(exclude={"participant", "session"})
    event = services.record_study_adverse_event(participant=participant, user=user, session=session, **fields)
    return Status(201, _event_out(event, {participant.patient_id: (participant.pk, participant.pseudonym)}))


@router.get("/{study_id}/adverse-events", response={200: list[StudyAdverseEventOut], **ERRORS})
def list_adverse_events(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    events = selectors.adverse_events_of_study(study=study, user=user)
    pseudonyms = {p.patient_id: (p.pk, p.pseudonym) for p in study.participants.all()}
    return [_event_out(event, pseudonyms) for event in events]


@router.post("/{study_id}/deviations", response={201: DeviationOut, **ERRORS})
def record_deviation(request: HttpRequest, study_id: Id, payload: DeviationIn) -> Any:
    user, study = _study(request, study_id)
    participant = selectors.participant_of(study=study, user=user, participant_id=payload.participant)
    visit = (
        get_in_clinic(Visit.objects.filter(course=participant.course), study.clinic, payload.visit)
        if payload.visit is not None
        else None
    )
    deviation = services.record_deviation(
        participant=participant,
        kind=payload.kind,
        description=payload.description,
        occurred_on=payload.occurred_on,
        visit=visit,
        by=user,
    )
    return Status(201, deviation)


@router.get("/{study_id}/deviations", response={200: list[DeviationOut], **ERRORS})
def list_deviations(request: HttpRequest, study_id: Id) -> Any:
    user, study = _study(request, study_id)
    return list(selectors.deviations_of(study=study, user=user))


@router.post("/{study_id}/deviations/overdue-visits", response={200: RecordedOut, **ERRORS})
def record_overdue_visits(request: HttpRequest, study_id: Id) -> Any:
    """Record a missed-session or missed-visit deviation for every visit whose window has passed."""
    user, study = _study(request, study_id)
    return {"recorded": services.record_overdue_visits(study=study, by=user)}
