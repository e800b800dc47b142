"""The appointment book (/api/v1/appointments): book, list, move, cancel, mark a no-show, check
a patient in and take the check-in back.

Appointments name patients (by id and code), so researchers get 403. A time that a clinician,
room or device is booked for already is refused with 409 and ``clashes`` (see ``api.main``);
a closed clinic, a clinician off work or an invalid field with 422. Another clinic's patient,
clinician, room, device, visit or appointment is a 404.
"""

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from exoderm.api.courses import current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.types import AwareInstant, Id
from exoderm.booking import selectors, services
from exoderm.booking.models import Appointment, AppointmentKind
from exoderm.clinics.models import Clinic
from exoderm.core.permissions import Action
from exoderm.courses import selectors as course_selectors
from exoderm.patients import selectors as patient_selectors

router = Router(tags=["appointments"])

Kind = Literal["consultation", "treatment", "follow_up", "photo", "other"]


class ClashOut(Schema):
    resource: str = Field(description="clinician, room or device")
    name: str
    appointment: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    message: str


class ClashProblem(Problem):
    clashes: list[ClashOut]


class AppointmentOut(Schema):
    id: int
    patient_id: Id
    patient_code: str
    kind: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    starts_local: dt.datetime = Field(description="starts_at on the clinic's wall clock, with offset")
    clinician_id: Id
    room_id: Id | None
    device_id: Id | None
    visit_id: Id | None
    status: str = Field(description="booked, arrived, completed, cancelled or no_show")
    arrived_at: dt.datetime | None = Field(description="when the patient was checked in")
    session_id: Id | None = Field(description="the treatment session that completed the appointment")

    @staticmethod
    def resolve_patient_code(obj: Appointment) -> str:
        return obj.patient.code

    @staticmethod
    def resolve_starts_local(obj: Appointment) -> dt.datetime:
        return obj.starts_at.astimezone(zoneinfo.ZoneInfo(obj.clinic.time_zone))


class AppointmentIn(Schema):
    patient: Id
    kind: Kind
    starts_at: AwareInstant
    ends_at: AwareInstant | None = Field(None, description="default: the kind's default length")
    clinician: Id
    room: Id | None = None
    device: Id | None = None
    visit: Id | None = Field(None, description="the course's planned visit this appointment books")


