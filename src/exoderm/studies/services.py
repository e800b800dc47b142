"""Writes of the study side: definition and amendments, roles, enrolment and allocation, coded
kits and charting from them, rating, satisfaction, deviations, unblinding and adverse events.

Every function takes the acting user and checks their study role (see
:mod:`exoderm.studies.blinding`); nothing here returns the allocation to a user who may not see it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import Role, User
from exoderm.core.access import get_in_clinic
from exoderm.core.areas import FACE_PARTS, SIDE_SUFFIXES, Area
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.errors import RuleViolations, Violation
from exoderm.core.permissions import Action, require
from exoderm.courses import services as course_services
from exoderm.courses.models import CourseTemplate, Visit, VisitKind, VisitStatus
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.photos.models import Photo, Timepoint, View
from exoderm.products import services as product_services
from exoderm.products.models import Product, StorageForm, Vial, VialState
from exoderm.records.services import checked_reason
from exoderm.studies import randomization
from exoderm.studies.blinding import blinded_roles, roles_of
from exoderm.studies.eligibility import OTHER_SCREEN_FAILURE, ineligibility, research_consent_refusal
from exoderm.studies.models import (
    AllocationSlot,
    Amendment,
    Arm,
    BetterSide,
    CriterionKind,
    CriterionSubject,
    Design,
    Deviation,
    DeviationKind,
    EligibilityCriterion,
    Endpoint,
    EndpointKind,
    Gais,
    Kit,
    KitVial,
    KitVialLabel,
    Participant,
    ParticipantStatus,
    Rating,
    RatingImage,
    RatingImageTimepoint,
    RatingScore,
    RatingTask,
    Satisfaction,
    ScreenFailure,
    Side,
    Stratification,
    Study,
    StudyRole,
    StudyRoleKind,
    Unblinding,
)
from exoderm.studies.pseudonyms import participant_pseudonym
from exoderm.treatments import services as treatment_services
from exoderm.treatments.models import TreatmentSession
from exoderm.treatments.protocol import Rule

PI = StudyRoleKind.PRINCIPAL_INVESTIGATOR
COORDINATOR = StudyRoleKind.UNBLINDED_COORDINATOR
CLINICIAN = StudyRoleKind.TREATING_CLINICIAN
RATER = StudyRoleKind.RATER
STATISTICIAN = StudyRoleKind.STATISTICIAN

# Rule ids of refused study writes (422 with ``violations`` on the API).
STUDY_LOCKED = "study-locked"
RANDOMIZATION_FIXED = "randomization-fixed"
WRONG_KIT = "wrong-kit"
KIT_USED = "kit-used"
PARTICIPANT_WITHDRAWN = "participant-withdrawn"

#: What a slot's halves get in a split-face kit: the left vial goes on the left half.
LABEL_OF_SIDE = {Side.LEFT: KitVialLabel.LEFT, Side.RIGHT: KitVialLabel.RIGHT}
KIT_CODE_SPACE = 10_000
#: Definition fields that fix the allocation list: unchangeable once the list exists.
RANDOMIZATION_FIELDS = (
    "design",
    "blinding",
    "course_template",
    "block_size",
    "stratification",
    "slots_per_stratum",
    "arms",
)
SIMPLE_FIELDS = (
    "title",
    "registry_id",
    "design",
    "blinding",
    "course_template",
    "block_size",
    "stratification",
    "slots_per_stratum",
)


def require_study_role(
    user: User, study: Study, allowed: Collection[str], *, clinic_admin: bool = False
) -> set[str]:
    """The user's active roles in ``study``; ``PermissionDenied`` unless one is ``allowed`` (or,
    with ``clinic_admin``, the user administers the study's clinic)."""
    if user.clinic_id != study.clinic_id:
        raise PermissionDenied(_("Your study role does not allow this."))
    roles = roles_of(user, study)
    if roles & set(allowed) or (clinic_admin and user.role == Role.CLINIC_ADMIN):
        return roles
    raise PermissionDenied(_("Your study role does not allow this."))


def _now() -> dt.datetime:
    return timezone.now()


# --- definition -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmInput:
    code: str
    name: str
    product: int
    description: str = ""


@dataclass(frozen=True)
class CriterionInput:
    kind: str
    subject: str
    min_value: int | None = None
    max_value: int | None = None
    screening_item: str = ""
    description: str = ""


# The regions a metric endpoint can name: those a face photo's analysis reports (the face and the
# engine's nine regions), and the areas beyond the face that only close-ups show. A close-up is
# chosen by the area it shows and measured as one region ``full``, so the whole photo is never an
# endpoint's region: it would match no photo at all. The face's halves are not regions of a face
# photo's analysis either: a split-face endpoint names a region of one side.
BEYOND_THE_FACE = (Area.NECK, Area.DECOLLETAGE, Area.SCALP, Area.HANDS)
ENDPOINT_REGIONS = frozenset({Area.FACE, *FACE_PARTS, *BEYOND_THE_FACE})


@dataclass(frozen=True)
class EndpointInput:
    kind: str
    session_number: int
    weeks_after_session: int
    primary: bool = False
    metric: str = ""
    region: str = ""


def definition(study: Study) -> dict[str, Any]:
    """The study's definition as JSON-ready data: what an amendment compares."""
    return {
        "title": study.title,
        "registry_id": study.registry_id,
        "design": study.design,
        "blinding": study.blinding,
        "course_template": study.course_template_id,
        "block_size": study.block_size,
        "stratification": study.stratification,
        "slots_per_stratum": study.slots_per_stratum,
        "arms": [
            {"code": a.code, "name": a.name, "product": a.product_id, "description": a.description}
            for a in study.arms.order_by("code")
        ],
        "criteria": [
            {
                "kind": c.kind,
                "subject": c.subject,
                "min_value": c.min_value,
                "max_value": c.max_value,
                "screening_item": c.screening_item,
                "description": c.description,
            }
            for c in study.criteria.order_by("kind", "id")
        ],
        "endpoints": [
            {
                "kind": e.kind,
                "primary": e.primary,
                "metric": e.metric,
                "region": e.region,
                "session_number": e.session_number,
                "weeks_after_session": e.weeks_after_session,
            }
            for e in study.endpoints.order_by("-primary", "id")
        ],
    }


def _arm_count_errors(design: str, arms: Sequence[ArmInput]) -> list[str]:
    counts: dict[str, tuple[int, int]] = {
        Design.SPLIT_FACE: (2, 2),
        Design.PARALLEL: (2, 6),
        Design.SINGLE_ARM: (1, 1),
    }
    needed = counts.get(design)
    if needed is None:
        return []
    low, high = needed
    if not low <= len(arms) <= high:
        if low == high:
            return [_("This design needs exactly %(n)d arms.") % {"n": low}]
        return [_("This design needs %(low)d to %(high)d arms.") % {"low": low, "high": high}]
    return []


