"""Adverse events: what went wrong after a treatment, graded and assessed as a clinical trial would.

The vocabulary follows what trial coordinators report with: a term, onset and resolution dates,
the CTCAE grade (1 to 5), relatedness to the procedure and to the product on the WHO-UMC-like
five-step scale, seriousness (a serious event is reported, so it carries the report date) and the
half of the face it concerns (a split-face study treats the halves differently).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.text import NOTE


class Term(models.TextChoices):
    ERYTHEMA = "erythema", _("Erythema")
    OEDEMA = "oedema", _("Oedema")
    PAIN = "pain", _("Pain")
    PETECHIAE = "petechiae", _("Petechiae")
    INFECTION = "infection", _("Infection")
    HYPERPIGMENTATION = "hyperpigmentation", _("Hyperpigmentation")
    ALLERGIC_REACTION = "allergic_reaction", _("Allergic reaction")
    OTHER = "other", _("Other (described)")


class Grade(models.IntegerChoices):
    """Severity as CTCAE grades."""

    MILD = 1, _("1 – mild")
    MODERATE = 2, _("2 – moderate")
    SEVERE = 3, _("3 – severe")
    LIFE_THREATENING = 4, _("4 – life-threatening")
    DEATH = 5, _("5 – death")


class Relatedness(models.TextChoices):
    NOT_RELATED = "not_related", _("Not related")
    UNLIKELY = "unlikely", _("Unlikely")
    POSSIBLE = "possible", _("Possible")
    PROBABLE = "probable", _("Probable")
    DEFINITE = "definite", _("Definite")


class Side(models.TextChoices):
    """Which half of the face the event concerns (left and right are the patient's own)."""

    FACE_LEFT = "face_left", _("Left half of the face")
    FACE_RIGHT = "face_right", _("Right half of the face")
    WHOLE = "whole", _("Whole treated area")


class AdverseEvent(models.Model):
    """One adverse event of a patient, optionally after one of their treatment sessions.

    Corrections keep the version before them as a revision (``exoderm.records``). The event goes
    only with the record itself, when an erasure request's retention period is over.
    """

    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="adverse_events")
    session = models.ForeignKey(
        "treatments.TreatmentSession",
        on_delete=models.CASCADE,  # sessions are deleted only with the whole record
        null=True,
        blank=True,
        related_name="adverse_events",
        verbose_name=_("treatment session"),
    )
    term = models.CharField(_("term"), max_length=32, choices=Term.choices)
    description = models.CharField(_("description"), max_length=NOTE, blank=True)
    side = models.CharField(_("side"), max_length=16, choices=Side.choices, default=Side.WHOLE)
    onset = models.DateField(_("onset"))
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    severity = models.PositiveSmallIntegerField(_("severity (CTCAE grade)"), choices=Grade.choices)
    serious = models.BooleanField(_("serious"))
    report_date = models.DateField(_("reported on"), null=True, blank=True)
    related_to_procedure = models.CharField(
        _("related to the procedure"), max_length=16, choices=Relatedness.choices
    )
    related_to_product = models.CharField(
        _("related to the product"), max_length=16, choices=Relatedness.choices
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["-onset", "-id"]
        indexes = [models.Index(fields=["patient", "-onset"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__gte=1, severity__lte=5), name="ae_ctcae_grade"
            ),
            models.CheckConstraint(
                condition=models.Q(resolved_on__isnull=True) | models.Q(resolved_on__gte=models.F("onset")),
                name="ae_resolved_not_before_onset",
            ),
            models.CheckConstraint(
                condition=models.Q(serious=False) | models.Q(report_date__isnull=False),
                name="ae_serious_has_report_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(term="other") | ~models.Q(description=""), name="ae_other_is_described"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.term} grade {self.severity} from {self.onset}"

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.resolved_on is None