class AppointmentPatch(Schema):
    """The new time or resources; a field left out keeps its value, ``room`` or ``device`` null frees it.
    A new ``starts_at`` without ``ends_at`` keeps the appointment's length."""

    starts_at: AwareInstant | None = None
    ends_at: AwareInstant | None = None
    clinician: Id | None = None
    room: Id | None = None
    device: Id | None = None

    @model_validator(mode="after")
    def _no_null_times(self) -> "AppointmentPatch":
        for name in ("starts_at", "ends_at", "clinician"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise PydanticCustomError("null_refused", f"{name}: give a value, or leave the field out.")
        return self


def _room(clinic: Clinic, room_id: int | None) -> Any:
    return None if room_id is None else selectors.room(clinic=clinic, room_id=room_id)


def _device(clinic: Clinic, device_id: int | None) -> Any:
    return None if device_id is None else selectors.device(clinic=clinic, device_id=device_id)


@router.post("/appointments", response={201: AppointmentOut, 404: Problem, 409: ClashProblem, 422: Problem})
def book_appointment(request: HttpRequest, payload: AppointmentIn) -> Any:
    """Book an appointment; 409 naming the clash when the clinician, room or device is taken."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    appointment = services.book_appointment(
        patient=patient_selectors.patient_detail(clinic=clinic, patient_id=payload.patient),
        kind=AppointmentKind(payload.kind),
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        clinician=selectors.clinician(clinic=clinic, user_id=payload.clinician),
        room=_room(clinic, payload.room),
        device=_device(clinic, payload.device),
        visit=None
        if payload.visit is None
        else course_selectors.visit(clinic=clinic, visit_id=payload.visit),
        by=user,
    )
    return Status(201, selectors.appointment(clinic=clinic, appointment_id=appointment.pk))


@router.get("/appointments", response=list[AppointmentOut])
@paginate(Page)
def list_appointments(
    request: HttpRequest,
    day: dt.date | None = None,
    days: Annotated[int, Field(ge=1, le=31, description="with day: this many days from it")] = 1,
    clinician: Id | None = None,
    room: Id | None = None,
    patient: Id | None = None,
) -> Any:
    """The clinic's appointments in time order, filtered by day (on the clinic's calendar),
    clinician, room or patient."""
    clinic = user_clinic(request, Action.VIEW_CLINICAL)
    return selectors.appointments(
        clinic=clinic,
        day=day,
        days=days,
        clinician=None if clinician is None else selectors.clinician(clinic=clinic, user_id=clinician),
        room=_room(clinic, room),
        patient=None
        if patient is None
        else patient_selectors.patient_detail(clinic=clinic, patient_id=patient),
    )


@router.get("/appointments/{appointment_id}", response=AppointmentOut)
def get_appointment(request: HttpRequest, appointment_id: Id) -> Appointment:
    clinic = user_clinic(request, Action.VIEW_CLINICAL)
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)


@router.patch(
    "/appointments/{appointment_id}",
    response={200: AppointmentOut, 404: Problem, 409: ClashProblem, 422: Problem},
)
def move_appointment(request: HttpRequest, appointment_id: Id, payload: AppointmentPatch) -> Any:
    """Move a booked appointment to another time, clinician, room or device."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    found = selectors.appointment(clinic=clinic, appointment_id=appointment_id)
    given = payload.model_fields_set
    changes: dict[str, Any] = {}
    if "clinician" in given and payload.clinician is not None:
        changes["clinician"] = selectors.clinician(clinic=clinic, user_id=payload.clinician)
    if "room" in given:
        changes["room"] = _room(clinic, payload.room)
    if "device" in given:
        changes["device"] = _device(clinic, payload.device)
    services.move_appointment(
        appointment=found, starts_at=payload.starts_at, ends_at=payload.ends_at, by=user, **changes
    )
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)


@router.post(
    "/appointments/{appointment_id}/cancel", response={200: AppointmentOut, 404: Problem, 422: Problem}
)
def cancel_appointment(request: HttpRequest, appointment_id: Id) -> Any:
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    services.cancel_appointment(
        appointment=selectors.appointment(clinic=clinic, appointment_id=appointment_id), by=user
    )
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)


@router.post(
    "/appointments/{appointment_id}/no-show", response={200: AppointmentOut, 404: Problem, 422: Problem}
)
def mark_no_show(request: HttpRequest, appointment_id: Id) -> Any:
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    services.mark_no_show(
        appointment=selectors.appointment(clinic=clinic, appointment_id=appointment_id), by=user
    )
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)


@router.post(
    "/appointments/{appointment_id}/check-in", response={200: AppointmentOut, 404: Problem, 422: Problem}
)
def check_in(request: HttpRequest, appointment_id: Id) -> Any:
    """The patient has arrived: only on the appointment's day (the clinic's calendar)."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    services.check_in(
        appointment=selectors.appointment(clinic=clinic, appointment_id=appointment_id), by=user
    )
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)


@router.post(
    "/appointments/{appointment_id}/undo-check-in",
    response={200: AppointmentOut, 404: Problem, 422: Problem},
)
def undo_check_in(request: HttpRequest, appointment_id: Id) -> Any:
    """Take back a check-in made by mistake, as long as nothing was recorded for the appointment."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    services.undo_check_in(
        appointment=selectors.appointment(clinic=clinic, appointment_id=appointment_id), by=user
    )
    return selectors.appointment(clinic=clinic, appointment_id=appointment_id)
