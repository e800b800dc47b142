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

Deletion has two steps. :func:`trash_photo` hides a photo everywhere at once (``Photo.objects``
sees live photos only) and keeps it restorable (:func:`restore_photo`) for ``PHOTO_TRASH_DAYS``;
:func:`purge_expired` (housekeeping) and :func:`erase_photo` (an erasure request, at once) then
delete its analyses and row in one transaction and remove the file only after the commit, and only
if no row still names it: a failure leaves the row and its file, never a row without its file.
Every step writes a :class:`~exoderm.photos.models.PhotoEvent`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import io
import logging
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, User
from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.access import NotFound
from exoderm.core.areas import Area
from exoderm.core.clock import EARLIEST, in_future, too_early
from exoderm.core.errors import RuleViolations, Violation
from exoderm.core.permissions import Action, require
from exoderm.courses.models import Visit
from exoderm.patients.models import Patient
from exoderm.photos import engine, selectors, storage
from exoderm.photos.models import (
    Analysis,
    AnalysisStatus,
    Photo,
    PhotoEvent,
    Reanalysis,
    Timepoint,
    TrashReason,
    View,
)
from exoderm.photos.tasks import continue_reanalysis, enqueue_analysis
from exoderm.photos.validation import clean_image
from exoderm.treatments.models import TreatmentSession

logger = logging.getLogger(__name__)

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


def _capture_time_problem(taken_at: dt.datetime) -> str:
    """Why a photo cannot have been taken at ``taken_at`` (aware), or "" when it can."""
    if in_future(taken_at):
        return _("The photo cannot have been taken in the future: check the date and time.")
    if too_early(taken_at):
        return _("The photo cannot have been taken before %(earliest)s: check the year.") % {
            "earliest": date_format(EARLIEST, "SHORT_DATE_FORMAT")
        }
    return ""


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
    elif taken_at is not None and (problem := _capture_time_problem(taken_at)):
        errors["taken_at"] = problem
    if errors:
        raise ValidationError(errors)


def refuse_unless_uploadable(
    *,
    patient: Patient,
    by: User,
    view: str,
    timepoint: str,
    area: str = "",
    visit: Visit | None = None,
    session: TreatmentSession | None = None,
    mm_per_px: float | None = None,
    taken_at: dt.datetime | None = None,
) -> None:
    """What an upload is refused for before its file is read: role, clinic, placement, consent."""
    require(by, Action.EDIT_PATIENT)
    if by.clinic_id != patient.clinic_id:
        raise ValidationError({"patient": _("The patient belongs to another clinic.")})
    _check_placement(
        patient=patient, view=view, timepoint=timepoint, area=area, visit=visit, session=session,
        mm_per_px=mm_per_px, taken_at=taken_at,
    )  # fmt: skip
    if patient.restricted_at is not None:
        raise RuleViolations(
            [
                Violation(
                    rule="record-restricted",
                    message=_(
                        "The patient asked for their data to be erased: the record is restricted and "
                        "no photos are taken any more."
                    ),
                    field="patient",
                )
            ]
        )
    _consent_or_refuse(patient, timezone.now())