def _region_errors(region: str, design: str) -> list[str]:
    if region not in ENDPOINT_REGIONS:
        return [_("Choose one of: %(choices)s.") % {"choices": ", ".join(sorted(ENDPOINT_REGIONS))}]
    if design == Design.SPLIT_FACE and not region.endswith(SIDE_SUFFIXES):
        return [
            _(
                "A split-face study measures each half: choose a region of one side, the other "
                "side is measured at its mirror image."
            )
        ]
    return []


def _build_rows(
    study: Study,
    arms: Sequence[ArmInput],
    criteria: Sequence[CriterionInput],
    endpoints: Sequence[EndpointInput],
    *,
    check_regions: bool = True,
) -> tuple[list[Arm], list[EligibilityCriterion], list[Endpoint]]:
    """Unsaved rows of the definition, checked; ``ValidationError`` names every problem at once.
    ``check_regions`` False keeps metric endpoints' regions as they are (see ``update_study``)."""
    errors: dict[str, list[str]] = {}

    def add(where: str, message: str) -> None:
        errors.setdefault(where, []).append(message)

    for message in _arm_count_errors(study.design, arms):
        add("arms", message)
    if len({a.code for a in arms}) != len(arms):
        add("arms", _("Each arm needs its own code."))
    # the allocation list writes a split-face slot as the two codes side by side ("AB")
    for index, given in enumerate(arms):
        if not (len(given.code) == 1 and "A" <= given.code <= "Z"):
            add(f"arms.{index}.code", _("An arm's code is one capital letter, A to Z."))
    arm_rows = []
    for index, given in enumerate(arms):
        product = Product.objects.filter(clinic_id=study.clinic_id, pk=given.product).first()
        if product is None:
            add(f"arms.{index}.product", _("Choose a product of the clinic."))
            continue
        arm_rows.append(
            Arm(
                study=study,
                code=given.code.strip(),
                name=given.name.strip(),
                product=product,
                description=given.description.strip(),
            )
        )
    treatments = max(1, 2 if study.design == Design.SPLIT_FACE else len(arms))
    if study.block_size % treatments:
        add(
            "block_size",
            _("The block size must be a multiple of %(n)d, so that each block is balanced.")
            % {"n": treatments},
        )
    elif study.slots_per_stratum % study.block_size:
        add("slots_per_stratum", _("The list length per stratum must be a whole number of blocks."))

    criterion_rows = []
    for index, criterion_in in enumerate(criteria):
        where = f"criteria.{index}"
        if criterion_in.kind not in CriterionKind.values:
            add(
                f"{where}.kind",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(CriterionKind.values)},
            )
        if criterion_in.subject not in CriterionSubject.values:
            add(
                f"{where}.subject",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(CriterionSubject.values)},
            )
        elif criterion_in.subject == CriterionSubject.SCREENING:
            if criterion_in.screening_item not in ScreeningItem.values:
                add(
                    f"{where}.screening_item",
                    _("Choose one of: %(choices)s.") % {"choices": ", ".join(ScreeningItem.values)},
                )
        else:
            if criterion_in.min_value is None and criterion_in.max_value is None:
                add(where, _("Give a lower or an upper limit (or both)."))
            if (
                criterion_in.min_value is not None
                and criterion_in.max_value is not None
                and criterion_in.min_value > criterion_in.max_value
            ):
                add(where, _("The lower limit lies above the upper limit."))
            limit = 6 if criterion_in.subject == CriterionSubject.FITZPATRICK else 120
            for value in (criterion_in.min_value, criterion_in.max_value):
                if value is not None and not (1 if limit == 6 else 0) <= value <= limit:
                    add(
                        where,
                        _("Give limits from %(low)d to %(high)d.")
                        % {"low": 1 if limit == 6 else 0, "high": limit},
                    )
        criterion_rows.append(
            EligibilityCriterion(
                study=study,
                kind=criterion_in.kind,
                subject=criterion_in.subject,
                min_value=criterion_in.min_value
                if criterion_in.subject != CriterionSubject.SCREENING
                else None,
                max_value=criterion_in.max_value
                if criterion_in.subject != CriterionSubject.SCREENING
                else None,
                screening_item=criterion_in.screening_item
                if criterion_in.subject == CriterionSubject.SCREENING
                else "",
                description=criterion_in.description.strip(),
            )
        )

    template: CourseTemplate = study.course_template
    if sum(1 for e in endpoints if e.primary) != 1:
        add("endpoints", _("Pre-register exactly one primary endpoint."))
    endpoint_rows = []
    for index, endpoint_in in enumerate(endpoints):
        where = f"endpoints.{index}"
        if endpoint_in.kind not in EndpointKind.values:
            add(
                f"{where}.kind",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(EndpointKind.values)},
            )
        region = endpoint_in.region.strip()
        if endpoint_in.kind == EndpointKind.METRIC and not (endpoint_in.metric.strip() and region):
            add(where, _("A metric endpoint names its metric and region."))
        elif endpoint_in.kind == EndpointKind.METRIC and check_regions:
            for message in _region_errors(region, study.design):
                add(f"{where}.region", message)
        if (
            not 1 <= endpoint_in.session_number <= template.session_count
            or endpoint_in.weeks_after_session not in template.followup_weeks
        ):
            add(
                where,
                _("The course plans no follow-up %(weeks)d weeks after session %(session)d.")
                % {"weeks": endpoint_in.weeks_after_session, "session": endpoint_in.session_number},
            )
        endpoint_rows.append(
            Endpoint(
                study=study,
                primary=endpoint_in.primary,
                kind=endpoint_in.kind,
                metric=endpoint_in.metric.strip() if endpoint_in.kind == EndpointKind.METRIC else "",
                region=endpoint_in.region.strip() if endpoint_in.kind == EndpointKind.METRIC else "",
                session_number=endpoint_in.session_number,
                weeks_after_session=endpoint_in.weeks_after_session,
            )
        )
    for prefix, rows in (("arms", arm_rows), ("criteria", criterion_rows), ("endpoints", endpoint_rows)):
        for index, row in enumerate(rows):
            try:
                row.full_clean(exclude=["study"], validate_constraints=False)
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    for message in messages:
                        add(f"{prefix}.{index}.{name}", message)
    if errors:
        raise ValidationError(errors)
    return arm_rows, criterion_rows, endpoint_rows


def _save_rows(rows: Sequence[Any]) -> None:
    for row in rows:
        row.save()


