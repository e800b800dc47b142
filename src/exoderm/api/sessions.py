"""Treatment sessions: recorded only through the protocol check of ``treatments.services``."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.revisions import REASON_DESCRIPTION, RevisionOut
from exoderm.api.types import AwareInstant, Id, Instant, Note, Text
from exoderm.clinics.models import Clinic, User
from exoderm.core.access import NotFound, get_in_clinic
from exoderm.core.permissions import Action, require
from exoderm.patients.models import Patient
from exoderm.records.selectors import revisions_of
from exoderm.studies.blinding import concealed_applications, concealed_warnings, conceals_lots
from exoderm.treatments import selectors
from exoderm.treatments.models import Procedure, TreatmentSession
from exoderm.treatments.services import PARAMS, ApplicationInput, ProcedureInput, record_session
from exoderm.treatments.services import correct_session as correct_session_service

router = Router(tags=["sessions"])

# A procedure parameter: a number, a text (device, laser type) or null; the service checks each by name.
ParamValue = bool | int | float | Text | None


class ProcedureIn(Schema):
    kind: Text = Field(description="microneedling or fractional_laser", examples=["microneedling"])
    areas: list[Text] = Field(examples=[["face"]])
    started_at: Instant = Field(description="with UTC offset")
    ended_at: Instant = Field(description="with UTC offset")
    params: dict[Text, ParamValue] = Field(
        default_factory=dict,
        description=(
            "microneedling: device, needle_depth_mm (0.1–3.0), passes (1–10); fractional_laser: device, "
            "laser_type (ablative_co2, ablative_eryag, non_ablative), wavelength_nm (500–11000), "
            "pulse_energy_mj (>0–500), density_pct (>0–100), passes (1–10)"
        ),
        examples=[{"needle_depth_mm": 1.0, "passes": 3}],
    )


class ApplicationIn(Schema):
    lot: Id
    vial: Id | None = Field(
        None, description="default: the lot's vial thawed most recently and not used, else its first vial"
    )
    volume_ml: Decimal = Field(examples=[2.0])
    areas: list[Text] = Field(examples=[["face"]])
    applied_at: Instant = Field(description="with UTC offset")


class SessionIn(Schema):
    patient: Id
    clinician: Id | None = Field(None, description="default: the requesting user")
    performed_at: Instant = Field(description="with UTC offset", examples=["2026-12-01T10:00:00+01:00"])
    procedures: list[ProcedureIn] = Field(default_factory=list)
    applications: list[ApplicationIn] = Field(default_factory=list)
    acknowledged_warnings: list[Text] = Field(
        default_factory=list, description="rule ids of the warnings the clinician acknowledges"
    )
    notes: Note = ""


class SessionCorrectionIn(Schema):
    """The whole corrected chart: it replaces the recorded procedures, applications and warnings."""

    performed_at: Instant = Field(description="with UTC offset", examples=["2026-12-01T10:00:00+01:00"])
    procedures: list[ProcedureIn] = Field(default_factory=list)
    applications: list[ApplicationIn] = Field(
        default_factory=list,
        description="an application without vial stays on the vial the session used of its lot",
    )
    acknowledged_warnings: list[Text] = Field(
        default_factory=list, description="rule ids of the warnings the corrector acknowledges"
    )
    notes: Note = ""
    reason: Note = Field(description=REASON_DESCRIPTION)


class ProcedureOut(Schema):
    id: int
    kind: str
    areas: list[str]
    started_at: dt.datetime
    ended_at: dt.datetime
    params: dict[str, Any]

    @staticmethod
    def resolve_params(obj: Procedure) -> dict[str, Any]:
        values = {name: getattr(obj, name) for name in PARAMS[obj.kind]}
        return {name: value for name, value in values.items() if value not in (None, "")}


class ApplicationOut(Schema):
    id: int
    lot: Id | None = Field(alias="lot_id", description="null when a study's blinding conceals it")
    lot_number: str = Field(alias="lot.number")
    vial: Id | None = Field(alias="vial_id")
    vial_serial: int | None = Field(alias="vial.serial")
    kit: str | None = Field(None, description="the coded kit and vial label, for a study's blinded clinician")
    volume_ml: Decimal
    areas: list[str]
    applied_at: dt.datetime


class WarningOut(Schema):
    rule: str
    message: str
    acknowledged_by: int = Field(alias="acknowledged_by_id")
    acknowledged_by_name: str = Field(alias="acknowledged_by.display_name")
    acknowledged_at: dt.datetime


class SessionOut(Schema):
    id: int
    patient: Id = Field(alias="patient_id")
    patient_code: str = Field(alias="patient.code")
    clinician: int = Field(alias="clinician_id")
    clinician_name: str = Field(alias="clinician.display_name")
    performed_at: dt.datetime
    notes: str
    procedures: list[ProcedureOut]
    applications: list[ApplicationOut]
    warnings: list[WarningOut]

    @staticmethod
    def resolve_procedures(obj: TreatmentSession) -> list[Procedure]:
        return list(obj.procedures.all())

    @staticmethod
    def resolve_applications(obj: TreatmentSession, context: Any) -> list[Any]:
        # A session charted from a study's coded kit names lots and vials (hence the arm) only to
        # those who may see the participant's allocation (exoderm.studies.blinding).
        return concealed_applications(session=obj, user=context["request"].user)

    @staticmethod
    def resolve_warnings(obj: TreatmentSession, context: Any) -> list[Any]:
        return concealed_warnings(session=obj, user=context["request"].user)


class ViolationOut(Schema):
    rule: str = Field(
        description="a rule id of protocol-rules.md", examples=["exosome-requires-barrier-disruption"]
    )
    message: str = Field(description="in the request's language")
    field: str | None = Field(None, description="where in the request, e.g. applications.0.areas")
    severity: Literal["block", "warn"] = Field(
        description="a warning is accepted when its rule id is sent in acknowledged_warnings"
    )


class FieldErrorOut(Schema):
    field: str
    message: str


class Unprocessable(Problem):
    """Either the protocol refused the session (``violations``) or the input is invalid (``errors``)."""

    violations: list[ViolationOut] | None = None
    errors: list[FieldErrorOut] | None = None


class SessionFilter(Schema):
    patient: Id | None = None
    performed_from: AwareInstant | None = Field(None, description="with UTC offset; sessions from then on")
    performed_until: AwareInstant | None = Field(None, description="with UTC offset; sessions before then")


def _clinic(request: HttpRequest) -> Clinic:
    user: User = request.user  # type: ignore[assignment]
    assert user.clinic is not None  # tokens are issued to clinic users only
    return user.clinic


@router.post(
    "",
    response={201: SessionOut, 403: Problem, 404: Problem, 422: Unprocessable},
    summary="Record a treatment session",
)
def create_session(request: HttpRequest, payload: SessionIn) -> Any:
    """Record procedures and the exosome applications after them, if the session keeps the protocol.

    A session that breaks a blocking rule, or has a warning not named in ``acknowledged_warnings``,
    is refused with 422 and every such rule in ``violations``; nothing of it is saved.
    """
    user: User = request.user  # type: ignore[assignment]
    require(user, Action.CHART_SESSION)
    clinic = _clinic(request)
    patient = get_in_clinic(Patient, clinic, payload.patient)
    clinician = user
    if payload.clinician is not None and payload.clinician != user.pk:
        found = User.objects.filter(clinic=clinic, pk=payload.clinician).first()
        if found is None:
            raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": _("user"), "id": payload.clinician})
        clinician = found
    session = record_session(
        patient=patient,
        clinician=clinician,
        performed_at=payload.performed_at,
        procedures=_procedures(payload.procedures),
        applications=_applications(payload.applications),
        acknowledged_warnings=payload.acknowledged_warnings,
        notes=payload.notes,
    )
    return Status(201, selectors.session_detail(clinic=clinic, pk=session.pk))


def _procedures(procedures: list[ProcedureIn]) -> list[ProcedureInput]:
    return [
        ProcedureInput(
            kind=p.kind, areas=p.areas, started_at=p.started_at, ended_at=p.ended_at, params=p.params
        )
        for p in procedures
    ]


def _applications(applications: list[ApplicationIn]) -> list[ApplicationInput]:
    return [
        ApplicationInput(
            lot=a.lot, vial=a.vial, volume_ml=a.volume_ml, areas=a.areas, applied_at=a.applied_at
        )
        for a in applications
    ]


@router.get(
    "", response={200: list[SessionOut], 403: Problem, 422: Unprocessable}, summary="List treatment sessions"
)
@paginate(Page)
def list_sessions(request: HttpRequest, filters: Query[SessionFilter]) -> Any:
    """The clinic's sessions, newest first; filter by patient and a range of ``performed_at``."""
    require(request.user, Action.VIEW_CLINICAL)  # type: ignore[arg-type]
    return selectors.sessions_of_clinic(
        clinic=_clinic(request),
        patient_id=filters.patient,
        performed_from=filters.performed_from,
        performed_until=filters.performed_until,
    ).select_related("kit__participant__study")  # whether blinding conceals its lots (studies)


