"""Patients with their identity, screening, consents, courses and visits (/api/v1/patients).

Everything here names or describes identified patients, so researchers get 403 on every
endpoint: they work with the pseudonymized study exports instead. Another clinic's patient
or consent id is a 404.
"""

import datetime as dt
from typing import Any

from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate
from pydantic.json_schema import SkipJsonSchema

from exoderm.api.courses import VisitOut, current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.revisions import REASON_DESCRIPTION, RevisionOut
from exoderm.api.types import Id, Instant, Note, PatchSchema, Text
from exoderm.consent import selectors as consent_selectors
from exoderm.consent import services as consent_services
from exoderm.consent.models import ConsentRecord
from exoderm.core.permissions import Action
from exoderm.courses import selectors as course_selectors
from exoderm.courses import services as course_services
from exoderm.courses.models import Course
from exoderm.patients import erasure, selectors, services
from exoderm.patients.export import export_patient
from exoderm.patients.models import ErasureRequest, Patient, RestrictedRecordAccess, ScreeningAnswer
from exoderm.records.selectors import revisions_of

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
    reason: Note = Field(description=REASON_DESCRIPTION)


class ScreeningAnswerIn(Schema):
    item: Text
    present: bool
    areas: list[Text] = Field(default_factory=list)
    last_dose_on: dt.date | None = None
    note: Note = ""


class ScreeningIn(Schema):
    answered_on: dt.date
    answers: list[ScreeningAnswerIn]


class ScreeningCorrectionIn(Schema):
    present: bool
    areas: list[Text] = Field(default_factory=list)
    last_dose_on: dt.date | None = None
    note: Note = ""
    answered_on: dt.date
    reason: Note = Field(description=REASON_DESCRIPTION)


class ConsentCorrectionIn(Schema):
    signed_by_name: Text
    signed_at: Instant
    reason: Note = Field(description=REASON_DESCRIPTION)


class ScreeningAnswerOut(Schema):
    id: int
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
    template_id: Id
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
    signed_on_tablet: bool = Field(
        description="signed by hand on the tablet: GET .../consents/{id}/signed.pdf has the signed PDF"
    )
    scan_on_file: bool = Field(
        description="signed on paper and its scan is on file (POST .../consents/{id}/scan): "
        "GET .../consents/{id}/signed.pdf has it as a PDF"
    )

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
    def resolve_signed_on_tablet(obj: ConsentRecord) -> bool:
        return bool(getattr(obj, "has_signature", False))

    @staticmethod
    def resolve_scan_on_file(obj: ConsentRecord) -> bool:
        return bool(getattr(obj, "has_scan", False))

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
    template_id: Id
    template_name: str
    clinician_id: Id
    starts_at: dt.datetime
    visits: list[VisitOut]

    @staticmethod
    def resolve_template_name(obj: Course) -> str:
        return obj.template.name

    @staticmethod
    def resolve_visits(obj: Course) -> list[Any]:
        return list(obj.visits.all())


class ErasureIn(Schema):
    received_on: dt.date = Field(description="the day the clinic received the patient's request")
    erase_photos: bool = Field(
        description="erase every photo now (the clinic's choice); false keeps them with the restricted record"
    )
    note: Note = Field(
        "", description="how the request came in; no identifying details (max. 1000 characters)"
    )


class ErasureOut(Schema):
    id: int
    patient_code: str
    received_on: dt.date
    note: str
    photos_erased: bool
    retain_until: dt.date = Field(description="the record is restricted until this day, then erased for good")
    recorded_at: dt.datetime


class UnlockIn(Schema):
    reason: Note = Field(description="why the restricted record must be read (stored; max. 500 characters)")


class UnlockOut(Schema):
    patient_id: Id
    reason: str
    expires_at: dt.datetime


def _patient(request: HttpRequest, patient_id: Id, action: Action = Action.VIEW_CLINICAL) -> Patient:
    return selectors.patient_detail(clinic=user_clinic(request, action), patient_id=patient_id)


def _screening(patient: Patient) -> list[ScreeningAnswer]:
    current = selectors.current_screening(patient=patient)
    return [current[item] for item in sorted(current)]


@router.get("", response=list[PatientOut])
@paginate(Page)
def list_patients(request: HttpRequest, q: Text = "") -> Any:
    """The clinic's patients by code; ``q`` searches (every term must match): code, names in any
    spelling of umlauts and accents (Müller, Mueller, Muller), phone number (its last digits, with
    or without +49 or 0), e-mail (ignoring case) and date of birth (17.05.1980 or 1980-05-17)."""
    return selectors.patients(clinic=user_clinic(request, Action.VIEW_IDENTITY), query=q)


@router.post("", response={201: PatientOut})
def create_patient(request: HttpRequest, payload: PatientIn) -> Any:
    user = current_user(request, Action.EDIT_PATIENT)
    patient = services.create_patient(clinic=user_clinic(request), by=user, **payload.dict())
    return Status(201, selectors.patient_detail(clinic=user_clinic(request), patient_id=patient.pk))


@router.get("/{patient_id}", response=PatientOut)
def get_patient(request: HttpRequest, patient_id: Id) -> Patient:
    """One patient. A record restricted by an erasure request is a 404 for everyone but the clinic
    admin, who gets 403 until they give a reason (``POST /patients/{id}/unlock``)."""
    user = current_user(request, Action.VIEW_IDENTITY)
    return selectors.readable_patient(clinic=user_clinic(request), patient_id=patient_id, user=user)