@transaction.atomic
def create_study(
    *,
    by: User,
    title: str,
    design: str,
    course_template: int,
    arms: Sequence[ArmInput],
    endpoints: Sequence[EndpointInput],
    criteria: Sequence[CriterionInput] = (),
    registry_id: str = "",
    blinding: str = "double_blind",
    block_size: int = 4,
    stratification: str = Stratification.NONE,
    slots_per_stratum: int = 40,
    principal_investigator: User | None = None,
) -> Study:
    """Define a study. Its allocation list is drawn at the first enrolment (or earlier by the
    coordinator), when the definition locks; changes after that are amendments. The
    ``principal_investigator`` (default: ``by``) gets that study role, to assign the others."""
    require(by, Action.SET_UP_STUDY)
    clinic = by.clinic
    assert clinic is not None
    template = CourseTemplate.objects.filter(clinic=clinic, pk=course_template).first()
    if template is None:
        raise ValidationError({"course_template": _("Choose a course template of the clinic.")})
    study = Study(
        clinic=clinic,
        title=title.strip(),
        registry_id=registry_id.strip(),
        design=design,
        blinding=blinding,
        course_template=template,
        block_size=block_size,
        stratification=stratification,
        slots_per_stratum=slots_per_stratum,
        created_by=by,
    )
    study.full_clean()
    rows = _build_rows(study, arms, criteria, endpoints)
    study.save()
    for group in rows:
        _save_rows(group)
    investigator = principal_investigator or by
    if investigator.clinic_id != clinic.pk or not investigator.is_active:
        raise ValidationError({"principal_investigator": _("Choose an active user of the clinic.")})
    StudyRole.objects.create(study=study, user=investigator, role=PI, assigned_by=by, assigned_at=_now())
    return study


def _inputs_from(data: Any, kind: type[Any]) -> list[Any]:
    return [item if isinstance(item, kind) else kind(**item) for item in data]


@transaction.atomic
def update_study(*, study: Study, by: User, changes: Mapping[str, Any], reason: str = "") -> Study:
    """Change the definition. Before the first enrolment a plain edit; afterwards an amendment that
    needs a ``reason`` and is recorded with what changed (refused with ``study-locked`` without
    one). What fixes the allocation list (design, blinding, arms, blocks, strata, course) cannot
    change once the list is drawn (``randomization-fixed``)."""
    locked_study = Study.objects.select_for_update().get(pk=study.pk)
    require_study_role(by, locked_study, {PI}, clinic_admin=True)
    unknown = set(changes) - set(SIMPLE_FIELDS) - {"arms", "criteria", "endpoints"}
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in sorted(unknown)})
    before = definition(locked_study)
    changed = {name for name, value in changes.items() if _normalised(name, value) != before[name]}
    if not changed:
        return locked_study
    if locked_study.list_generated_at is not None and changed & set(RANDOMIZATION_FIELDS):
        raise RuleViolations(
            [
                Violation(
                    RANDOMIZATION_FIXED,
                    _("The allocation list is drawn: %(fields)s can no longer change.")
                    % {"fields": ", ".join(sorted(changed & set(RANDOMIZATION_FIELDS)))},
                    "definition",
                )
            ]
        )
    if locked_study.locked_at is not None:
        if not (isinstance(reason, str) and reason.strip()):
            raise RuleViolations(
                [
                    Violation(
                        STUDY_LOCKED,
                        _(
                            "The definition is locked since the first enrolment: a change is an "
                            "amendment and needs its reason."
                        ),
                        "reason",
                    )
                ]
            )
        reason = checked_reason(reason)
    for name in SIMPLE_FIELDS:
        if name in changes:
            value = changes[name]
            if name == "course_template":
                template = CourseTemplate.objects.filter(clinic_id=locked_study.clinic_id, pk=value).first()
                if template is None:
                    raise ValidationError({"course_template": _("Choose a course template of the clinic.")})
                locked_study.course_template = template
            else:
                setattr(locked_study, name, value.strip() if isinstance(value, str) else value)
    locked_study.full_clean()
    arms = (
        _inputs_from(changes["arms"], ArmInput)
        if "arms" in changes
        else [ArmInput(**a) for a in before["arms"]]
    )
    criteria = (
        _inputs_from(changes["criteria"], CriterionInput)
        if "criteria" in changes
        else [CriterionInput(**c) for c in before["criteria"]]
    )
    endpoints = (
        _inputs_from(changes["endpoints"], EndpointInput)
        if "endpoints" in changes
        else [EndpointInput(**e) for e in before["endpoints"]]
    )
    # a study defined before the regions were checked (one measuring the whole photo, which no
    # photo matches) keeps its endpoints through an amendment of anything else
    arm_rows, criterion_rows, endpoint_rows = _build_rows(
        locked_study, arms, criteria, endpoints, check_regions=bool({"endpoints", "design"} & changed)
    )
    locked_study.save()
    if "arms" in changed:
        locked_study.arms.all().delete()
        _save_rows(arm_rows)
    if "criteria" in changed:
        locked_study.criteria.all().delete()
        _save_rows(criterion_rows)
    if "endpoints" in changed:
        locked_study.endpoints.all().delete()
        _save_rows(endpoint_rows)
    after = definition(locked_study)
    if locked_study.locked_at is not None:
        number = (Amendment.objects.filter(study=locked_study).aggregate(n=Max("number"))["n"] or 0) + 1
        Amendment.objects.create(
            study=locked_study,
            number=number,
            reason=reason,
            changes={name: {"old": before[name], "new": after[name]} for name in sorted(changed)},
            by=by,
            at=_now(),
        )
    return locked_study


def _normalised(name: str, value: Any) -> Any:
    """A change as :func:`definition` would show it, to tell a real change from a repeat."""
    if name in ("arms", "criteria", "endpoints"):
        kind = {"arms": ArmInput, "criteria": CriterionInput, "endpoints": EndpointInput}[name]
        try:
            items = _inputs_from(value, kind)
        except TypeError:
            raise ValidationError({name: _("Give a list of complete entries.")}) from None
        rows = [vars(item) | {} for item in items]
        for row in rows:
            for key, item in row.items():
                if isinstance(item, str):
                    row[key] = item.strip()
        # In the order definition() lists them (stable within a kind, as entered).
        if name == "endpoints":
            rows.sort(key=lambda row: not row["primary"])
        elif name == "criteria":
            rows.sort(key=lambda row: row["kind"])
        elif name == "arms":
            rows.sort(key=lambda row: row["code"])
        return rows
    return value.strip() if isinstance(value, str) else value


# --- roles ------------------------------------------------------------------------------------


