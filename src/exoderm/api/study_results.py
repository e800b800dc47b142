"""Study results: the pre-registered analysis, the CONSORT flow, the report and the exports.

Mounted at /api/v1/studies next to the studies router. Readable by the study's staff roles, its
statistician (who reads nothing else of the study) and clinic administrators (raters never). A
blinded study's analysis is pooled over the arms until its principal investigator unblinds it at
its end (``POST .../unblinding-at-end``).
"""

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language
from ninja import Field, Router, Schema, Status

from exoderm.api.courses import current_user
from exoderm.api.problems import Problem
from exoderm.api.types import Id, Note
from exoderm.studies import selectors
from exoderm.studies.analysis import exports, unblinding
from exoderm.studies.analysis.report import report_pdf
from exoderm.studies.analysis.results import results_of

router = Router(tags=["study results"])

ERRORS: dict[int, Any] = {403: Problem, 404: Problem, 422: Problem}


class ArmResultOut(Schema):
    arm: str = Field(description="arm code, or 'pooled' while the study is blinded")
    what: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    method: str
    missing: int


class EndpointResultOut(Schema):
    endpoint: int
    kind: str
    metric: str = Field(description="the skinlab metric (metric endpoints)")
    rating: str = Field(description="'gais' or 'satisfaction' (rated endpoints)")
    region: str
    visit: str = Field(description="s<session>w<weeks>: the follow-up that many weeks after that session")
    session_number: int
    weeks_after_session: int
    registered_visit: bool = Field(description="the endpoint's pre-registered visit")
    primary: bool
    role: str = Field(description="primary, secondary or exploratory (defined after the first enrolment)")
    comparison: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    method: str
    missing: int
    missing_data: str
    per_arm: list[ArmResultOut]
    responders: list[ArmResultOut]


class HealingOut(Schema):
    metric: str = Field(description="the redness metric of the healing curve")
    role: str = Field(description="exploratory: not a registered endpoint of the study")
    comparison: str
    estimate: float | None = Field(description="days (by arm: arm A side minus arm B side)")
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    method: str
    missing: int
    missing_data: str
    per_arm: list[ArmResultOut]


class ModelResultOut(Schema):
    endpoint: int
    visit: str
    comparison: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    method: str
    missing: int
    missing_data: str


class AgreementOut(Schema):
    visit: str
    raters: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str


class AdverseEventCountOut(Schema):
    term: str
    grade: int
    relatedness: str
    arm: str
    participants: int
    events: int


class ConsortOut(Schema):
    assessed: int
    excluded: int
    excluded_by_reason: dict[str, int]
    randomized: int
    allocated: dict[str, int]
    lost_to_follow_up: int
    withdrawn_by_reason: dict[str, int]
    analysed: dict[str, int]


class ResultsArmOut(Schema):
    code: str
    name: str


class ResultsOut(Schema):
    study: int
    design: str
    analysis: str = Field(description="'pooled' until a blinded study is unblinded at its end, then 'by_arm'")
    unblinded_at: dt.datetime | None
    arms: list[ResultsArmOut]
    results: list[EndpointResultOut]
    healing: HealingOut = Field(
        description="days until the redness after a session is back to half its peak, per side"
    )
    mixed_models: list[ModelResultOut]
    agreement: list[AgreementOut]
    adverse_events: list[AdverseEventCountOut]
    consort: ConsortOut
    software: dict[str, str]


class UnblindingIn(Schema):
    reason: Note


class UnblindingOut(Schema):
    unblinded_at: dt.datetime


def _study(request: HttpRequest, study_id: int) -> Any:
    """The study whose results the user may reach (the statistician's too: results only)."""
    user = current_user(request)
    return user, selectors.results_study_for(user=user, study_id=study_id)


@router.get("/{study_id}/results", response={200: ResultsOut, **ERRORS})
def get_results(request: HttpRequest, study_id: Id) -> Any:
    """Each endpoint at each follow-up visit with estimate, 95 % CI, p, n, method and missing-data
    handling; the mixed model over all visits, rater agreement, adverse events, CONSORT flow."""
    user, study = _study(request, study_id)
    return results_of(study=study, user=user).as_dict()


@router.get("/{study_id}/consort", response={200: ConsortOut, **ERRORS})
def get_consort(request: HttpRequest, study_id: Id) -> Any:
    """The CONSORT flow: assessed, excluded with reasons, randomized, allocated, lost, analysed."""
    user, study = _study(request, study_id)
    return results_of(study=study, user=user).as_dict()["consort"]


@router.post("/{study_id}/unblinding-at-end", response={201: UnblindingOut, **ERRORS})
def unblind_at_end(request: HttpRequest, study_id: Id, payload: UnblindingIn) -> Any:
    """Unblind the study at its end (principal investigator, with a reason): 422 with rule
    ``study-not-ended`` while follow-up visits are to come. Results are by arm from then on."""
    user = current_user(request)
    study = selectors.study_for(user=user, study_id=study_id)
    return Status(
        201, {"unblinded_at": unblinding.unblind_study(study=study, by=user, reason=payload.reason)}
    )


@router.get(
    "/{study_id}/export",
    response={200: None, **ERRORS},
    openapi_extra={"responses": {200: {"description": "the export file"}}},
)
def get_export(
    request: HttpRequest,
    study_id: Id,
    format: Literal["csv", "redcap", "fhir", "sav", "dta"] = "csv",
    images: bool = False,
) -> HttpResponse:
    """The study's data, pseudonymised (study pseudonyms, days from enrolment): ``csv`` tidy rows,
    ``redcap`` a zip of data dictionary, events, instrument designations and records, ``fhir`` an
    R5 Bundle (the photos as DocumentReferences: with their image data only with ``images=1``),
    ``sav``/``dta`` with variable and value labels. Arms and products only once results are by arm."""
    user, study = _study(request, study_id)
    body = exports.export_for(study=study, user=user, kind=format, images=images)
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES[format])
    name = f"study-{study.pk}.{exports.EXTENSIONS[format]}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.get(
    "/{study_id}/report.pdf",
    response={200: None, **ERRORS},
    openapi_extra={"responses": {200: {"description": "the study report (PDF)"}}},
)
def get_report(
    request: HttpRequest, study_id: Id, language: Literal["de", "en"] | None = None
) -> HttpResponse:
    """The study report as PDF, in ``language`` (default: the request's ``Accept-Language``)."""
    user, study = _study(request, study_id)
    chosen = language or ("de" if (get_language() or "").startswith("de") else "en")
    response = HttpResponse(
        report_pdf(results_of(study=study, user=user), language=chosen), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-report.pdf"'
    return response
