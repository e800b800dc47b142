"""Standardized photos of a patient and the skinlab analyses of them, one per engine version."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exoderm.core.areas import Area


class View(models.TextChoices):
    FRONT = "front", _("Front")
    LEFT_45 = "left_45", _("Left 45°")
    RIGHT_45 = "right_45", _("Right 45°")
    CLOSE_UP = "close_up", _("Close-up of an area")


FACE_VIEWS = frozenset({View.FRONT, View.LEFT_45, View.RIGHT_45})


class Timepoint(models.TextChoices):
    BASELINE = "baseline", _("Baseline (before the first session)")
    SESSION = "session", _("Treatment session")
    FOLLOW_UP = "follow_up", _("Follow-up")
    HEALING = "healing", _("Healing (days after a session)")


class AnalysisStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for analysis")
    RUNNING = "running", _("Being analysed")
    DONE = "done", _("Analysed")
    FAILED = "failed", _("Analysis failed")


class TrashReason(models.TextChoices):
    WRONG_PATIENT = "wrong_patient", _("Taken of the wrong patient")
    FAILED_CAPTURE = "failed_capture", _("Failed or poor capture")
    ERASURE_REQUEST = "erasure_request", _("The patient's erasure request")
    OTHER = "other", _("Other reason")


class LivePhotoManager(models.Manager["Photo"]):
    """Photos that are not in the trash. It is ``Photo.objects`` and the default manager, so every
    query, related manager (``patient.photos``) and :func:`~exoderm.core.access.in_clinic` sees live
    photos only; trashed ones are reached on purpose through ``Photo.with_trashed``."""

    def get_queryset(self) -> models.QuerySet[Photo]:
        return super().get_queryset().filter(trashed_at__isnull=True)


class Photo(models.Model):
    """One stored photo: the validated, re-encoded pixels of an upload, and where it belongs.

    The file lives at ``MEDIA_ROOT/photos/<file_name>``, named by the SHA-256 of its bytes.
    ``source_sha256`` is the digest of the upload as sent, so the same file sent twice is found.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="photos")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="photos")
    visit = models.ForeignKey(
        "courses.Visit", on_delete=models.SET_NULL, null=True, blank=True, related_name="photos"
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="photos",
        verbose_name=_("treatment session"),
    )
    timepoint = models.CharField(_("time point"), max_length=16, choices=Timepoint.choices)
    view = models.CharField(_("view"), max_length=16, choices=View.choices)
    area = models.CharField(_("area of a close-up"), max_length=32, choices=Area.choices, blank=True)
    mm_per_px = models.FloatField(_("scale (mm per pixel)"), null=True, blank=True)

    taken_at = models.DateTimeField(_("taken at"))
    taken_at_source = models.CharField(
        max_length=8, choices=[("exif", _("camera")), ("client", _("entered")), ("upload", _("upload time"))]
    )
    orientation = models.PositiveSmallIntegerField(_("original EXIF orientation"), default=1)
    source_format = models.CharField(_("uploaded format"), max_length=8)
    source_jpeg_quality = models.PositiveSmallIntegerField(
        _("JPEG quality of the upload"), null=True, blank=True
    )  # estimated from its quantisation tables; None for other formats (and photos stored before)
    source_sha256 = models.CharField(max_length=64)
    source_size = models.BigIntegerField()

    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=32)
    size_bytes = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    analysis_status = models.CharField(
        _("analysis"), max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED
    )
    analysis_error = models.TextField(blank=True)
    analysis_task_id = models.CharField(max_length=64, blank=True)
    analysis_worker = models.CharField(max_length=200, blank=True)  # "host:pid" while running
    analysis_started_at = models.DateTimeField(null=True, blank=True)

    # In the trash: hidden everywhere, restorable until purged (PHOTO_TRASH_DAYS after trashed_at).
    trashed_at = models.DateTimeField(_("moved to the trash at"), null=True, blank=True)
    trashed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trash_reason = models.CharField(_("reason"), max_length=16, choices=TrashReason.choices, blank=True)
    trash_note = models.CharField(_("note"), max_length=500, blank=True)

    objects = LivePhotoManager()
    with_trashed = models.Manager["Photo"]()

    #: Set (not stored) by an upload that brought this photo back from the trash.
    restored_from_trash = False

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["taken_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "source_sha256"], name="photo_upload_once_per_clinic"),
            models.UniqueConstraint(fields=["clinic", "sha256"], name="photo_content_once_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(view="close_up") | models.Q(area=""), name="photo_area_only_for_close_up"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "taken_at"]),
            models.Index(fields=["analysis_status"]),
            models.Index(fields=["trashed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.view} {self.taken_at:%Y-%m-%d}"

    @property
    def stored_lossless(self) -> bool:
        """Whether the stored file keeps every pixel: PNG (from PNG and TIFF uploads) does, JPEG
        (from JPEG and HEIC uploads) does not."""
        return self.content_type == "image/png"

    @property
    def purge_after(self) -> dt.datetime | None:
        """When housekeeping erases this photo from the trash (None while it is not trashed)."""
        if self.trashed_at is None:
            return None
        return self.trashed_at + dt.timedelta(days=settings.PHOTO_TRASH_DAYS)


class LiveAnalysisManager(models.Manager["Analysis"]):
    """Analyses of live photos only (the default manager): a trashed photo's measurements are
    hidden with it; ``Analysis.with_trashed`` reaches them for restoring and purging."""

    def get_queryset(self) -> models.QuerySet[Analysis]:
        return super().get_queryset().filter(photo__trashed_at__isnull=True)


class Analysis(models.Model):
    """skinlab's measurement record of one photo by one engine version (the spec's JSON, verbatim)."""

    CLINIC_PATH = "photo__clinic"

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="analyses")
    engine_version = models.CharField(max_length=32)
    roi = models.CharField(max_length=16)
    usable = models.BooleanField()
    data = models.JSONField()
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LiveAnalysisManager()
    with_trashed = models.Manager["Analysis"]()

    class Meta:
        verbose_name = _("analysis")
        verbose_name_plural = _("analyses")
        ordering = ["photo", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["photo", "engine_version"], name="one_analysis_per_engine_version"
            )
        ]
        # a re-analysis counts the results of its version and those of the last minutes (its rate)
        # with index scans, not by reading every analysis of every version
        indexes = [
            models.Index(fields=["engine_version", "photo"], name="analysis_version_photo"),
            models.Index(fields=["engine_version", "created_at"], name="analysis_version_created"),
        ]

    def __str__(self) -> str:
        return f"analysis of photo {self.photo_id} by skinlab {self.engine_version}"

    def metric(self, region: str, key: str) -> float | None:
        value = self.data.get("regions", {}).get(region, {}).get("metrics", {}).get(key)
        return None if value is None else float(value)


class PhotoEvent(models.Model):
    """The audit trail of deletion: who moved which photo of which patient to the trash, restored or
    purged it, when and why. It keeps the photo's id only, never its pixels or hash."""

    CLINIC_PATH = "clinic"

    class Kind(models.TextChoices):
        TRASHED = "trashed", _("moved to the trash")
        RESTORED = "restored", _("restored")
        PURGED = "purged", _("erased for good")

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    photo_id = models.BigIntegerField(_("photo id"))
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=16, choices=TrashReason.choices, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: purged by housekeeping after the trash period
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("photo deletion event")
        verbose_name_plural = _("photo deletion events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["clinic", "photo_id"])]

    def __str__(self) -> str:
        return f"photo {self.photo_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Reanalysis(models.Model):
    """A re-analysis of the stored photos by one engine version: its progress is counted from the
    database (the photos' results and states), so every host sees the same and a stopped run resumes.

    The run covers the live photos of ``clinic`` (all clinics when it is None: started by the
    operator's command) up to ``last_photo_id``, the newest photo when it started; later uploads are
    analysed on arrival anyway. ``queued_up_to`` is how far the queuing has come, in photo ids: a
    resumed run goes on from there, so that no photo is queued twice.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey(
        "clinics.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    engine_version = models.CharField(_("engine version"), max_length=32)
    last_photo_id = models.BigIntegerField()
    queued_up_to = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField(_("photos at the start"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: started by `exoderm manage reanalyze`
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("re-analysis")
        verbose_name_plural = _("re-analyses")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["clinic", "finished_at"])]

    def __str__(self) -> str:
        return f"re-analysis by skinlab {self.engine_version} from {self.started_at:%Y-%m-%d %H:%M}"