@transaction.atomic
def assign_role(*, study: Study, user: User, role: str, by: User) -> StudyRole:
    """Give a clinic user a study role. The unblinded coordinator never also rates or (in a
    double-blind study) treats: that would unblind the rating or the treatment. The statistician
    is a researcher, and a researcher is nothing but the statistician."""
    require_study_role(by, study, {PI}, clinic_admin=True)
    if role not in StudyRoleKind.values:
        raise ValidationError(
            {"role": _("Choose one of: %(choices)s.") % {"choices": ", ".join(StudyRoleKind.values)}}
        )
    if user.clinic_id != study.clinic_id or not user.is_active:
        raise ValidationError({"user": _("Choose an active user of the study's clinic.")})
    # The statistician reads pseudonymised results; whoever knows patients by name must not, or the
    # pseudonyms could be linked back to them (``core.permissions``, VIEW_STUDY_DATA). A researcher,
    # who never sees an identified record, holds no role that meets participants.
    if role == STATISTICIAN and user.role != Role.RESEARCHER:
        raise ValidationError(
            {
                "user": _(
                    "A statistician reads the results of pseudonymised participants: choose a user "
                    "whose clinic role is researcher."
                )
            }
        )
    if user.role == Role.RESEARCHER and role != STATISTICIAN:
        raise ValidationError(
            {
                "role": _(
                    "A researcher sees no identified record: the only study role for a researcher "
                    "is statistician (results only)."
                )
            }
        )
    if role == CLINICIAN and user.role != Role.CLINICIAN:
        raise ValidationError({"user": _("A treating clinician charts sessions: choose a clinician.")})
    held = roles_of(user, study)
    if role in held:
        raise ValidationError({"role": _("The user already holds this study role.")})
    blinded = blinded_roles(study)
    if (role == COORDINATOR and held & blinded - {PI}) or (role in blinded - {PI} and COORDINATOR in held):
        raise ValidationError(
            {
                "role": _(
                    "The unblinded coordinator cannot also hold a blinded role (rater, treating clinician)."
                )
            }
        )
    return StudyRole.objects.create(study=study, user=user, role=role, assigned_by=by, assigned_at=_now())


@transaction.atomic
def end_role(*, study_role: StudyRole, by: User) -> StudyRole:
    require_study_role(by, study_role.study, {PI}, clinic_admin=True)
    if study_role.ended_at is None:
        study_role.ended_at = _now()
        study_role.save(update_fields=["ended_at"])
    return study_role


# --- allocation list and enrolment ------------------------------------------------------------


def strata_of(study: Study) -> list[str]:
    if study.stratification == Stratification.FITZPATRICK_GROUP:
        return ["fitzpatrick_1_3", "fitzpatrick_4_6"]
    return [""]


def stratum_of(study: Study, patient: Patient) -> str:
    if study.stratification == Stratification.FITZPATRICK_GROUP:
        return "fitzpatrick_1_3" if patient.fitzpatrick <= 3 else "fitzpatrick_4_6"
    return ""


def _arm_codes(study: Study) -> list[str]:
    return list(study.arms.order_by("code").values_list("code", flat=True))


def _slot_rows(study: Study, stratum: str, first_block: int, block_count: int) -> list[AllocationSlot]:
    treatments = randomization.treatments_for(study.design, _arm_codes(study))
    rows = []
    for slot in randomization.blocks(
        study.randomization_seed,
        stratum=stratum,
        first=first_block,
        count=block_count,
        size=study.block_size,
        treatments=treatments,
    ):
        row = AllocationSlot(study=study, stratum=stratum, sequence=slot.sequence, block=slot.block)
        if study.design == Design.SPLIT_FACE:
            row.arm_left, row.arm_right = slot.treatment[0], slot.treatment[1]
        else:
            row.arm = slot.treatment
        rows.append(row)
    return rows


def _draw_list(study: Study) -> None:
    """Draw the whole list of every stratum in one go (``study`` locked by the caller)."""
    study.randomization_seed = randomization.new_seed()
    study.list_generated_at = _now()
    study.save(update_fields=["randomization_seed", "list_generated_at"])
    blocks_per_stratum = study.slots_per_stratum // study.block_size
    rows = [row for stratum in strata_of(study) for row in _slot_rows(study, stratum, 1, blocks_per_stratum)]
    AllocationSlot.objects.bulk_create(rows)


@transaction.atomic
def generate_allocation_list(*, study: Study, by: User) -> Study:
    """Draw the allocation list before the first participant (the coordinator may do it early;
    the first enrolment does it otherwise). Drawing it fixes what the list depends on."""
    locked = Study.objects.select_for_update().get(pk=study.pk)
    require_study_role(by, locked, {COORDINATOR})
    if locked.list_generated_at is None:
        _draw_list(locked)
    return locked


def _next_slot(study: Study, stratum: str) -> AllocationSlot:
    """The first free slot of the stratum; a used-up list grows by the next blocks of the same
    seeded streams (reproducible like the rest)."""
    free = AllocationSlot.objects.filter(study=study, stratum=stratum, participant__isnull=True).order_by(
        "sequence"
    )
    slot = free.select_for_update().first()
    if slot is None:
        last_block = (
            AllocationSlot.objects.filter(study=study, stratum=stratum).aggregate(b=Max("block"))["b"] or 0
        )
        AllocationSlot.objects.bulk_create(_slot_rows(study, stratum, last_block + 1, 1))
        slot = free.select_for_update().first()
        assert slot is not None
    return slot


def enroll_participant(
    *,
    study: Study,
    patient: Patient,
    by: User,
    first_session_at: dt.datetime | None = None,
    clinician: User | None = None,
) -> Participant:
    """Enrol ``patient`` and allocate them (concealed) to the next slot of their stratum.

    Refused (``RuleViolations``) without a research consent in force (``research-consent-missing``)
    or with a criterion not met (``not-eligible``, each naming its criterion); a patient refused
    for eligibility is recorded as a screen failure with the criteria. The first enrolment draws
    the allocation list if the coordinator has not, and locks the definition. With
    ``first_session_at`` and ``clinician`` the participant's course is planned at once.
    """
    require_study_role(by, study, {PI, COORDINATOR})
    patient = get_in_clinic(Patient, study.clinic, patient.pk)
    if Participant.objects.filter(study=study, patient=patient).exists():
        raise ValidationError({"patient": _("The patient is already enrolled in this study.")})
    now = _now()
    refusals = research_consent_refusal(patient, at=now)
    if not refusals:
        refusals = ineligibility(patient, criteria=list(study.criteria.all()), day=clinic_today(study.clinic))
        if refusals:
            _record_screen_failure(study=study, patient=patient, by=by, refusals=refusals)
    if refusals:
        raise RuleViolations(refusals)
    return _enroll(
        study=study, patient=patient, by=by, first_session_at=first_session_at, clinician=clinician
    )


@transaction.atomic
def _record_screen_failure(
    *, study: Study, patient: Patient, by: User, refusals: Sequence[Violation]
) -> None:
    for refusal in refusals:
        ScreenFailure.objects.create(
            study=study,
            patient=patient,
            rule=refusal.rule,
            criterion=refusal.params.get("criterion", ""),
            reason=refusal.message[:500],
            recorded_by=by,
            recorded_at=_now(),
        )


@transaction.atomic
def record_screen_failure(*, study: Study, patient: Patient, by: User, reason: str) -> ScreenFailure:
    """A patient screened and not enrolled for a reason of their own (declined, lost before
    enrolment): recorded for the CONSORT flow."""
    require_study_role(by, study, {PI, COORDINATOR})
    patient = get_in_clinic(Patient, study.clinic, patient.pk)
    failure = ScreenFailure(
        study=study,
        patient=patient,
        rule=OTHER_SCREEN_FAILURE,
        reason=reason.strip(),
        recorded_by=by,
        recorded_at=_now(),
    )
    failure.full_clean()
    failure.save()
    return failure