def receive_file(chunks: Iterable[bytes], path: Path) -> tuple[str, int]:
    """Write an upload's bytes to ``path``; returns their SHA-256 and size, refusing oversized files."""
    try:
        return storage.write_stream(chunks, path, max_bytes=MAX_UPLOAD_BYTES)
    except ValueError:
        raise ValidationError(
            {"file": _("The file is larger than %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 1024**2}}
        ) from None


@contextlib.contextmanager
def _refused_when_store_full() -> Iterator[None]:
    """A full photo volume (or an exhausted disk quota) refuses the upload with a message for the
    user instead of a server error; the temporary files are gone by then (``storage.temp_file``)."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        logger.error("photo store full: %s", error)
        raise ValidationError(
            {"file": _("The photo store is full: the photo was not saved. Tell the clinic's administrator.")}
        ) from error


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
    refuse_unless_uploadable(
        patient=patient, by=by, view=view, timepoint=timepoint, area=area, visit=visit, session=session,
        mm_per_px=mm_per_px, taken_at=taken_at,
    )  # fmt: skip
    clinic = patient.clinic
    with (
        _refused_when_store_full(),
        storage.temp_file(".upload") as upload,
        storage.temp_file(".clean") as clean_path,
    ):
        source_sha256, source_size = receive_file(chunks, upload)
        existing = Photo.with_trashed.filter(clinic=clinic, source_sha256=source_sha256).first()
        if existing is not None:
            return _same_photo(existing, patient, by), False
        image = clean_image(upload, time_zone=clinic.time_zone)
        quality = engine.jpeg_quality(upload)  # None unless a JPEG
        sha256 = hashlib.sha256(image.data).hexdigest()
        name = storage.relative_name(clinic_id=clinic.pk, sha256=sha256, extension=image.extension)
        storage.write_sealed([image.data], clean_path, name=name)
        # a camera time that cannot be true (its clock was never set) counts as no time
        camera_time = image.taken_at if image.taken_at and not _capture_time_problem(image.taken_at) else None
        moment, moment_source = (
            (taken_at, "client") if taken_at else (camera_time, "exif") if camera_time else (None, "upload")
        )
        photo = Photo(
            clinic=clinic, patient=patient, visit=visit, session=session, timepoint=timepoint, view=view,
            area=area, mm_per_px=mm_per_px, taken_at=moment or timezone.now(), taken_at_source=moment_source,
            orientation=image.orientation, source_format=image.source_format,
            source_jpeg_quality=quality, source_sha256=source_sha256,
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
                same_pixels = Photo.with_trashed.filter(clinic=clinic, sha256=sha256).first()
                if same_pixels is not None:
                    return _same_photo(same_pixels, patient, by), False
                created_file = storage.place(clean_path, name)
                photo.save()
                _check_quota(clinic)
                transaction.on_commit(lambda: enqueue_analysis(photo.pk))
        except BaseException:
            if created_file:
                storage.remove(name)
            raise
    return photo, True


def _same_photo(photo: Photo, patient: Patient, by: User) -> Photo:
    """A photo sent again is the stored one, but never silently another patient's. Sent again for
    the same patient while it lies in the trash, it comes back (``restored_from_trash``): the
    clinic evidently wants it, and its analyses are still there."""
    if photo.patient_id != patient.pk:
        if photo.trashed_at is not None:
            raise ValidationError(
                {
                    "file": _(
                        "This photo lies in the trash of another patient. Erase it there for good "
                        "before storing it for this patient."
                    )
                }
            )
        raise ValidationError({"file": _("This photo is already stored for another patient.")})
    if photo.trashed_at is not None:
        photo = _restore(photo, by=by, note=_("uploaded again"))
        photo.restored_from_trash = True
    return photo


def _check_quota(clinic: Clinic) -> None:
    # trashed photos still occupy the disk until they are purged
    used = Photo.with_trashed.filter(clinic=clinic).aggregate(total=Sum("size_bytes"))["total"] or 0
    quota = Clinic.objects.values_list("photo_quota_bytes", flat=True).get(pk=clinic.pk)
    if used > quota:
        raise ValidationError(
            {
                "file": _("The clinic's photo storage is full (%(used)d of %(quota)d MB).")
                % {"used": used // 1024**2, "quota": quota // 1024**2}
            }
        )


def sweep_storage(*, older_than_seconds: float = STALE_FILE_SECONDS) -> dict[str, int]:
    """Remove what killed uploads left (temporary files, stored files without a row), files
    derived from photos gone (overlays, thumbnails), and overlays of an earlier engine version."""
    removed_temp = storage.sweep_temp(older_than_seconds)
    limit = time.time() - older_than_seconds
    known = set(Photo.with_trashed.values_list("file_name", flat=True))
    orphans = [name for name, mtime in storage.stored_names() if name not in known and mtime < limit]
    for name in orphans:
        storage.remove(name)
    current = _overlay_label_prefix()
    stale = [
        storage.derived_path(name, label)
        for name, label in storage.derived_files()
        if name not in known or (label.startswith("overlay-") and not label.startswith(current))
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return {"temporary": removed_temp, "orphans": len(orphans), "stale_overlays": len(stale)}


def _overlay_label_prefix() -> str:
    return f"overlay-{engine.current_version()}-"


def photo_overlay(*, photo: Photo) -> bytes:
    """The PNG of what skinlab measured on ``photo``, its regions named in the active language,
    rendered once per engine version and language and kept next to the photo (a render analyses
    the photo again: about a second of CPU).

    Raises ``skinlab.io.SkinlabError`` when the photo cannot be analysed and
    :class:`~exoderm.photos.storage.UnreadableFile` when its stored file fails its checks."""
    scale = "auto" if photo.mm_per_px is None else f"{photo.mm_per_px:g}"
    # the regions are labelled in the reader's language: one rendering per language
    language = (get_language() or settings.LANGUAGE_CODE).lower()
    label = f"{_overlay_label_prefix()}{photo.view}-{scale}-{language}.png"
    path = storage.derived_path(photo.file_name, label)
    try:
        return storage.read_derived(path)
    except FileNotFoundError:
        names = {region: selectors.region_label(region) for region in [*Area.values, "full"]}
        png = engine.overlay_png(
            storage.read(photo.file_name), view=photo.view, mm_per_px=photo.mm_per_px, names=names
        )
        storage.write_derived(png, path)
        return png


#: The longest side of a gallery thumbnail, in pixels (twice the size it is shown at: sharp on
#: high-density screens).
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 82


def photo_thumbnail(*, photo: Photo) -> bytes:
    """A small JPEG of ``photo`` for galleries, made once from the stored file and kept next to it
    (encrypted, like the photo). Raises :class:`~exoderm.photos.storage.UnreadableFile` when the
    stored file fails its checks."""
    from PIL import Image

    path = storage.derived_path(photo.file_name, f"thumb-{THUMBNAIL_SIDE}.jpg")
    try:
        return storage.read_derived(path)
    except FileNotFoundError:
        with Image.open(io.BytesIO(storage.read(photo.file_name))) as image:
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
        storage.write_derived(out.getvalue(), path)
        return out.getvalue()


# Deletion: trash, restore, purge.


def _event(photo: Photo, kind: str, *, by: User | None, reason: str = "", note: str = "") -> None:
    PhotoEvent.objects.create(
        clinic_id=photo.clinic_id, patient_id=photo.patient_id, photo_id=photo.pk, kind=kind,
        reason=reason, note=note, by=by,
    )  # fmt: skip


def _own_photo(photo: Photo, by: User) -> None:
    require(by, Action.DELETE_PHOTO)
    if by.clinic_id != photo.clinic_id:
        raise NotFound(_("%(thing)s %(id)s not found.") % {"thing": Photo._meta.verbose_name, "id": photo.pk})


@transaction.atomic
def trash_photo(*, photo: Photo, reason: str, by: User, note: str = "") -> Photo:
    """Move ``photo`` to the trash: hidden from every list, comparison, report and the analysis
    queue at once, restorable until it is purged ``PHOTO_TRASH_DAYS`` later."""
    _own_photo(photo, by)
    note = note.strip()
    if reason not in TrashReason.values:
        raise ValidationError(
            {"reason": _("Choose one of: %(choices)s.") % {"choices": ", ".join(TrashReason.values)}}
        )
    if reason == TrashReason.OTHER and not note:
        raise ValidationError({"note": _("Say why the photo is deleted.")})
    if len(note) > 500:
        raise ValidationError({"note": _("Keep the note under 500 characters.")})
    locked = Photo.with_trashed.select_for_update().get(pk=photo.pk)
    if locked.trashed_at is not None:
        return locked  # trashed twice (a double click): the first reason stands
    locked.trashed_at, locked.trashed_by = timezone.now(), by
    locked.trash_reason, locked.trash_note = reason, note
    locked.save(update_fields=["trashed_at", "trashed_by", "trash_reason", "trash_note"])
    _event(locked, PhotoEvent.Kind.TRASHED, by=by, reason=reason, note=note)
    return locked


def restore_photo(*, photo: Photo, by: User) -> Photo:
    """Bring ``photo`` back from the trash, with its analyses as they were. A live photo is
    returned unchanged."""
    _own_photo(photo, by)
    return _restore(photo, by=by)


@transaction.atomic
def _restore(photo: Photo, *, by: User, note: str = "") -> Photo:
    locked = Photo.with_trashed.select_for_update().get(pk=photo.pk)
    if locked.trashed_at is None:
        return locked
    locked.trashed_at, locked.trashed_by, locked.trash_reason, locked.trash_note = None, None, "", ""
    fields = ["trashed_at", "trashed_by", "trash_reason", "trash_note"]
    # a task that ran while the photo was in the trash found no photo: queue it again if needed
    if Analysis.with_trashed.filter(photo=locked, engine_version=engine.current_version()).exists():
        locked.analysis_status = AnalysisStatus.DONE
    elif locked.analysis_status != AnalysisStatus.FAILED:
        locked.analysis_status = AnalysisStatus.QUEUED
        transaction.on_commit(lambda: enqueue_analysis(locked.pk))
    locked.save(update_fields=[*fields, "analysis_status"])
    _event(locked, PhotoEvent.Kind.RESTORED, by=by, note=note)
    return locked


def erase_photo(*, photo: Photo, by: User) -> None:
    """Erase a photo in the trash for good now (an erasure request), without waiting for the
    trash period: analyses, row and, after the commit, the file."""
    _own_photo(photo, by)
    if photo.trashed_at is None:
        raise ValidationError({"photo": _("Only a photo in the trash can be erased.")})
    _purge(photo.pk, by=by, note=_("erased at once"))


def erase_photos_of_patient(*, patient: Patient, by: User | None, note: str) -> int:
    """Erase every photo of ``patient`` (live or in the trash) for good now: an erasure request, or
    the end of the record's retention (``by`` None). Each goes the way of any erased photo: into
    the trash with the reason ``erasure_request``, then analyses, row and, after the commit, the
    file and its overlays. Returns how many were erased."""
    erased = 0
    for pk in list(Photo.with_trashed.filter(patient=patient).order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            photo = Photo.with_trashed.select_for_update().get(pk=pk)
            if photo.trashed_at is None:
                photo.trashed_at, photo.trashed_by = timezone.now(), by
                photo.trash_reason, photo.trash_note = TrashReason.ERASURE_REQUEST, note[:500]
                photo.save(update_fields=["trashed_at", "trashed_by", "trash_reason", "trash_note"])
                _event(
                    photo, PhotoEvent.Kind.TRASHED, by=by, reason=TrashReason.ERASURE_REQUEST, note=note[:500]
                )
            erased += _purge(photo.pk, by=by, note=note[:500])
    return erased


def _purge(photo_id: int, *, by: User | None, note: str) -> bool:
    """Delete one trashed photo's analyses and row in one transaction; its file goes after the
    commit unless another row (of any clinic) still names it. False if it was no longer in the
    trash (restored or purged meanwhile)."""
    with transaction.atomic():
        photo = Photo.with_trashed.select_for_update().filter(pk=photo_id, trashed_at__isnull=False).first()
        if photo is None:
            return False
        _event(photo, PhotoEvent.Kind.PURGED, by=by, reason=photo.trash_reason, note=note)
        Analysis.with_trashed.filter(photo=photo).delete()
        Photo.with_trashed.filter(pk=photo.pk).delete()
        transaction.on_commit(partial(_remove_unnamed_file, photo.file_name, photo.clinic_id), robust=True)
    return True


def _remove_unnamed_file(name: str, clinic_id: int) -> None:
    """After a purge's commit: remove the file unless a row (of any clinic) names it. Checked
    under the clinic's row lock, which an upload holds while it places a file and inserts its
    row, so that an upload of the same pixels in between keeps its file. If this fails, the file
    is an orphan that :func:`sweep_storage` removes."""
    with transaction.atomic():
        Clinic.objects.select_for_update().filter(pk=clinic_id).first()
        if not Photo.with_trashed.filter(file_name=name).exists():
            storage.remove(name)


def purge_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Erase the photos that lay in the trash longer than ``PHOTO_TRASH_DAYS``, one transaction
    each, so that one failure leaves the others done and itself untouched. Returns their ids."""
    limit = (now or timezone.now()) - dt.timedelta(days=settings.PHOTO_TRASH_DAYS)
    expired = Photo.with_trashed.filter(trashed_at__lte=limit).order_by("trashed_at", "pk")
    note = _("trash period of %(days)d days over") % {"days": settings.PHOTO_TRASH_DAYS}
    purged = []
    for pk in list(expired.values_list("pk", flat=True)):
        try:
            if _purge(pk, by=None, note=note):
                purged.append(pk)
        except DatabaseError:  # rolled back whole; the next housekeeping run tries again
            logger.exception("erasing photo %s from the trash failed", pk)
    return purged


@transaction.atomic
def start_reanalysis(*, clinic: Clinic | None, by: User | None) -> tuple[Reanalysis, bool]:
    """Start a re-analysis of ``clinic``'s photos (every clinic's when None) by the current engine
    version, or resume the open one; returns the run and whether it is new.

    A clinic admin starts it for their own clinic only (``by``); every clinic at once is the
    operator's, from ``exoderm manage reanalyze`` (``by`` None). A run whose photos all have their
    result is closed here, and a new one covers the photos uploaded since. The command queues the
    photos itself; for a clinic admin a worker does (:func:`~exoderm.photos.tasks.continue_reanalysis`,
    once this commits, and again on a resume: the queuing goes on from its cursor, so a queuing
    task that died is made good by starting again).
    """
    if by is not None:
        require(by, Action.MANAGE_CLINIC)
        if clinic is None or clinic.pk != by.clinic_id:
            raise PermissionDenied(_("A re-analysis is started for your own clinic only."))
    if clinic is not None:
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()  # one start at a time
    version = engine.current_version()
    open_runs = Reanalysis.objects.filter(clinic=clinic, finished_at__isnull=True)
    # the workers analyse with the running version only: a run of an earlier one can never end
    open_runs.exclude(engine_version=version).update(finished_at=timezone.now())
    run = open_runs.filter(engine_version=version).first()
    if run is not None and not selectors.reanalysis_progress(run).complete:
        if by is not None:
            transaction.on_commit(partial(continue_reanalysis.enqueue, run.pk))
        return run, False
    if run is not None:
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
    photos = Photo.objects.all() if clinic is None else Photo.objects.filter(clinic=clinic)
    last = photos.order_by("-pk").values_list("pk", flat=True).first() or 0
    run = Reanalysis(clinic=clinic, engine_version=version, last_photo_id=last, total=photos.count(), by=by)
    run.full_clean()
    run.save()
    if by is not None:
        transaction.on_commit(partial(continue_reanalysis.enqueue, run.pk))
    return run, True
