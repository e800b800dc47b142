"""Writes for photos: the safe upload and the bookkeeping of their analyses.

Upload order, so that an interrupted or refused upload leaves neither a file nor a row:

1. the request body is streamed to a temporary file in the photo file system and fsynced,
   hashing it on the way (``source_sha256``; the same file sent again for the same patient returns
   the existing photo, for another patient it is refused);
2. the file is validated by content and re-encoded without metadata (:mod:`.validation`) into a
   second temporary file, fsynced;
3. in one transaction that holds the clinic's row lock: the re-encoded file is moved to its
   content-addressed name (atomic ``os.replace``), the row is inserted, the clinic's quota is
   checked with the new row counted; any error rolls the row back and removes the moved file
   if this upload created it. Temporary files are removed in every case.

A process killed between the move and the commit can leave a stored file without a row;
:func:`sweep_storage` (run by ``exoderm manage photo_housekeeping``) removes those.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, User
from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.areas import Area
from exoderm.core.errors import RuleViolations, Violation
from exoderm.core.permissions import Action, require
from exoderm.courses.models import Visit
from exoderm.patients.models import Patient
from exoderm.photos import storage
from exoderm.photos.models import AnalysisStatus, Photo, Timepoint, View
from exoderm.photos.validation import clean_image
from exoderm.treatments.models import TreatmentSession

MAX_UPLOAD_BYTES = settings.PHOTO_MAX_UPLOAD_BYTES
STALE_FILE_SECONDS = 3600.0


def _consent_or_refuse(patient: Patient, at: dt.datetime) -> None:
    if active_consent(patient=patient, kind=ConsentKind.PHOTOGRAPHY, at=at) is None:
        raise RuleViolations(
            [
                Violation(
                    rule="consent-missing",
                    message=_(
                        "The patient has no signed, unwithdrawn photography consent of the current version."
                    ),
                    field="patient",
                )
            ]
        )


def _check_placement(
    *,
    patient: Patient,
    view: str,
    timepoint: str,
    area: str,
    visit: Visit | None,
    session: TreatmentSession | None,
    mm_per_px: float | None,
    taken_at: dt.datetime | None,
) -> None:
    errors: dict[str, str] = {}
    if view not in View.values:
        errors["view"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(View.values)}
    if timepoint not in Timepoint.values:
        errors["timepoint"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(Timepoint.values)}
    if view == View.CLOSE_UP and area not in Area.values:
        errors["area"] = _("A close-up names the area it shows.")
    if view != View.CLOSE_UP and area:
        errors["area"] = _("Only a close-up names an area.")
    if visit is not None and visit.course.patient_id != patient.pk:
        errors["visit"] = _("The visit belongs to another patient.")
    if session is not None and session.patient_id != patient.pk:
        errors["session"] = _("The session belongs to another patient.")
    if mm_per_px is not None and not 0.001 <= mm_per_px <= 5:
        errors["mm_per_px"] = _("The scale must lie between 0.001 and 5 mm per pixel.")
    if taken_at is not None and timezone.is_naive(taken_at):
        errors["taken_at"] = _("Give the time with its time zone offset.")
    if errors:
        raise ValidationError(errors)


def upload_photo(
    *,
    patient: Patient,
    chunks: Iterable[bytes],
    view: str,
    timepoint: str,
    by: User,
    area: str = "",
    visit: Visit | None = None,
    session: TreatmentSession | None = None,
    taken_at: dt.datetime | None = None,
    mm_per_px: float | None = None,
) -> tuple[Photo, bool]:
    """Store an uploaded photo of ``patient``. Returns ``(photo, created)``; ``created`` is False
    when the same file (or the same pixels) was stored before, and nothing new is written."""
    require(by, Action.EDIT_PATIENT)
    if by.clinic_id != patient.clinic_id:
        raise ValidationError({"patient": _("The patient belongs to another clinic.")})
    _check_placement(
        patient=patient, view=view, timepoint=timepoint, area=area, visit=visit, session=session,
        mm_per_px=mm_per_px, taken_at=taken_at,
    )  # fmt: skip
    _consent_or_refuse(patient, timezone.now())
    clinic = patient.clinic
    with storage.temp_file(".upload") as upload, storage.temp_file(".clean") as clean_path:
        try:
            source_sha256, source_size = storage.write_stream(chunks, upload, max_bytes=MAX_UPLOAD_BYTES)
        except ValueError:
            raise ValidationError(
                {"file": _("The file is larger than %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 1024**2}}
            ) from None
        existing = Photo.objects.filter(clinic=clinic, source_sha256=source_sha256).first()
        if existing is not None:
            return _same_photo(existing, patient), False
        image = clean_image(upload, time_zone=clinic.time_zone)
        storage.write_bytes(image.data, clean_path)
        sha256 = hashlib.sha256(image.data).hexdigest()
        name = storage.relative_name(clinic_id=clinic.pk, sha256=sha256, extension=image.extension)
        moment, moment_source = (
            (taken_at, "client")
            if taken_at
            else (image.taken_at, "exif")
            if image.taken_at
            else (None, "upload")
        )
        photo = Photo(
            clinic=clinic, patient=patient, visit=visit, session=session, timepoint=timepoint, view=view,
            area=area, mm_per_px=mm_per_px, taken_at=moment or timezone.now(), taken_at_source=moment_source,
            orientation=image.orientation, source_format=image.source_format, source_sha256=source_sha256,
            source_size=source_size, file_name=name, sha256=sha256, content_type=image.content_type,
            size_bytes=len(image.data), width=image.width, height=image.height, uploaded_by=by,
        )  # fmt: skip
        photo.full_clean(
            exclude=["clinic", "patient", "visit", "session", "uploaded_by"], validate_unique=False
        )
        created_file = False
        try:
            with transaction.atomic():
                Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
                same_pixels = Photo.objects.filter(clinic=clinic, sha256=sha256).first()
                if same_pixels is not None:
                    return _same_photo(same_pixels, patient), False
                created_file = storage.place(clean_path, name)
                photo.save()
                _check_quota(clinic)
                transaction.on_commit(lambda: enqueue_analysis(photo.pk))
        except BaseException:
            if created_file:
                storage.remove(name)
            raise
    return photo, True


def _same_photo(photo: Photo, patient: Patient) -> Photo:
    """A photo sent again is the stored one, but never silently another patient's."""
    if photo.patient_id != patient.pk:
        raise ValidationError({"file": _("This photo is already stored for another patient.")})
    return photo


