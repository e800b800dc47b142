"""Treatment sessions: barrier-disrupting procedures and the exosome applications after them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.areas import validate_areas


class ProcedureKind(models.TextChoices):
    MICRONEEDLING = "microneedling", _("Microneedling")
    FRACTIONAL_LASER = "fractional_laser", _("Fractional laser")


class LaserType(models.TextChoices):
    ABLATIVE_CO2 = "ablative_co2", _("Ablative CO2")
    ABLATIVE_ERYAG = "ablative_eryag", _("Ablative Er:YAG")
    NON_ABLATIVE = "non_ablative", _("Non-ablative")


ABLATIVE_LASERS = frozenset({LaserType.ABLATIVE_CO2, LaserType.ABLATIVE_ERYAG})


class TreatmentSession(models.Model):
    CLINIC_PATH = "patient__clinic"
    #: The keys of a revision's version (treatments.services.session_version) that name a relation
    #: otherwise, for exoderm.core.display.
    VERSION_FIELDS = {"acknowledged_warnings": "warnings"}

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="sessions")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions")
    performed_at = models.DateTimeField(_("performed at"))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("treatment session")
        verbose_name_plural = _("treatment sessions")
        ordering = ["-performed_at"]
        indexes = [models.Index(fields=["patient", "-performed_at"])]

    def __str__(self) -> str:
        return f"{self.patient} {self.performed_at:%Y-%m-%d %H:%M}"


class Procedure(models.Model):
    CLINIC_PATH = "session__patient__clinic"

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="procedures")
    kind = models.CharField(_("kind"), max_length=32, choices=ProcedureKind.choices)
    areas = models.JSONField(_("areas"), validators=[validate_areas])
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"))
    # microneedling
    device = models.CharField(_("device"), max_length=120, blank=True)
    needle_depth_mm = models.DecimalField(
        _("needle depth (mm)"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    # fractional laser
    laser_type = models.CharField(_("laser type"), max_length=32, choices=LaserType.choices, blank=True)
    wavelength_nm = models.PositiveIntegerField(_("wavelength (nm)"), null=True, blank=True)
    pulse_energy_mj = models.DecimalField(
        _("pulse energy (mJ)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    density_pct = models.DecimalField(_("density (%)"), max_digits=5, decimal_places=2, null=True, blank=True)
    # both
    passes = models.PositiveSmallIntegerField(_("passes"), null=True, blank=True)

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["started_at", "id"]


class ExosomeApplication(models.Model):
    CLINIC_PATH = "session__patient__clinic"

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="applications")
    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, related_name="applications")
    vial = models.ForeignKey("products.Vial", on_delete=models.PROTECT, related_name="applications")
    volume_ml = models.DecimalField(_("volume (ml)"), max_digits=6, decimal_places=2)
    areas = models.JSONField(_("areas"), validators=[validate_areas])
    applied_at = models.DateTimeField(_("applied at"))

    class Meta:
        verbose_name = _("exosome application")
        verbose_name_plural = _("exosome applications")
        ordering = ["applied_at", "id"]


class ProtocolWarning(models.Model):
    """A 'warn' rule that fired for a saved session, with who acknowledged it.

    Its :attr:`message` is worded from ``rule`` and ``params`` when it is read, in the reader's
    language; ``recorded_message`` keeps the words the clinician acknowledged.
    """

    CLINIC_PATH = "session__patient__clinic"
    VERSION_FIELDS = {"message": "recorded_message"}

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="warnings")
    rule = models.CharField(_("rule"), max_length=64)
    recorded_message = models.TextField(_("message"), db_column="message")
    # Empty for warnings recorded before params were stored: those show their recorded message.
    params = models.JSONField(default=dict, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"))

    class Meta:
        verbose_name = _("protocol warning")
        verbose_name_plural = _("acknowledged warnings")
        ordering = ["id"]

    #: The stored fields of a version that its message words: a version shows the message (in the
    #: reader's language, see :meth:`version_message`) instead of the rule's code and parameters.
    VERSION_MESSAGE_FROM = ("rule", "message", "params")

    @classmethod
    def version_message(cls, row: Mapping[str, Any]) -> str | None:
        """The message of a warning as a stored version holds it: worded from its rule and
        parameters, as :attr:`message` is; the recorded words where it has no parameters."""
        params = row.get("params")
        if row.get("rule") and isinstance(params, Mapping) and params:
            from exoderm.treatments.protocol import warning_message

            return warning_message(str(row["rule"]), dict(params))
        return str(row.get("message") or "") or None

    @property
    def message(self) -> str:
        if not self.params:
            return self.recorded_message
        # Imported here: the protocol module imports this one.
        from exoderm.treatments.protocol import warning_message

        return warning_message(self.rule, self.params)
