"""Standardized photos, their analyses and comparisons (/api/v1/photos).

Upload is multipart (``file`` plus form fields). The format is recognised by content; the
stored file is a clean re-encode without metadata; the same file sent again answers 200 with
the existing photo instead of 201. Photos are identifying health data: researchers get 403.
DELETE moves a photo to the trash (hidden everywhere, restorable with POST .../restore until
it is erased after PHOTO_TRASH_DAYS); GET /trash lists it, POST .../erase erases it at once (an
erasure request), GET /events is the audit trail of all three. Only clinicians and clinic
admins may delete, restore, erase or see the trash and its trail.

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers.
"""

import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from exoderm.api.courses import current_user, user_clinic
from exoderm.api.pagination import Page
from exoderm.api.types import Id, Instant, Note, Text
from exoderm.core.access import get_in_clinic
from exoderm.core.permissions import Action
from exoderm.courses.models import Visit
from exoderm.patients.models import Patient
from exoderm.patients.selectors import open_records
from exoderm.photos import checks, selectors, services
from exoderm.photos.engine import current_version
from exoderm.photos.models import Photo, TrashReason
from exoderm.photos.responses import pdf_response, photo_response
from exoderm.photos.wording import word_remark
from exoderm.treatments.models import TreatmentSession

router = Router(tags=["photos"])


class PhotoOut(Schema):
    id: int
    patient_id: Id
    visit_id: int | None
    session_id: int | None
    timepoint: str
    view: str
    area: str
    mm_per_px: float | None
    taken_at: dt.datetime
    taken_at_source: str
    orientation: int
    source_format: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    uploaded_at: dt.datetime
    analysis_status: str
    analysis_error: str
    restored_from_trash: bool = False  # an upload of a file that lay in the trash brought it back


class TrashedPhotoOut(Schema):
    id: int
    patient_id: Id
    view: str
    area: str
    timepoint: str
    taken_at: dt.datetime
    trashed_at: dt.datetime
    trash_reason: str
    trash_note: str
    trashed_by_id: int | None
    purge_after: dt.datetime | None


class PhotoEventOut(Schema):
    photo_id: Id
    patient_id: Id
    kind: str
    reason: str
    note: str
    by_id: int | None  # null: erased by housekeeping after the trash period
    at: dt.datetime


class StatusOut(Schema):
    id: int
    analysis_status: str
    analysis_error: str
    engine_version: str
    analysed: bool


class ProgressOut(Schema):
    engine_version: str
    total: int
    analysed_by_current_engine: int
    percent: float
    by_status: dict[str, int]


class ChangeOut(Schema):
    key: str
    label: str
    before: float | None
    after: float | None
    delta: float | None
    mdc: float | None
    verdict: str
    words: str
    better: bool | None


class ComparisonOut(Schema):
    before_id: Id
    after_id: Id
    comparable: bool
    reasons: list[str] = Field(description="why the photos are not comparable, in the user's language")
    notes: list[str] = Field(description="how the noise was judged, in the user's language")
    regions: dict[str, list[ChangeOut]]


class PointOut(Schema):
    taken_at: dt.datetime
    value: float | None
    photo_id: Id
    timepoint: str


class HealingPointOut(Schema):
    days: float
    point: PointOut


class HealingCurveOut(Schema):
    session_id: Id
    performed_at: dt.datetime
    before: PointOut | None
    points: list[HealingPointOut]


class DifferenceOut(Schema):
    kind: str = Field(
        description="pose, scale, face_size, exposure, white_balance, jpeg_quality, compression, "
        "file_format (one photo lossless, the other lossy; value 1 if this photo is the lossy one), "
        "softer (value: this photo's extra blur in mm, limit: the largest allowed), "
        "pose_unknown or scale_unknown",
        examples=["exposure"],
    )
    axis: str | None = Field(description="yaw, pitch or roll, for pose")
    value: float | None
    limit: float | None
    message: str = Field(description="what differs, in the user's language")


class CheckOut(Schema):
    baseline_id: int | None
    comparable: bool | None
    differences: list[DifferenceOut]


def _patient(request: HttpRequest, patient_id: Id, action: Action = Action.VIEW_CLINICAL) -> Patient:
    return get_in_clinic(open_records(Patient.objects.all(), ""), user_clinic(request, action), patient_id)


def _photo(request: HttpRequest, photo_id: Id) -> Photo:
    return selectors.photo_of(clinic=user_clinic(request, Action.VIEW_CLINICAL), photo_id=photo_id)