_ZIP_RESPONSE = {
    "description": "ZIP archive: patient.json, patient.pdf, photos/, README.txt with each file's sha256",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get(
    "/{patient_id}/export",
    response={200: None},
    summary="Everything held about the patient (GDPR Art. 15/20)",
    openapi_extra={"responses": {200: _ZIP_RESPONSE}},
)
def export(request: HttpRequest, patient_id: Id) -> FileResponse:
    """One ZIP archive of everything the clinic holds about the patient: a machine-readable
    ``patient.json``, a readable ``patient.pdf`` in the patient's language, the photo files, and
    ``README.txt`` listing every file with its SHA-256. Clinicians and clinic admins; a restricted
    record only for the clinic admin after ``POST /patients/{id}/unlock``."""
    user = current_user(request, Action.EXPORT_PATIENT)
    patient = selectors.readable_patient(clinic=user_clinic(request), patient_id=patient_id, user=user)
    response = FileResponse(
        export_patient(patient=patient, by=user),
        as_attachment=True,
        filename=f"patient-{patient.code}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"  # the whole record: never kept by a cache
    return response


@router.post("/{patient_id}/erasure", response={201: ErasureOut, 409: Problem})
def request_erasure(request: HttpRequest, patient_id: Id, payload: ErasureIn) -> Any:
    """Record the patient's erasure request (clinic admins): contact details, research use, planned
    visits and (if chosen) photos go at once; the medical record is restricted until
    ``retain_until`` (RECORD_RETENTION_YEARS after the last treatment) and then erased for good.
    409 if the database refused part of it (a reference the erasure cannot remove): nothing saved."""
    user = current_user(request, Action.ERASE_PATIENT)
    patient = _patient(request, patient_id)
    try:
        request_record: ErasureRequest = erasure.request_erasure(patient=patient, by=user, **payload.dict())
    except erasure.ErasureRefused as refused:
        raise HttpError(409, str(refused)) from refused
    return Status(201, request_record)


@router.post("/{patient_id}/unlock", response={201: UnlockOut})
def unlock(request: HttpRequest, patient_id: Id, payload: UnlockIn) -> Any:
    """Read a restricted record (clinic admins): the reason is stored, the record readable by this
    admin for RESTRICTED_ACCESS_MINUTES (``GET /patients/{id}``, ``/export``)."""
    user = current_user(request, Action.ERASE_PATIENT)
    patient = selectors.restricted_record(clinic=user_clinic(request), patient_id=patient_id)
    access: RestrictedRecordAccess = erasure.unlock(patient=patient, by=user, reason=payload.reason)
    return Status(201, access)


@router.patch("/{patient_id}", response=PatientOut)
def correct_patient(request: HttpRequest, patient_id: Id, payload: PatientPatch) -> Patient:
    """Correct the record and identity; the old version stays readable under ``/revisions``."""
    user = current_user(request, Action.EDIT_PATIENT)
    patient = _patient(request, patient_id, Action.VIEW_IDENTITY)
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason")
    services.correct_patient(patient=patient, changes=changes, reason=reason, by=user)
    return _patient(request, patient_id, Action.VIEW_IDENTITY)


@router.get("/{patient_id}/revisions", response=list[RevisionOut])
@paginate(Page)
def patient_revisions(request: HttpRequest, patient_id: Id) -> Any:
    """The corrections of the patient's record and identity, newest first, each with the old version."""
    patient = _patient(request, patient_id, Action.VIEW_IDENTITY)
    return revisions_of(clinic=patient.clinic, obj=patient)


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


@router.patch("/{patient_id}/screening/{answer_id}", response=ScreeningAnswerOut)
def correct_screening_answer(
    request: HttpRequest, patient_id: Id, answer_id: Id, payload: ScreeningCorrectionIn
) -> ScreeningAnswer:
    """Correct one recorded answer (its id is in the screening list); the old one stays readable."""
    user = current_user(request, Action.EDIT_PATIENT)
    answer = selectors.screening_answer(patient=_patient(request, patient_id), answer_id=answer_id)
    return services.correct_screening_answer(answer=answer, by=user, **payload.dict())


@router.get("/{patient_id}/screening/{answer_id}/revisions", response=list[RevisionOut])
@paginate(Page)
def screening_answer_revisions(request: HttpRequest, patient_id: Id, answer_id: Id) -> Any:
    patient = _patient(request, patient_id)
    answer = selectors.screening_answer(patient=patient, answer_id=answer_id)
    return revisions_of(clinic=patient.clinic, obj=answer)


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


@router.patch("/{patient_id}/consents/{consent_id}", response=ConsentOut)
def correct_consent(
    request: HttpRequest, patient_id: Id, consent_id: Id, payload: ConsentCorrectionIn
) -> ConsentRecord:
    """Correct when and by whom the consent was signed; the old version stays readable."""
    user = current_user(request, Action.RECORD_CONSENT)
    patient = _patient(request, patient_id)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    consent_services.correct_consent(record=record, by=user, **payload.dict())
    return consent_selectors.consent_of(patient=patient, consent_id=consent_id)


@router.get("/{patient_id}/consents/{consent_id}/revisions", response=list[RevisionOut])
@paginate(Page)
def consent_revisions(request: HttpRequest, patient_id: Id, consent_id: Id) -> Any:
    patient = _patient(request, patient_id)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_id)
    return revisions_of(clinic=patient.clinic, obj=record)


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
