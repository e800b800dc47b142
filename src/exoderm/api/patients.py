"""Patients with their identity, screening, consents, courses and visits (/api/v1/patients).

Everything here names or describes identified patients, so researchers get 403 on every
endpoint: they work with the pseudonymized study exports instead. Another clinic's patient
or consent id is a 404.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic.json_schema import SkipJsonSchema

from exoderm.api.courses import VisitOut, current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.types import Id, Instant, Note, PatchSchema, Text
from exoderm.consent import selectors as consent_selectors
from exoderm.consent import services as consent_services
from exoderm.consent.models import ConsentRecord
from exoderm.core.permissions import Action
from exoderm.courses import selectors as course_selectors
from exoderm.courses import services as course_services
from exoderm.courses.models import Course
from exoderm.patients import selectors, services
from exoderm.patients.models import Patient, ScreeningAnswer

router = Router(tags=["patients"])


class IdentityOut(Schema):
    given_name: str
    family_name: str
    date_of_birth: dt.date
    email: str
    phone: str
    address: str
    language: str


class PatientOut(Schema):
    id: int
    code: str
    fitzpatrick: int
    glogau: int
    created_at: dt.datetime
    identity: IdentityOut


class PatientIn(Schema):
    code: Text | None = Field(None, description="pseudonymous code; generated (EX-XXXXX) when absent")
    fitzpatrick: int = Field(description="Fitzpatrick skin type 1-6")
    glogau: int = Field(description="Glogau photoaging class 1-4")
    given_name: Text
    family_name: Text
    date_of_birth: dt.date
    email: Text = ""
    phone: Text = ""
    address: Note = ""
    language: Text = "de"
    allow_duplicate: bool = Field(
        False,
        description=(
            "a patient of the clinic with the same given and family name (ignoring case) and date of "
            "birth is refused with 422 naming their code (field allow_duplicate); true confirms that "
            "this is another person"
        ),
    )


class PatientPatch(PatchSchema):
    """The fields to change; a field left out keeps its value."""

    code: Text | SkipJsonSchema[None] = None
    fitzpatrick: int | SkipJsonSchema[None] = None
    glogau: int | SkipJsonSchema[None] = None
    given_name: Text | SkipJsonSchema[None] = None
    family_name: Text | SkipJsonSchema[None] = None
    date_of_birth: dt.date | SkipJsonSchema[None] = None
    email: Text | SkipJsonSchema[None] = None
    phone: Text | SkipJsonSchema[None] = None
    address: Note | SkipJsonSchema[None] = None
    language: Text | SkipJsonSchema[None] = None


class ScreeningAnswerIn(Schema):
    item: Text
    present: bool
    areas: list[Text] = Field(default_factory=list)
    last_dose_on: dt.date | None = None
    note: Note = ""


class ScreeningIn(Schema):
    answered_on: dt.date
    answers: list[ScreeningAnswerIn]


class ScreeningAnswerOut(Schema):
    item: str
    present: bool
    areas: list[str]
    last_dose_on: dt.date | None
    note: str
    answered_on: dt.date
    recorded_by: str

    @staticmethod
    def resolve_recorded_by(obj: ScreeningAnswer) -> str:
        return obj.recorded_by.display_name


class ConsentSignIn(Schema):
    kind: Text
    signed_by_name: Text
    signed_at: Instant


class WithdrawIn(Schema):
    withdrawn_at: Instant | None = Field(None, description="default: now")


class ConsentOut(Schema):
    id: int
    template_id: int
    kind: str
    version: int
    title_de: str
    title_en: str
    signed_at: dt.datetime
    signed_by_name: str
    recorded_by: str
    withdrawn_at: dt.datetime | None
    withdrawn_by: str | None
    current_version: bool = Field(description="signed on the clinic's newest version of this kind")
    active: bool = Field(description="counts as consent now: current version, signed, not withdrawn")

    @staticmethod
    def resolve_kind(obj: ConsentRecord) -> str:
        return obj.template.kind

    @staticmethod
    def resolve_version(obj: ConsentRecord) -> int:
        return obj.template.version

    @staticmethod
    def resolve_title_de(obj: ConsentRecord) -> str:
        return obj.template.title_de

    @staticmethod
    def resolve_title_en(obj: ConsentRecord) -> str:
        return obj.template.title_en

    @staticmethod
    def resolve_recorded_by(obj: ConsentRecord) -> str:
        return obj.recorded_by.display_name

    @staticmethod
    def resolve_withdrawn_by(obj: ConsentRecord) -> str | None:
        return obj.withdrawn_by.display_name if obj.withdrawn_by else None

    @staticmethod
    def resolve_current_version(obj: ConsentRecord) -> bool:
        return obj.template.version == getattr(obj, "current_version", None)

    @staticmethod
    def resolve_active(obj: ConsentRecord) -> bool:
        now = timezone.now()
        return (
            ConsentOut.resolve_current_version(obj)
            and obj.signed_at <= now
            and (obj.withdrawn_at is None or obj.withdrawn_at > now)
        )


class EnrollIn(Schema):
    template_id: Id
    clinician_id: Id
    starts_at: dt.datetime = Field(description="the first session, with offset or zone")


class CourseOut(Schema):
    id: int
    template_id: int
    template_name: str
    clinician_id: int
    starts_at: dt.datetime
    visits: list[VisitOut]

    @staticmethod
    def resolve_template_name(obj: Course) -> str:
        return obj.template.name

    @staticmethod
    def resolve_visits(obj: Course) -> list[Any]:
        return list(obj.visits.all())


def _patient(request: HttpRequest, patient_id: int, action: Action = Action.VIEW_CLINICAL) -> Patient:
    return selectors.patient_detail(clinic=user_clinic(request, action), patient_id=patient_id)


def _screening(patient: Patient) -> list[ScreeningAnswer]:
    current = selectors.current_screening(patient=patient)
    return [current[item] for item in sorted(current)]


@router.get("", response=list[PatientOut])
@paginate(Page)
def list_patients(request: HttpRequest, q: Text = "") -> Any:
    """The clinic's patients by code; ``q`` searches code and names (every word must match)."""
    return selectors.patients(clinic=user_clinic(request, Action.VIEW_IDENTITY), query=q)


