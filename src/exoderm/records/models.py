"""Revisions: the version of a record before each correction, with who corrected it, when and why.

A correction never overwrites without a trace: the owning app's service writes one
:class:`Revision` per correction, in the same transaction as the change, holding the whole old
version (``snapshot``) and the fields that changed (``changes``: name -> [old, new]).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

REASON_MAX_LENGTH = 2000


class Revision(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    # The patient the record concerns (none for a lot), so that a patient's history is one query.
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="revisions", null=True, blank=True
    )
    snapshot = models.JSONField(_("version before the correction"))
    changes = models.JSONField(_("changed fields"), default=dict)
    reason = models.TextField(_("reason"), max_length=REASON_MAX_LENGTH)
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    corrected_at = models.DateTimeField(_("corrected at"))

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["-corrected_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-corrected_at"])]

    def __str__(self) -> str:
        return f"{self.content_type.model} {self.object_id} corrected {self.corrected_at:%Y-%m-%d %H:%M}"