@transaction.atomic
def _enroll(
    *, study: Study, patient: Patient, by: User, first_session_at: dt.datetime | None, clinician: User | None
) -> Participant:
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.list_generated_at is None:
        _draw_list(locked)
    now = _now()
    if locked.locked_at is None:
        locked.locked_at = now
        locked.save(update_fields=["locked_at"])
    participant = Participant(
        study=locked,
        patient=patient,
        pseudonym=participant_pseudonym(
            clinic_id=locked.clinic_id, study_id=locked.pk, patient_id=patient.pk
        ),
        stratum=stratum_of(locked, patient),
        enrolled_at=now,
        enrolled_by=by,
    )
    participant.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            participant.save()
    except IntegrityError:  # enrolled by a parallel request since the check
        raise ValidationError({"patient": _("The patient is already enrolled in this study.")}) from None
    slot = _next_slot(locked, participant.stratum)
    slot.participant, slot.allocated_at = participant, now
    slot.save(update_fields=["participant", "allocated_at"])
    if first_session_at is not None or clinician is not None:
        plan_course(participant=participant, first_session_at=first_session_at, clinician=clinician, by=by)
    return participant


@transaction.atomic
def plan_course(
    *, participant: Participant, first_session_at: dt.datetime | None, clinician: User | None, by: User
) -> Participant:
    """Plan the participant's sessions and follow-ups by the study's course template."""
    require_study_role(by, participant.study, {PI, COORDINATOR, CLINICIAN})
    if participant.course_id is not None:
        raise ValidationError({"first_session_at": _("The participant's course is planned already.")})
    if first_session_at is None or clinician is None:
        raise ValidationError(
            {"first_session_at": _("Give the first session's time and the treating clinician.")}
        )
    course = course_services.enroll(
        patient=participant.patient,
        template=participant.study.course_template,
        clinician=clinician,
        starts_at=first_session_at,
        by=by,
    )
    participant.course = course
    participant.save(update_fields=["course"])
    return participant


