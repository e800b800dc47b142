"""Patients: identity kept apart from the pseudonymous clinical record and its screening."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.areas import validate_areas
from exoderm.core.contraindications import ScreeningItem


class Fitzpatrick(models.IntegerChoices):
    I = 1, "I"  # noqa: E741
    II = 2, "II"
    III = 3, "III"
    IV = 4, "IV"
    V = 5, "V"
    VI = 6, "VI"


class Glogau(models.IntegerChoices):
    I = 1, _("I (no wrinkles)")  # noqa: E741
    II = 2, _("II (wrinkles in motion)")
    III = 3, _("III (wrinkles at rest)")
    IV = 4, _("IV (only wrinkles)")


class Patient(models.Model):
    """The clinical record. It carries a pseudonymous code, never the name."""

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="patients")
    code = models.CharField(_("pseudonymous code"), max_length=32)
    fitzpatrick = models.PositiveSmallIntegerField(_("Fitzpatrick skin type"), choices=Fitzpatrick.choices)
    glogau = models.PositiveSmallIntegerField(_("Glogau photoaging class"), choices=Glogau.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="patient_code_unique_per_clinic")
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PatientIdentity(models.Model):
    """Who the patient is. Researchers never see this table."""

    CLINIC_PATH = "patient__clinic"

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="identity")
    given_name = models.CharField(_("given name"), max_length=120)
    family_name = models.CharField(_("family name"), max_length=120)
    date_of_birth = models.DateField(_("date of birth"))
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    address = models.TextField(_("address"), blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")], default="de"
    )

    class Meta:
        verbose_name = _("patient identity")
        indexes = [models.Index(fields=["family_name", "given_name"])]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"


class ScreeningAnswer(models.Model):
    """One dated answer to one contraindication screening item; the newest answer counts."""

    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="screening_answers")
    item = models.CharField(_("item"), max_length=32, choices=ScreeningItem.choices)
    present = models.BooleanField(_("present"))
    areas = models.JSONField(_("areas"), default=list, blank=True)
    last_dose_on = models.DateField(_("last dose on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    answered_on = models.DateField(_("answered on"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("screening answer")
        ordering = ["-answered_on", "-recorded_at"]
        indexes = [models.Index(fields=["patient", "item", "-answered_on"])]

    def __str__(self) -> str:
        return f"{self.item}={'yes' if self.present else 'no'} ({self.answered_on})"

    def clean(self) -> None:
        if self.areas:
            validate_areas(self.areas)