@router.post("", response={200: PhotoOut, 201: PhotoOut})
def upload_photo(
    request: HttpRequest,
    file: File[UploadedFile],
    patient: Form[Id],
    view: Form[Text],
    timepoint: Form[Text],
    # the default inside: ninja loses a default after "=" for a constrained type (Annotated) in a form
    area: Annotated[Text, Form("")],
    visit: Form[Id | None] = None,
    session: Form[Id | None] = None,
    taken_at: Form[Instant | None] = None,
    mm_per_px: Form[float | None] = None,
) -> Any:
    """Upload a photo (JPEG, PNG, TIFF or HEIC, recognised by content). 201 when stored, 200 when
    this file (or these pixels) was stored before; if it lay in the patient's trash it is restored
    (``restored_from_trash``). 422 ``consent-missing`` without photo consent."""
    user = current_user(request, Action.EDIT_PATIENT)
    clinic = user_clinic(request)
    owner = get_in_clinic(Patient, clinic, patient)
    photo, created = services.upload_photo(
        patient=owner,
        chunks=file.chunks(),
        view=view,
        timepoint=timepoint,
        area=area,
        visit=get_in_clinic(Visit, clinic, visit) if visit is not None else None,
        session=get_in_clinic(TreatmentSession, clinic, session) if session is not None else None,
        taken_at=taken_at,
        mm_per_px=mm_per_px,
        by=user,
    )
    return Status(201 if created else 200, photo)


@router.post("/check", response=CheckOut)
def check_photo(
    request: HttpRequest,
    file: File[UploadedFile],
    patient: Form[Id],
    view: Form[Text],
    # the default inside: ninja loses a default after "=" for a constrained type (Annotated) in a form
    area: Annotated[Text, Form("")],
    mm_per_px: Form[float | None] = None,
) -> Any:
    """Check a photo before uploading it: what differs from the patient's baseline photo of the same
    view (pose, scale or face size, exposure, white balance) beyond skinlab's limits. Nothing is
    stored. ``comparable`` is null when there is no baseline yet. The file is validated as on upload."""
    user = current_user(request, Action.EDIT_PATIENT)
    result = checks.check_capture(
        patient=get_in_clinic(Patient, user_clinic(request), patient),
        chunks=file.chunks(),
        view=view,
        area=area,
        mm_per_px=mm_per_px,
        by=user,
    )
    return {
        "baseline_id": None if result.baseline is None else result.baseline.pk,
        "comparable": result.comparable,
        "differences": [
            {"kind": d.kind, "axis": d.axis, "value": d.value, "limit": d.limit, "message": message}
            for d, message in zip(result.differences, result.messages, strict=True)
        ],
    }


@router.get("", response=list[PhotoOut])
@paginate(Page)
def list_photos(request: HttpRequest, patient: Id) -> Any:
    """A patient's photos, oldest first."""
    return selectors.photos_of(patient=_patient(request, patient))


@router.get("/trash", response=list[TrashedPhotoOut])
@paginate(Page)
def list_trash(request: HttpRequest, patient: Id) -> Any:
    """A patient's photos in the trash, most recently deleted first, with the time each is erased
    (``purge_after``)."""
    current_user(request, Action.DELETE_PHOTO)
    return selectors.trashed_photos_of(patient=_patient(request, patient))


@router.get("/events", response=list[PhotoEventOut])
@paginate(Page)
def list_photo_events(request: HttpRequest, patient: Id) -> Any:
    """The audit trail of a patient's photo deletions, oldest first: who moved which photo to the
    trash, restored or erased it, when and why (no image data)."""
    current_user(request, Action.DELETE_PHOTO)
    return selectors.photo_events_of(patient=_patient(request, patient))


@router.get("/progress", response=ProgressOut)
def analysis_progress(request: HttpRequest, patient: Id | None = None) -> Any:
    """How many photos (of the clinic, or of one patient) the current engine version has analysed."""
    clinic = user_clinic(request, Action.VIEW_CLINICAL)
    owner = (
        get_in_clinic(open_records(Patient.objects.all(), ""), clinic, patient)
        if patient is not None
        else None
    )
    return selectors.analysis_progress(clinic=clinic, patient=owner)


@router.get("/compare", response=ComparisonOut)
def compare(request: HttpRequest, before: Id, after: Id) -> Any:
    """Per-region metric changes between two analysed photos, with the noise (mdc) of each."""
    first, second = _photo(request, before), _photo(request, after)
    comparison = selectors.compare_photos(before=first, after=second)
    if comparison is None:
        from ninja.errors import HttpError

        raise HttpError(409, _("Both photos need an analysis by the current engine version first."))
    return {
        "before_id": first.pk,
        "after_id": second.pk,
        "comparable": comparison.comparable,
        "reasons": [word_remark(r) for r in comparison.reasons],
        "notes": [word_remark(n) for n in comparison.notes],
        "regions": {
            region: [{**change.__dict__, "words": change.words} for change in rows]
            for region, rows in comparison.regions.items()
        },
    }


@router.get("/timeline", response=list[PointOut])
def timeline(
    request: HttpRequest, patient: Id, metric: Text, view: Text, area: Text = "", region: Text = ""
) -> Any:
    """One metric of one region over the course (photos of one view, analysed and usable)."""
    return selectors.timeline(
        patient=_patient(request, patient), metric=metric, view=view, area=area, region=region
    )


