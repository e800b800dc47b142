"""Pseudonymised study data for researchers (/api/v1/study).

Researchers (``VIEW_STUDY_DATA``) read their own clinic's measured outcomes of the patients with
research consent in force: one row per study pseudonym, analysed photo, region and metric, with the
comparison against the baseline photo. Rows carry no names, contact data, dates, patient codes or
ids that staff see (times are days from the baseline photo and from the course's first session);
see ``exoderm.evidence.selectors``.
The same rows come as JSON pages (``/outcomes``) or as one CSV file (``/outcomes.csv``).

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from exoderm.api.courses import user_clinic
from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.types import Id, Text
from exoderm.core.permissions import Action
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.evidence import selectors
from exoderm.evidence.selectors import COLUMNS, Outcomes
from exoderm.photos.models import View

router = Router(tags=["study"])


class OutcomeFilter(Schema):
    course_template: Id | None = Field(None, description="id of a course template (GET /course-templates)")
    view: View | None = None
    region: Text | None = Field(
        None, description="a region of skin-metrics.md: face, cheek_left, …; full for close-ups"
    )
    metric: Text | None = Field(None, description="a metric key of skin-metrics.md", examples=["spot_count"])


class OutcomeOut(Schema):
    pseudonym: str = Field(
        description="the patient's study pseudonym: a keyed hash under the clinic's secret, stable across "
        "exports, not the patient code",
        examples=["S-K7QX2M4PLR9A"],
    )
    age_band: str | None = Field(description="age in years at the baseline photo, in ten-year bands")
    fitzpatrick: int = Field(description="Fitzpatrick skin type, 1 to 6")
    glogau: int = Field(description="Glogau photoaging class, 1 to 4")
    course_template_id: int | None
    course_template: str | None = Field(
        description="the course the photo belongs to: its visit's, else the one running when it was "
        "taken (a baseline photo: the course it precedes); null without a course"
    )
    days_from_course_start: float | None = Field(description="days after the course's first session")
    visit_kind: str | None = Field(description="session or follow_up; null for a photo without a visit")
    session_number: int | None
    weeks_after_session: int | None = Field(description="for a follow-up visit")
    timepoint: str = Field(description="baseline, session, follow_up or healing")
    photo: str = Field(description="the photo's study pseudonym (a keyed hash, not its id)")
    view: str = Field(description="front, left_45, right_45 or close_up")
    area: str = Field(description="the area of a close-up, else empty")
    baseline_photo: str = Field(
        description="the pseudonym of the photo this one is compared with (its own for the baseline photo)"
    )
    days_from_baseline: float = Field(description="days after the baseline photo was taken")
    engine_version: str
    usable: bool = Field(description="false: the engine flagged this photo unusable")
    region: str
    metric: str
    value: float | None = Field(description="null: not measurable in this photo")
    unit: str
    baseline_value: float | None
    delta: float | None = Field(description="value minus baseline value")
    mdc: float | None = Field(description="minimal detectable change (95 %) of the engine's repeatability")
    beyond_noise: bool | None = Field(description="|delta| > mdc; null when the change cannot be judged")
    comparable: bool | None = Field(description="null for the baseline photo itself")
    not_comparable_reasons: str = Field(
        description="semicolon-separated: unusable, pose, pose_unknown, scale, scale_unknown, face_size, "
        "calibration, roi, baseline_not_analysed",
        examples=["pose;scale"],
    )


def _rows(request: HttpRequest, filters: OutcomeFilter) -> Outcomes:
    return selectors.outcome_rows(
        clinic=user_clinic(request, Action.VIEW_STUDY_DATA),
        course_template_id=filters.course_template,
        view=filters.view or "",
        region=filters.region or "",
        metric=filters.metric or "",
    )


@router.get("/outcomes", response={200: list[OutcomeOut], 403: Problem}, summary="Study outcomes")
@paginate(Page)
def outcomes(request: HttpRequest, filters: Query[OutcomeFilter]) -> Any:
    """The clinic's measured outcomes of patients with research consent in force, pseudonymised: one
    row per study pseudonym, analysed photo (by the current engine version, not in the trash), region
    and metric, with the change from the
    baseline photo of the same view (and area) and its noise. Unusable and not comparable photos
    are included and flagged. The same rows as CSV: ``/study/outcomes.csv``."""
    return _rows(request, filters)


_CSV_RESPONSE = {
    "description": "CSV whose header line names the columns, always in this order: " + ", ".join(COLUMNS),
    "content": {"text/csv": {"schema": {"type": "string"}, "example": ",".join(COLUMNS) + "\r\n"}},
}


@router.get(
    "/outcomes.csv",
    response={200: None, 403: Problem},
    summary="Study outcomes as CSV",
    openapi_extra={"responses": {200: _CSV_RESPONSE}},
)
def outcomes_csv(request: HttpRequest, filters: Query[OutcomeFilter]) -> HttpResponse:
    """All rows of ``/study/outcomes`` (same filters, not paginated) as CSV (RFC 4180, UTF-8) with a
    header line; the columns are the fields of the JSON rows, in the same order. Empty cells are
    null; booleans are ``true`` or ``false``."""
    response = HttpResponse(
        selectors.outcomes_csv(_rows(request, filters)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="study-outcomes.csv"'
    return response


@router.get(
    "/outcomes.xlsx",
    response={200: None, 403: Problem},
    summary="Study outcomes as an Excel workbook",
    openapi_extra={
        "responses": {
            200: {
                "description": "One sheet; its header row names the columns of outcomes.csv, in order",
                "content": {XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def outcomes_xlsx(request: HttpRequest, filters: Query[OutcomeFilter]) -> HttpResponse:
    """The rows of ``/study/outcomes.csv`` (same filters) as an ``.xlsx`` workbook: a frozen header
    row, numbers as numbers, booleans as booleans, text as text (never a formula), empty cells null."""
    response = HttpResponse(selectors.outcomes_xlsx(_rows(request, filters)), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="study-outcomes.xlsx"'
    return response