@transaction.atomic
def withdraw_participant(*, participant: Participant, by: User, reason: str) -> Participant:
    """Record the participant's withdrawal with its reason; their data so far stays in the study."""
    require_study_role(by, participant.study, {PI, COORDINATOR, CLINICIAN})
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationError({"reason": _("Give the reason for the withdrawal.")})
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    if locked.status == ParticipantStatus.WITHDRAWN:
        raise ValidationError({"reason": _("The participant has withdrawn already.")})
    locked.status, locked.withdrawn_at, locked.withdrawn_by, locked.withdrawal_reason = (
        ParticipantStatus.WITHDRAWN,
        _now(),
        by,
        text,
    )
    locked.full_clean()
    locked.save(update_fields=["status", "withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    return locked


@dataclass(frozen=True)
class Allocation:
    """A participant's allocation as the API shows it to those who may see it."""

    design: str
    arm: str = ""
    face_left: str = ""
    face_right: str = ""

    def as_dict(self) -> dict[str, str]:
        if self.design == Design.SPLIT_FACE:
            return {"face_left": self.face_left, "face_right": self.face_right}
        return {"arm": self.arm}


def _allocation(participant: Participant) -> Allocation:
    slot = AllocationSlot.objects.get(participant=participant)
    return Allocation(
        design=participant.study.design, arm=slot.arm, face_left=slot.arm_left, face_right=slot.arm_right
    )


@transaction.atomic
def unblind_participant(*, participant: Participant, by: User, reason: str) -> Allocation:
    """Emergency unblinding: reveal one participant's allocation to ``by`` and record it with the
    reason, as an unblinding and as a protocol deviation of the participant."""
    require_study_role(by, participant.study, {PI, CLINICIAN, COORDINATOR})
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationError({"reason": _("Give the reason for unblinding.")})
    unblinding = Unblinding(participant=participant, by=by, reason=text, at=_now())
    unblinding.full_clean()
    unblinding.save()
    Deviation.objects.create(
        participant=participant,
        kind=DeviationKind.UNBLINDING,
        description=(_("Unblinded by %(user)s: %(reason)s") % {"user": by.display_name, "reason": text})[
            :1000
        ],
        occurred_on=clinic_today(participant.study.clinic),
        recorded_by=by,
        recorded_at=unblinding.at,
    )
    return _allocation(participant)


# --- kits and charting ------------------------------------------------------------------------


def _labels_for(study: Study) -> list[str]:
    return (
        [KitVialLabel.LEFT, KitVialLabel.RIGHT]
        if study.design == Design.SPLIT_FACE
        else [KitVialLabel.SINGLE]
    )


def _arm_for_label(slot: AllocationSlot, label: str) -> str:
    by_label: dict[str, str] = {KitVialLabel.LEFT: slot.arm_left, KitVialLabel.RIGHT: slot.arm_right}
    return by_label.get(label, slot.arm)


def _new_kit_code(study: Study) -> str:
    """A random free code: kit codes carry no order, so they say nothing of arm or preparation."""
    used = set(Kit.objects.filter(study=study).values_list("code", flat=True))
    if len(used) >= KIT_CODE_SPACE // 2:
        space = KIT_CODE_SPACE * 10
        width = 5
    else:
        space, width = KIT_CODE_SPACE, 4
    while True:
        code = f"K-{secrets.randbelow(space):0{width}d}"
        if code not in used:
            return code


@transaction.atomic
def prepare_kit(
    *,
    participant: Participant,
    session_number: int,
    vials: Mapping[str, int],
    by: User,
    thawed_at: dt.datetime | None = None,
) -> Kit:
    """Put real vials into a coded kit for one session of ``participant`` (the coordinator only).

    ``vials`` maps each label (``left`` and ``right`` for a split-face study, else ``single``) to a
    vial id; each must be stored or thawed, in no other kit, and of the product of the arm the
    allocation gives that label. With ``thawed_at`` stored vials are thawed (or reconstituted) then.
    """
    study = participant.study
    require_study_role(by, study, {COORDINATOR})
    require(by, Action.HANDLE_STOCK)
    if participant.status == ParticipantStatus.WITHDRAWN:
        raise RuleViolations(
            [Violation(PARTICIPANT_WITHDRAWN, _("The participant has withdrawn."), "participant")]
        )
    errors: dict[str, list[str]] = {}
    if not 1 <= session_number <= study.course_template.session_count:
        errors["session_number"] = [
            _("The course has sessions 1 to %(n)d.") % {"n": study.course_template.session_count}
        ]
    in_use = Kit.objects.filter(
        participant=participant, session_number=session_number, discarded_at__isnull=True
    )
    if in_use.exists():
        errors["session_number"] = [_("A kit for this session of the participant exists already.")]
    labels = _labels_for(study)
    if set(vials) != set(labels):
        errors["vials"] = [_("Give one vial for each label: %(labels)s.") % {"labels": ", ".join(labels)}]
    if errors:
        raise ValidationError(errors)
    slot = AllocationSlot.objects.get(participant=participant)
    arms = {arm.code: arm for arm in study.arms.select_related("product")}
    chosen: dict[str, Vial] = {}
    for label in labels:
        vial: Vial = get_in_clinic(
            Vial.objects.select_for_update(of=("self",)).select_related("lot__product"),
            study.clinic,
            vials[label],
        )
        arm = arms[_arm_for_label(slot, label)]
        where = f"vials.{label}"
        if vial.lot.product_id != arm.product_id:
            errors.setdefault(where, []).append(
                _("This vial is of %(product)s; the allocation needs %(needed)s for this label.")
                % {"product": vial.lot.product.name, "needed": arm.product.name}
            )
        if vial.state not in {VialState.STORED, VialState.THAWED}:
            errors.setdefault(where, []).append(
                _("Vial %(vial)s was already used or discarded.") % {"vial": vial}
            )
        if KitVial.objects.filter(vial=vial).exists():
            errors.setdefault(where, []).append(_("Vial %(vial)s is in another kit.") % {"vial": vial})
        chosen[label] = vial
    if errors:
        raise ValidationError(errors)
    if thawed_at is not None:
        for label, vial in chosen.items():
            if vial.state == VialState.STORED:
                thaw = (
                    product_services.reconstitute_vial
                    if vial.lot.product.storage_form == StorageForm.LYOPHILIZED
                    else product_services.thaw_vial
                )
                chosen[label] = thaw(vial=vial, by=by, at=thawed_at)
    kit = Kit(
        study=study,
        code=_new_kit_code(study),
        participant=participant,
        session_number=session_number,
        prepared_by=by,
        prepared_at=_now(),
    )
    kit.full_clean(validate_constraints=False)
    kit.save()
    for label, vial in chosen.items():
        KitVial.objects.create(kit=kit, label=label, vial=vial)
    return kit


@transaction.atomic
def discard_kit(*, kit: Kit, by: User, reason: str) -> Kit:
    """Take an unused kit out of use with the reason (the coordinator): another kit may then be
    prepared for the same session. Its vials stay with it (they are not put back into stock)."""
    require_study_role(by, kit.study, {COORDINATOR})
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationError({"reason": _("Give the reason for discarding the kit.")})
    locked = Kit.objects.select_for_update().get(pk=kit.pk)
    if locked.session_id is not None:
        raise RuleViolations(
            [Violation(KIT_USED, _("Kit %(code)s was used already.") % {"code": locked.code}, "kit")]
        )
    if locked.discarded_at is None:
        locked.discarded_at, locked.discard_reason = _now(), text[:500]
        locked.save(update_fields=["discarded_at", "discard_reason"])
    return locked


@dataclass(frozen=True)
class KitApplicationInput:
    """One application from a kit: the half it went on (``face_left``/``face_right``: the vial of
    that label) or, for a single-vial kit, ``whole`` with the ``areas`` treated."""

    side: str
    volume_ml: Decimal | int | float
    applied_at: dt.datetime
    areas: Sequence[str] = field(default_factory=tuple)


def _kit_violation(violation: Violation, kit_code: str) -> Violation:
    """A protocol violation as a blinded clinician may read it: the lot and vial rules name the
    kit, not the lot, the product or even the label (which vial has a problem would tell which
    lot it came from); the dose rule names no product."""
    if not violation.field.startswith("applications."):
        return violation
    neutral_words: dict[str, str] = {
        Rule.LOT_NOT_USABLE: _(
            "A vial of kit %(kit)s cannot be used: its lot is not released, expired or has no vial "
            "left. Ask the unblinded coordinator for a new kit."
        ),
        Rule.USE_WINDOW_EXCEEDED: _(
            "A vial of kit %(kit)s is beyond its use-by time after thawing or its freeze-thaw "
            "cycles. Ask the unblinded coordinator for a new kit."
        ),
        Rule.DOSE_OUT_OF_RANGE: _("A volume applied from kit %(kit)s lies outside the labelled range."),
    }
    neutral = neutral_words.get(violation.rule)
    if neutral is None:
        return violation
    return type(violation)(violation.rule, neutral % {"kit": kit_code}, "kit", violation.severity)


def _kit_violations(violations: Sequence[Violation], kit_code: str) -> list[Violation]:
    """The violations as :func:`_kit_violation` words them, each neutral one once."""
    found: list[Violation] = []
    for violation in violations:
        neutral = _kit_violation(violation, kit_code)
        if neutral not in found:
            found.append(neutral)
    return found


def _kit_errors(error: ValidationError, labels: Sequence[str]) -> ValidationError:
    """Input errors with the words that name a vial or product replaced (see :func:`_kit_violation`)."""
    if not hasattr(error, "error_dict"):
        return error
    cleaned: dict[str, list[str]] = {}
    for name, messages in error.message_dict.items():
        if name.startswith("applications.") and name.endswith((".volume_ml", ".vial", ".lot")):
            index = int(name.split(".")[1])
            label = labels[index] if index < len(labels) else ""
            messages = [
                _(
                    "Check the volume and the kit's vial labelled %(label)s: give a volume above 0 ml that "
                    "the vial holds, with at most two decimal places, from a vial not used before."
                )
                % {"label": label}
            ]
        cleaned[name] = list(messages)
    return ValidationError(cleaned)


def chart_from_kit(
    *,
    participant: Participant,
    kit_code: str,
    clinician: User,
    performed_at: dt.datetime,
    procedures: Sequence[treatment_services.ProcedureInput],
    applications: Sequence[KitApplicationInput],
    acknowledged_warnings: Collection[str] = (),
    notes: str = "",
) -> TreatmentSession:
    """Chart a session of ``participant`` from a coded kit, through the one protocol check of a
    session (``treatments.services.record_session``): every rule applies to both halves, and the
    lot, cold-chain and recall rules to the kit's vials. The clinician names only the kit and the
    halves; refusals name the kit's vials by label. A session outside its visit's window is
    recorded as a deviation."""
    study = participant.study
    require_study_role(clinician, study, {CLINICIAN})
    kit = Kit.objects.filter(study=study, code=kit_code.strip().upper()).select_related("participant").first()
    if kit is None:
        raise RuleViolations(
            [Violation(WRONG_KIT, _("The study has no kit %(code)s.") % {"code": kit_code}, "kit")]
        )
    if kit.participant_id != participant.pk:
        raise RuleViolations(
            [
                Violation(
                    WRONG_KIT,
                    _("Kit %(code)s was prepared for another participant.") % {"code": kit.code},
                    "kit",
                )
            ]
        )
    if kit.session_id is not None:
        raise RuleViolations(
            [Violation(KIT_USED, _("Kit %(code)s was used already.") % {"code": kit.code}, "kit")]
        )
    if kit.discarded_at is not None:
        raise RuleViolations(
            [
                Violation(
                    WRONG_KIT,
                    _("Kit %(code)s was discarded: use its replacement.") % {"code": kit.code},
                    "kit",
                )
            ]
        )
    if participant.status == ParticipantStatus.WITHDRAWN:
        raise RuleViolations(
            [Violation(PARTICIPANT_WITHDRAWN, _("The participant has withdrawn."), "participant")]
        )
    vial_of = {kv.label: kv.vial for kv in kit.vials.select_related("vial")}
    inputs: list[treatment_services.ApplicationInput] = []
    labels: list[str] = []
    errors: dict[str, list[str]] = {}
    for index, given in enumerate(applications):
        if study.design == Design.SPLIT_FACE:
            label = LABEL_OF_SIDE.get(given.side)  # type: ignore[call-overload]
            areas: list[str] = [given.side]
        else:
            label = KitVialLabel.SINGLE if given.side == Side.WHOLE else None
            areas = list(given.areas)
        if label is None:
            sides = [Side.LEFT, Side.RIGHT] if study.design == Design.SPLIT_FACE else [Side.WHOLE]
            errors[f"applications.{index}.side"] = [
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(sides)}
            ]
            continue
        vial = vial_of[label]
        labels.append(str(label))
        inputs.append(
            treatment_services.ApplicationInput(
                lot=vial.lot_id,
                vial=vial.pk,
                volume_ml=given.volume_ml,
                areas=areas,
                applied_at=given.applied_at,
            )
        )
    if errors:
        raise ValidationError(errors)
    return _chart(
        participant=participant,
        kit=kit,
        clinician=clinician,
        performed_at=performed_at,
        procedures=procedures,
        inputs=inputs,
        labels=labels,
        acknowledged_warnings=acknowledged_warnings,
        notes=notes,
    )


@transaction.atomic
def _chart(
    *,
    participant: Participant,
    kit: Kit,
    clinician: User,
    performed_at: dt.datetime,
    procedures: Sequence[treatment_services.ProcedureInput],
    inputs: Sequence[treatment_services.ApplicationInput],
    labels: Sequence[str],
    acknowledged_warnings: Collection[str],
    notes: str,
) -> TreatmentSession:
    locked_kit = Kit.objects.select_for_update().get(pk=kit.pk)
    if locked_kit.session_id is not None:
        raise RuleViolations(
            [Violation(KIT_USED, _("Kit %(code)s was used already.") % {"code": kit.code}, "kit")]
        )
    try:
        with transaction.atomic():
            session = treatment_services.record_session(
                patient=participant.patient,
                clinician=clinician,
                performed_at=performed_at,
                procedures=procedures,
                applications=inputs,
                acknowledged_warnings=acknowledged_warnings,
                notes=notes,
            )
    except RuleViolations as refused:
        raise RuleViolations(_kit_violations(refused.violations, kit.code)) from None
    except ValidationError as invalid:
        raise _kit_errors(invalid, labels) from None
    locked_kit.session = session
    locked_kit.save(update_fields=["session"])
    _session_visit(participant=participant, session=session, session_number=kit.session_number, by=clinician)
    return session


def _local_day(moment: dt.datetime, time_zone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _session_visit(
    *, participant: Participant, session: TreatmentSession, session_number: int, by: User
) -> None:
    """Link the session to its planned visit; outside the visit's window that is a deviation."""
    if participant.course_id is None:
        return
    visit = Visit.objects.filter(
        course_id=participant.course_id, kind=VisitKind.SESSION, session_number=session_number
    ).first()
    if visit is None:
        return
    day = _local_day(session.performed_at, participant.study.clinic.time_zone)
    if not visit.due_from <= day <= visit.due_until:
        Deviation.objects.get_or_create(
            participant=participant,
            visit=visit,
            kind=DeviationKind.VISIT_OUT_OF_WINDOW,
            defaults={
                "description": _(
                    "Session %(n)d took place on %(day)s, outside its window %(start)s to %(end)s."
                )
                % {
                    "n": session_number,
                    "day": day.isoformat(),
                    "start": visit.due_from.isoformat(),
                    "end": visit.due_until.isoformat(),
                },
                "occurred_on": day,
                "recorded_by": by,
                "recorded_at": _now(),
            },
        )
    # A visit whose window still lies ahead cannot be marked done (courses' rule); the session
    # linked to it and the deviation above say what happened.
    if visit.status == VisitStatus.PLANNED and visit.due_from <= clinic_today(participant.study.clinic):
        course_services.mark_done(visit=visit, by=by)
    if visit.session_id is None:
        Visit.objects.filter(pk=visit.pk).update(session=session)


# --- deviations -------------------------------------------------------------------------------


@transaction.atomic
def record_deviation(
    *,
    participant: Participant,
    kind: str,
    description: str,
    occurred_on: dt.date,
    by: User,
    visit: Visit | None = None,
) -> Deviation:
    require_study_role(by, participant.study, {PI, COORDINATOR, CLINICIAN})
    if visit is not None and visit.course_id != participant.course_id:
        raise ValidationError({"visit": _("Choose a visit of the participant's course.")})
    if occurred_on > clinic_today(participant.study.clinic):
        raise ValidationError({"occurred_on": _("This date lies in the future.")})
    deviation = Deviation(
        participant=participant,
        kind=kind,
        description=description.strip(),
        occurred_on=occurred_on,
        visit=visit,
        recorded_by=by,
        recorded_at=_now(),
    )
    deviation.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            deviation.save()
    except IntegrityError:
        raise ValidationError({"visit": _("This deviation is recorded for the visit already.")}) from None
    return deviation


@transaction.atomic
def record_overdue_visits(*, study: Study, by: User, today: dt.date | None = None) -> int:
    """Record a missed-session or missed-visit deviation, once each, for every visit of the study's
    enrolled participants whose window ended before ``today`` (the clinic's today by default)
    without it taking place: a session visit still planned, a follow-up after the last session
    with neither a photo nor a satisfaction score of it. (The course template plans follow-ups
    after every session; the study's visits are the sessions and the follow-ups after the last.)"""
    require_study_role(by, study, {PI, COORDINATOR, CLINICIAN})
    today = today or clinic_today(study.clinic)
    last = study.course_template.session_count
    overdue = (
        Visit.objects.filter(
            course__study_participant__study=study,
            course__study_participant__status=ParticipantStatus.ENROLLED,
            status=VisitStatus.PLANNED,
            due_until__lt=today,
        )
        .filter(Q(kind=VisitKind.SESSION) | Q(kind=VisitKind.FOLLOW_UP, session_number=last))
        .exclude(kind=VisitKind.FOLLOW_UP, photos__isnull=False)
        .exclude(pk__in=Satisfaction.objects.values("visit_id"))
        .select_related("course__study_participant")
        .distinct()
    )
    count = 0
    for visit in overdue:
        participant = visit.course.study_participant
        kind = DeviationKind.MISSED_SESSION if visit.kind == VisitKind.SESSION else DeviationKind.MISSED_VISIT
        _deviation, created = Deviation.objects.get_or_create(
            participant=participant,
            visit=visit,
            kind=kind,
            defaults={
                "description": _("No visit recorded within the window %(start)s to %(end)s.")
                % {"start": visit.due_from.isoformat(), "end": visit.due_until.isoformat()},
                "occurred_on": visit.due_until,
                "recorded_by": by,
                "recorded_at": _now(),
            },
        )
        count += created
    return count


# --- rating and satisfaction ------------------------------------------------------------------


def _sides(study: Study) -> list[str]:
    return [Side.LEFT, Side.RIGHT] if study.design == Design.SPLIT_FACE else [Side.WHOLE]


def _side_photos(patient: Patient, side: str) -> Any:
    from exoderm.core.areas import expand

    if side == Side.WHOLE:
        return Photo.objects.filter(patient=patient, view=View.FRONT)
    areas = sorted(expand([side]))
    return Photo.objects.filter(patient=patient, view=View.CLOSE_UP, area__in=areas)


def _rating_photos(
    participant: Participant, visit: Visit, sides: Sequence[str]
) -> dict[tuple[str, str], Photo] | None:
    """Per side the baseline photo (the last before the first session) and the follow-up photo of
    ``visit`` (linked to it, or a follow-up photo taken within its window); None if any is missing."""
    assert participant.course is not None
    time_zone = participant.study.clinic.time_zone
    first = participant.course.starts_at
    found: dict[tuple[str, str], Photo] = {}
    for side in sides:
        photos = _side_photos(participant.patient, side)
        baseline = photos.filter(timepoint=Timepoint.BASELINE).order_by("-taken_at", "-id")
        started = (
            TreatmentSession.objects.filter(visits__course=participant.course)
            .order_by("performed_at")
            .first()
        )
        cutoff = started.performed_at if started is not None else first
        before = baseline.filter(taken_at__lte=cutoff).first() or baseline.first()
        linked = photos.filter(visit=visit).order_by("-taken_at", "-id").first()
        if linked is None:
            candidates = photos.filter(timepoint=Timepoint.FOLLOW_UP).order_by("-taken_at", "-id")
            linked = next(
                (
                    p
                    for p in candidates
                    if visit.due_from <= _local_day(p.taken_at, time_zone) <= visit.due_until
                ),
                None,
            )
        if before is None or linked is None:
            return None
        found[(side, RatingImageTimepoint.BASELINE)] = before
        found[(side, RatingImageTimepoint.FOLLOW_UP)] = linked
    return found


@transaction.atomic
def prepare_rating_tasks(*, study: Study, by: User) -> int:
    """Create a rating task for each participant and GAIS endpoint visit whose photos are all
    there (baseline and follow-up of each side); returns how many are new. Tasks get a random
    order key: raters meet them in an order unrelated to enrolment or arm."""
    require_study_role(by, study, {PI, COORDINATOR})
    visits_wanted = set(
        study.endpoints.filter(kind=EndpointKind.GAIS).values_list("session_number", "weeks_after_session")
    )
    sides = _sides(study)
    created = 0
    participants = study.participants.filter(course__isnull=False).select_related(
        "course", "patient", "study__clinic"
    )
    for participant in participants:
        for visit in Visit.objects.filter(course=participant.course, kind=VisitKind.FOLLOW_UP):
            if (visit.session_number, visit.weeks_after_session) not in visits_wanted:
                continue
            if RatingTask.objects.filter(participant=participant, visit=visit).exists():
                continue
            photos = _rating_photos(participant, visit, sides)
            if photos is None:
                continue
            task = RatingTask.objects.create(
                study=study,
                participant=participant,
                visit=visit,
                order_key=secrets.token_hex(16),
                created_at=_now(),
            )
            for (side, timepoint), photo in photos.items():
                RatingImage.objects.create(
                    task=task, side=side, timepoint=timepoint, photo=photo, token=secrets.token_urlsafe(16)
                )
            created += 1
    return created


@transaction.atomic
def record_rating(
    *, task: RatingTask, rater: User, scores: Mapping[str, str], better_side: str = ""
) -> Rating:
    """One rater's GAIS per side of ``task`` (and, optionally, which side improved more). Each
    assigned rater rates each task once, on their own."""
    study = task.study
    require_study_role(rater, study, {RATER})
    sides = _sides(study)
    errors: dict[str, list[str]] = {}
    if set(scores) != set(sides):
        errors["scores"] = [_("Give a GAIS score for each of: %(sides)s.") % {"sides": ", ".join(sides)}]
    for side, value in scores.items():
        if value not in Gais.values:
            errors[f"scores.{side}"] = [
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(Gais.values)}
            ]
    if task.images.filter(photo__isnull=True).exists():
        errors["task"] = [_("A photo of this task was erased on the patient's request: it cannot be rated.")]
    if better_side and (study.design != Design.SPLIT_FACE or better_side not in BetterSide.values):
        errors["better_side"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(BetterSide.values)}]
    if errors:
        raise ValidationError(errors)
    rating = Rating(task=task, rater=rater, better_side=better_side, rated_at=_now())
    try:
        with transaction.atomic():
            rating.save()
    except IntegrityError:
        raise ValidationError({"task": _("You have rated this task already.")}) from None
    for side in sides:
        RatingScore.objects.create(rating=rating, side=side, gais=scores[side])
    return rating


