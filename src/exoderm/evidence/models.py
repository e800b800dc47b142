"""The clinic's secret behind study pseudonyms (see :mod:`exoderm.evidence.pseudonyms`)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PseudonymKey(models.Model):
    """A random per-clinic key for the keyed hashes that name patients and photos in study data.

    It never leaves the server: no page, API response or export shows it, so the patient code (or
    any id staff see) cannot be derived from a pseudonym without it. Losing it only changes the
    pseudonyms of later exports; it is part of the database and so of every backup.
    """

    CLINIC_PATH = "clinic"

    clinic = models.OneToOneField(
        "clinics.Clinic", on_delete=models.CASCADE, related_name="pseudonym_key", verbose_name=_("clinic")
    )
    secret = models.BinaryField(_("secret"), max_length=32, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("study pseudonym key")

    def __str__(self) -> str:
        return f"pseudonym key of clinic {self.clinic_id}"
