"""The outbox (one row per message to one patient on one channel) and the clinic's message templates."""

from __future__ import annotations

import datetime as dt

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
    SIGNED_CONSENT = "signed_consent", _("Signed consent (PDF)")
    INTAKE_LINK = "intake_link", _("Questionnaire link before the visit")


#: Messages a patient asked for (or staff sent at the patient's request, in the patient's presence):
#: a copy of the consent the patient just signed, the link to the questionnaire for the next visit.
#: An opt-out is the patient's "no" to the clinic's own messages (reminders, aftercare, invitations,
#: notices); it does not refuse what the patient asks for now, so these go out despite it, on the
#: e-mail channel only.
TRANSACTIONAL_KINDS = frozenset({MessageKind.SIGNED_CONSENT, MessageKind.INTAKE_LINK})

#: Kinds whose wording the clinic admin edits (Admin -> Message templates). The transactional ones
#: are worded by the code that sends them, translated like the pages, around a document or a link.
TEMPLATE_KINDS = tuple(kind for kind in MessageKind if kind not in TRANSACTIONAL_KINDS)

#: The placeholder in a stored body that the worker replaces by the sealed link when it sends, so
#: that neither the outbox row nor the outbox page holds a link that opens an intake.
LINK_PLACEHOLDER = "{{ link }}"


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


def appointment_stamp(starts_at: dt.datetime) -> str:
    """The start time in a reminder's key: an appointment moved later gets a reminder of its own."""
    return starts_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


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
    appointment = models.ForeignKey(
        "booking.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # the signed consent whose PDF is attached: rendered from the signature when the message is
    # sent, so the outbox holds no copy of the document
    consent_signature = models.ForeignKey(
        "consent.ConsentSignature", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    intake = models.ForeignKey(
        "patients.Intake", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # the intake link, encrypted with the clinic's data key (exoderm.messaging.sealing): the
    # database alone opens no intake, as Intake.token_digest promises
    sealed_link = models.BinaryField(null=True, blank=True, editable=False)
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
