"""The outbox (one row per message to one patient on one channel) and the clinic's message templates."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.text import NOTE, SHORT_TEXT


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class MessageKind(models.TextChoices):
    VISIT_REMINDER = "visit_reminder", _("Reminder before a visit")
    AFTERCARE_MICRONEEDLING = "aftercare_microneedling", _("Aftercare after microneedling")
    AFTERCARE_LASER = "aftercare_laser", _("Aftercare after a fractional laser")
    CHECK_IN = "check_in", _("Check-in on day 2")
    FOLLOW_UP_INVITATION = "follow_up_invitation", _("Invitation to book a follow-up")
    RECALL_NOTICE = "recall_notice", _("Recall notice")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")
    # The worker died after handing the message to the server, before it heard back: it may have
    # been delivered. Never sent again by itself (that could send it twice); staff decide.
    UNCONFIRMED = "unconfirmed", _("Unconfirmed")
    SKIPPED = "skipped", _("Not sent")


class OutboxMessage(models.Model):
    """One message to one patient on one channel, and what became of it.

    ``key`` names what the message is about (kind, the visit, session or lot, patient, channel): producers
    create a message only once per key, however often they run.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=32, choices=MessageKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8)
    key = models.CharField(max_length=120, unique=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=SHORT_TEXT, blank=True)
    body = models.TextField(_("text"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    # why a message was not sent, failed or bounced, or what went wrong in the last attempt
    detail = models.CharField(_("detail"), max_length=NOTE, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("next attempt at"))
    # the claim of the worker sending it (see exoderm.messaging.delivery)
    claim_token = models.CharField(max_length=36, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_task = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_reference = models.CharField(max_length=200, blank=True)
    visit = models.ForeignKey(
        "courses.Visit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "not_before"]),
            models.Index(fields=["clinic", "-created_at"]),
            models.Index(fields=["patient", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} to patient {self.patient_id} ({self.status})"


class MessageTemplate(models.Model):
    """A clinic's own wording of one kind of message on one channel in one language.

    Without one the built-in wording (:mod:`exoderm.messaging.wording`) is used.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=32, choices=MessageKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")])
    subject = models.CharField(_("subject"), max_length=SHORT_TEXT, blank=True)
    body = models.TextField(_("text"))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("message template")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "channel", "language"], name="message_template_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} {self.language}"