def _check_quota(clinic: Clinic) -> None:
    used = Photo.objects.filter(clinic=clinic).aggregate(total=Sum("size_bytes"))["total"] or 0
    quota = Clinic.objects.values_list("photo_quota_bytes", flat=True).get(pk=clinic.pk)
    if used > quota:
        raise ValidationError(
            {
                "file": _("The clinic's photo storage is full (%(used)d of %(quota)d MB).")
                % {"used": used // 1024**2, "quota": quota // 1024**2}
            }
        )


def enqueue_analysis(photo_id: int) -> str:
    """Queue the analysis of one photo and remember the task on the photo. Returns the task id."""
    from exoderm.photos.tasks import analyse_photo

    result = analyse_photo.enqueue(photo_id)
    Photo.objects.filter(pk=photo_id).exclude(analysis_status=AnalysisStatus.DONE).update(
        analysis_task_id=str(result.id)
    )
    return str(result.id)


def mark_queued(photo_ids: Iterable[int]) -> int:
    """Set the given photos back to 'waiting for analysis' (before a re-analysis)."""
    return Photo.objects.filter(pk__in=list(photo_ids)).update(
        analysis_status=AnalysisStatus.QUEUED, analysis_error="", analysis_worker="", analysis_started_at=None
    )


def sweep_storage(*, older_than_seconds: float = STALE_FILE_SECONDS) -> dict[str, int]:
    """Remove what killed uploads left: temporary files, and stored files without a row."""
    removed_temp = storage.sweep_temp(older_than_seconds)
    limit = time.time() - older_than_seconds
    known = set(Photo.objects.values_list("file_name", flat=True))
    orphans = [name for name, mtime in storage.stored_names() if name not in known and mtime < limit]
    for name in orphans:
        storage.remove(name)
    return {"temporary": removed_temp, "orphans": len(orphans)}
