"""Versioned consent templates per clinic and the consents patients signed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    PHOTOGRAPHY = "photography", _("Photography")
    RESEARCH = "research", _("Research use")


class ConsentTemplate(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="consent_templates")
    kind = models.CharField(_("kind"), max_length=16, choices=ConsentKind.choices)
    version = models.PositiveIntegerField(_("version"))
    title_de = models.CharField(_("title (German)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    text_de = models.TextField(_("text (German)"))
    text_en = models.TextField(_("text (English)"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("consent template")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "kind", "version"], name="consent_version_unique")
        ]
        ordering = ["kind", "-version"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"

    def title(self, language: str) -> str:
        return self.title_de if language == "de" else self.title_en

    def text(self, language: str) -> str:
        return self.text_de if language == "de" else self.text_en


class ConsentRecord(models.Model):
    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="consents")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="records")
    signed_at = models.DateTimeField(_("signed at"))
    signed_by_name = models.CharField(_("signed by"), max_length=200)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        verbose_name = _("consent")
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.template} signed {self.signed_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None
