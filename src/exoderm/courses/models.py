"""Course templates and the planned visits (sessions and follow-ups) they generate."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_followup_weeks(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(w, int) and 1 <= w <= 104 for w in value):
        raise ValidationError(_("Follow-ups are a list of whole weeks between 1 and 104."))
    if len(set(value)) != len(value):
        raise ValidationError(_("A follow-up week is listed twice."))


class CourseTemplate(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="course_templates")
    name = models.CharField(_("name"), max_length=200)
    session_count = models.PositiveSmallIntegerField(
        _("sessions"), validators=[MinValueValidator(1), MaxValueValidator(24)]
    )
    interval_weeks = models.PositiveSmallIntegerField(
        _("weeks between sessions"), validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    followup_weeks = models.JSONField(
        _("follow-ups (weeks after each session)"), default=list, validators=[validate_followup_weeks]
    )
    window_days = models.PositiveSmallIntegerField(
        _("due window (± days)"), default=3, validators=[MaxValueValidator(28)]
    )

    class Meta:
        verbose_name = _("course template")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="course_template_name_unique")]

    def __str__(self) -> str:
        return self.name


class Course(models.Model):
    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="courses")
    template = models.ForeignKey(CourseTemplate, on_delete=models.PROTECT, related_name="courses")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="courses")
    starts_at = models.DateTimeField(_("first session at"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("course")
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.template} for {self.patient}"


class VisitKind(models.TextChoices):
    SESSION = "session", _("Treatment session")
    FOLLOW_UP = "follow_up", _("Follow-up")


class VisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


class Visit(models.Model):
    CLINIC_PATH = "course__patient__clinic"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="visits")
    kind = models.CharField(_("kind"), max_length=16, choices=VisitKind.choices)
    session_number = models.PositiveSmallIntegerField(_("session number"))
    weeks_after_session = models.PositiveSmallIntegerField(
        _("weeks after the session"), null=True, blank=True
    )
    planned_at = models.DateTimeField(_("planned at"))
    due_from = models.DateField(_("due from"))
    due_until = models.DateField(_("due until"))
    status = models.CharField(
        _("status"), max_length=16, choices=VisitStatus.choices, default=VisitStatus.PLANNED
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="visits"
    )

    class Meta:
        verbose_name = _("visit")
        ordering = ["planned_at"]
        indexes = [models.Index(fields=["status", "due_until"]), models.Index(fields=["planned_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.planned_at:%Y-%m-%d}"


class CalendarFeed(models.Model):
    """A clinician's secret iCalendar feed address. Calendar apps cannot log in, so the address
    itself is the credential; only a SHA-256 digest of its token is stored."""

    CLINIC_PATH = "user__clinic"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("calendar feed")

    def __str__(self) -> str:
        return f"calendar feed of {self.user}"