@router.get(
    "/{session_id}",
    response={200: SessionOut, 403: Problem, 404: Problem, 422: Unprocessable},
    summary="One session",
)
def get_session(request: HttpRequest, session_id: Id) -> Any:
    require(request.user, Action.VIEW_CLINICAL)  # type: ignore[arg-type]
    return selectors.session_detail(clinic=_clinic(request), pk=session_id)


@router.patch(
    "/{session_id}",
    response={200: SessionOut, 403: Problem, 404: Problem, 422: Unprocessable},
    summary="Correct a treatment session",
)
def correct_session(request: HttpRequest, session_id: Id, payload: SessionCorrectionIn) -> Any:
    """Replace the session's chart by a corrected one, with a ``reason``.

    The corrected session goes through the same protocol check as a new one; one that breaks a
    rule is refused with 422 and ``violations``, and the recorded version stays. The old version
    is kept under ``/revisions``.
    """
    user: User = request.user  # type: ignore[assignment]
    require(user, Action.CHART_SESSION)
    clinic = _clinic(request)
    session = correct_session_service(
        session=selectors.session_detail(clinic=clinic, pk=session_id),
        by=user,
        reason=payload.reason,
        performed_at=payload.performed_at,
        procedures=_procedures(payload.procedures),
        applications=_applications(payload.applications),
        acknowledged_warnings=payload.acknowledged_warnings,
        notes=payload.notes,
    )
    return selectors.session_detail(clinic=clinic, pk=session.pk)


@router.get(
    "/{session_id}/revisions",
    response={200: list[RevisionOut], 403: Problem, 404: Problem, 422: Unprocessable},
    summary="Corrections of a session",
)
@paginate(Page)
def session_revisions(request: HttpRequest, session_id: Id) -> Any:
    """The session's corrections, newest first, each with the whole chart before it. 403 for a
    session charted from a study kit whose allocation you may not see (the charts name its lots)."""
    require(request.user, Action.VIEW_CLINICAL)  # type: ignore[arg-type]
    clinic = _clinic(request)
    session = selectors.session_detail(clinic=clinic, pk=session_id)
    if conceals_lots(session=session, user=request.user):  # type: ignore[arg-type]
        raise PermissionDenied(
            _("Corrections of this session are shown only to the study's unblinded coordinator: they name "
              "the lots, which would tell the arm.")
        )  # fmt: skip
    return revisions_of(clinic=clinic, obj=session)
