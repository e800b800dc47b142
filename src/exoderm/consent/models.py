"""Versioned consent templates per clinic and the consents patients signed."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    PHOTOGRAPHY = "photography", _("Photography")
    RESEARCH = "research", _("Research use")
    # documentation and measurement are PHOTOGRAPHY; showing photos outside the record (a
    # before/after image handed to the patient for sharing, the clinic's marketing) needs this
    MARKETING = "marketing", _("Sharing photos (before/after, marketing)")


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

    def signed_text(self, language: str) -> str:
        """What a patient reads and signs on the tablet: the title, a blank line, the text."""
        return f"{self.title(language)}\n\n{self.text(language)}"

    def text_sha256(self, language: str) -> str:
        """The SHA-256 (hex) of :meth:`signed_text` in UTF-8: the version a signature belongs to."""
        return hashlib.sha256(self.signed_text(language).encode()).hexdigest()


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


class ConsentSignature(models.Model):
    """A consent signed by hand on the clinic's tablet: the picture of the signature, the SHA-256 of
    the exact text that was signed, when, on which device and before which member of staff.

    The signature image and the PDF of what was signed are health data: they are kept in this row,
    encrypted with the clinic's data key (:mod:`exoderm.consent.documents`), so that the signature,
    its record and its PDF are written or rolled back together in one transaction.

    A signature belongs to one text version for good: the row cannot be changed once written
    (:meth:`save`), and database triggers (migration 0003) refuse an update that moves it to
    another record, changes its hash, or moves its record to another template or patient.
    Only the encrypted columns may be written again, by a key rotation.
    """

    CLINIC_PATH = "record__patient__clinic"
    #: the columns a data key rotation re-encrypts; everything else is fixed at signing
    SEALED_FIELDS = frozenset({"signature_png", "pdf"})

    record = models.OneToOneField(ConsentRecord, on_delete=models.CASCADE, related_name="signature")
    language = models.CharField(_("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")])
    text_sha256 = models.CharField(_("SHA-256 of the signed text"), max_length=64)
    signed_at = models.DateTimeField(_("signed at"))
    signer_name = models.CharField(_("signed by"), max_length=200)
    device = models.CharField(_("device"), max_length=300)
    witness = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signature_png = models.BinaryField(_("signature (encrypted PNG)"))
    pdf = models.BinaryField(_("signed document (encrypted PDF)"))

    class Meta:
        verbose_name = _("consent signature")

    def __str__(self) -> str:
        return f"signature of {self.record_id} ({self.text_sha256[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Written once; a key rotation may re-encrypt the sealed columns, nothing else changes.
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.SEALED_FIELDS:
                raise ValidationError(_("A signature cannot be changed once it was given."))
        super().save(*args, **kwargs)

    def clean(self) -> None:
        template = self.record.template
        if self.text_sha256 != template.text_sha256(self.language):
            raise ValidationError(
                {"text_sha256": _("The signed text is not the text of this consent version.")}
            )


class ScanFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    JPEG = "jpeg", "JPEG"
    PNG = "png", "PNG"


class ConsentScan(models.Model):
    """The scan of a consent the patient signed on paper: the evidence kept with its record.

    Kept as a PDF (a scanned picture is turned into a one-page PDF on upload), encrypted with the
    clinic's data key in this row like the tablet signature's PDF (:mod:`exoderm.consent.documents`).
    One scan per consent, written once: a scan on file is never replaced (``record`` is unique and
    :meth:`save` refuses changes); only a data key rotation writes the encrypted column again.
    """

    CLINIC_PATH = "record__patient__clinic"
    #: the columns a data key rotation re-encrypts; everything else is fixed at upload
    SEALED_FIELDS = frozenset({"pdf"})

    record = models.OneToOneField(ConsentRecord, on_delete=models.CASCADE, related_name="scan")
    pdf = models.BinaryField(_("scanned document (encrypted PDF)"))
    uploaded_format = models.CharField(_("uploaded as"), max_length=8, choices=ScanFormat.choices)
    uploaded_sha256 = models.CharField(_("SHA-256 of the uploaded file"), max_length=64)
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("scanned consent")

    def __str__(self) -> str:
        return f"scan of {self.record_id} ({self.uploaded_sha256[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.SEALED_FIELDS:
                raise ValidationError(_("A scanned consent cannot be replaced or changed."))
        super().save(*args, **kwargs)