@router.get("/healing", response=list[HealingCurveOut])
def healing(
    request: HttpRequest, patient: Id, metric: Text = "red_area_pct", view: Text = "front", area: Text = ""
) -> Any:
    """Recovery curve per treatment session: red area or redness intensity in the days after it."""
    if metric not in selectors.HEALING_METRICS:
        from django.core.exceptions import ValidationError

        raise ValidationError({"metric": f"one of {', '.join(selectors.HEALING_METRICS)}"})
    curves = selectors.healing_curves(patient=_patient(request, patient), metric=metric, view=view, area=area)
    return [
        {
            "session_id": c.session_id,
            "performed_at": c.performed_at,
            "before": c.before,
            "points": [{"days": round(days, 2), "point": p} for days, p in c.points],
        }
        for c in curves
    ]


@router.get(
    "/report", response={200: None}, openapi_extra={"responses": {200: {"content": {"application/pdf": {}}}}}
)
def patient_report(request: HttpRequest, patient: Id) -> HttpResponseBase:
    """The patient's one-page PDF (photos, measured changes in plain words, the noise explained)."""
    from exoderm.photos.report import patient_report as build

    user = current_user(request, Action.VIEW_IDENTITY)
    owner = get_in_clinic(
        open_records(Patient.objects.select_related("clinic", "identity"), ""), user_clinic(request), patient
    )
    return pdf_response(build(patient=owner, by=user), filename=f"report-{owner.code}.pdf")


@router.get("/{photo_id}", response=PhotoOut)
def get_photo(request: HttpRequest, photo_id: Id) -> Photo:
    return _photo(request, photo_id)


@router.get("/{photo_id}/status", response=StatusOut)
def photo_status(request: HttpRequest, photo_id: Id) -> Any:
    """The analysis status, for polling: queued, running, done or failed."""
    photo = _photo(request, photo_id)
    return {
        "id": photo.pk,
        "analysis_status": photo.analysis_status,
        "analysis_error": photo.analysis_error,
        "engine_version": current_version(),
        "analysed": selectors.current_analysis(photo) is not None,
    }


@router.get("/{photo_id}/analysis", response=dict[str, Any])
def photo_analysis(request: HttpRequest, photo_id: Id) -> Any:
    """The measurement record of shared/specs/skin-metrics.md by the current engine version."""
    analysis = selectors.current_analysis(_photo(request, photo_id))
    if analysis is None:
        from exoderm.core.access import NotFound

        raise NotFound("This photo has no analysis by the current engine version yet.")
    return analysis.data


@router.delete("/{photo_id}", response={204: None})
def delete_photo(request: HttpRequest, photo_id: Id, reason: TrashReason, note: Note = "") -> Any:
    """Move a photo to the trash (clinicians and clinic admins). It disappears from every list,
    comparison, report and the analysis queue at once; ``POST /photos/{id}/restore`` brings it back
    until it is erased ``PHOTO_TRASH_DAYS`` later. ``reason``: wrong_patient, failed_capture,
    erasure_request or other (then ``note`` says why)."""
    user = current_user(request, Action.DELETE_PHOTO)
    photo = selectors.photo_of(clinic=user_clinic(request), photo_id=photo_id)
    services.trash_photo(photo=photo, reason=reason, note=note, by=user)
    return Status(204, None)


@router.post("/{photo_id}/restore", response=PhotoOut)
def restore_photo(request: HttpRequest, photo_id: Id) -> Photo:
    """Bring a photo back from the trash, with its analyses (a photo not in the trash is returned
    as it is). 404 once it has been erased."""
    user = current_user(request, Action.DELETE_PHOTO)
    photo = selectors.photo_with_trashed(clinic=user_clinic(request), photo_id=photo_id)
    return services.restore_photo(photo=photo, by=user)


@router.post("/{photo_id}/erase", response={204: None})
def erase_photo(request: HttpRequest, photo_id: Id, confirm_patient: Id) -> Any:
    """Erase a photo in the trash for good at once, without waiting for the trash period (an
    erasure request): analyses and row now, the file after the commit. ``confirm_patient`` must
    be the photo's patient id (a script erasing the wrong id stops here: 422). 422 for a photo not
    in the trash; 404 once erased."""
    user = current_user(request, Action.DELETE_PHOTO)
    photo = selectors.photo_with_trashed(clinic=user_clinic(request), photo_id=photo_id)
    if confirm_patient != photo.patient_id:
        raise DjangoValidationError(
            {"confirm_patient": _("This is not the patient of photo %(id)d.") % {"id": photo.pk}}
        )
    services.erase_photo(photo=photo, by=user)
    return Status(204, None)


@router.get("/{photo_id}/file")
def photo_file(request: HttpRequest, photo_id: Id) -> HttpResponseBase:
    """The stored photo (re-encoded, without metadata)."""
    return photo_response(_photo(request, photo_id))