@router.post("", response={201: PatientOut})
def create_patient(request: HttpRequest, payload: PatientIn) -> Any:
    user = current_user(request, Action.EDIT_PATIENT)
    patient = services.create_patient(clinic=user_clinic(request), by=user, **payload.dict())
    return Status(201, selectors.patient_detail(clinic=user_clinic(request), patient_id=patient.pk))


@router.get("/{patient_id}", response=PatientOut)
def get_patient(request: HttpRequest, patient_id: Id) -> Patient:
    return _patient(request, patient_id, Action.VIEW_IDENTITY)


@router.patch("/{patient_id}", response=PatientOut)
def update_patient(request: HttpRequest, patient_id: Id, payload: PatientPatch) -> Patient:
    user = current_user(request, Action.EDIT_PATIENT)
    patient = _patient(request, patient_id, Action.VIEW_IDENTITY)
    services.update_patient(patient=patient, changes=payload.dict(exclude_unset=True), by=user)
    return _patient(request, patient_id, Action.VIEW_IDENTITY)


@router.get("/{patient_id}/screening", response=list[ScreeningAnswerOut])
def get_screening(request: HttpRequest, patient_id: Id) -> list[ScreeningAnswer]:
    """The current screening: the newest answer per item."""
    return _screening(_patient(request, patient_id))


@router.post("/{patient_id}/screening", response={201: list[ScreeningAnswerOut]})
def record_screening(request: HttpRequest, patient_id: Id, payload: ScreeningIn) -> Any:
    """Record dated answers; the response is the current screening afterwards."""
    user = current_user(request, Action.EDIT_PATIENT)
    patient = _patient(request, patient_id)
    services.record_screening(
        patient=patient,
        answers=[services.Answer(**answer.dict()) for answer in payload.answers],
        answered_on=payload.answered_on,
        by=user,
    )
    return Status(201, _screening(patient))


@router.get("/{patient_id}/consents", response=list[ConsentOut])
@paginate(Page)
def list_consents(request: HttpRequest, patient_id: Id) -> Any:
    return consent_selectors.consents_of(patient=_patient(request, patient_id))


@router.post("/{patient_id}/consents", response={201: ConsentOut})
def sign_consent(request: HttpRequest, patient_id: Id, payload: ConsentSignIn) -> Any:
    """Record the patient's signature on the current version of the clinic's template of ``kind``."""
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id)
    record = consent_services.sign_consent(patient=patient, by=user, **payload.dict())
    return Status(201, consent_selectors.consent_of(patient=patient, consent_id=record.pk))


@router.post("/{patient_id}/consents/{consent_id}/withdraw", response=ConsentOut)
def withdraw_consent(
    request: HttpRequest, patient_id: Id, consent_id: Id, payload: WithdrawIn | None = None
) -> ConsentRecord:
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    consent_services.withdraw_consent(record=record, by=user, at=payload.withdrawn_at if payload else None)
    return consent_selectors.consent_of(patient=patient, consent_id=consent_id)


@router.get("/{patient_id}/visits", response=list[VisitOut])
@paginate(Page)
def list_visits(request: HttpRequest, patient_id: Id) -> Any:
    """Every visit of the patient's courses, in time order."""
    return course_selectors.visits_of_patient(patient=_patient(request, patient_id))


@router.post("/{patient_id}/courses", response={201: CourseOut})
def enroll(request: HttpRequest, patient_id: Id, payload: EnrollIn) -> Any:
    """Start a course: plans every session and follow-up on the clinic's wall clock."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    patient = _patient(request, patient_id)
    course = course_services.enroll(
        patient=patient,
        template=course_selectors.course_template(clinic=clinic, template_id=payload.template_id),
        clinician=course_selectors.clinician_of(clinic=clinic, user_id=payload.clinician_id),
        starts_at=payload.starts_at,
        by=user,
    )
    return Status(201, course_selectors.courses_of(patient=patient).get(pk=course.pk))


@router.get("/{patient_id}/courses", response=list[CourseOut])
@paginate(Page)
def list_courses(request: HttpRequest, patient_id: Id) -> Any:
    """The patient's courses, newest first, each with all its visits."""
    return course_selectors.courses_of(patient=_patient(request, patient_id))