@transaction.atomic
def record_satisfaction(
    *, participant: Participant, visit: Visit, scores: Mapping[str, int], by: User
) -> list[Satisfaction]:
    """The participant's satisfaction with each side (1 to 5) at a follow-up visit."""
    study = participant.study
    require_study_role(by, study, {PI, COORDINATOR, CLINICIAN})
    if visit.course_id != participant.course_id or visit.kind != VisitKind.FOLLOW_UP:
        raise ValidationError({"visit": _("Choose a follow-up visit of the participant's course.")})
    sides = _sides(study)
    if set(scores) != set(sides):
        raise ValidationError(
            {"scores": [_("Give a score for each of: %(sides)s.") % {"sides": ", ".join(sides)}]}
        )
    if Satisfaction.objects.filter(participant=participant, visit=visit).exists():
        raise ValidationError({"visit": _("Satisfaction is recorded for this visit already.")})
    rows = []
    for side in sides:
        row = Satisfaction(
            participant=participant,
            visit=visit,
            side=side,
            score=scores[side],
            recorded_by=by,
            recorded_at=_now(),
        )
        try:
            row.full_clean(validate_constraints=False)
        except ValidationError as error:
            raise ValidationError({f"scores.{side}": error.messages}) from None
        row.save()
        rows.append(row)
    return rows


# --- adverse events ---------------------------------------------------------------------------


def record_study_adverse_event(*, participant: Participant, user: User, **event: Any) -> Any:
    """An adverse event of a participant, recorded through the clinic-wide service of
    ``exoderm.safety`` (one place for every adverse event); a session must be the participant's."""
    from exoderm.safety.services import record_adverse_event

    require_study_role(user, participant.study, {PI, COORDINATOR, CLINICIAN})
    session = event.get("session")
    if session is not None and session.patient_id != participant.patient_id:
        raise ValidationError({"session": _("Choose a session of the participant.")})
    return record_adverse_event(user=user, patient=participant.patient, **event)
