"""Patients: identity kept apart from the pseudonymous clinical record and its screening."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.areas import validate_areas
from exoderm.core.contraindications import ScreeningItem
from exoderm.patients.search import SEARCH_KEY_LENGTH, name_key, phone_digits

PHONE_CHARACTERS = re.compile(r"[0-9 +\-()/]*")
PHONE_MIN_DIGITS = 6


def validate_phone(value: str) -> None:
    """A phone number as people write it: digits with spaces, +, -, ( ) and /; at least 6 digits.

    The same check for the pages, the API and imports (``full_clean``): "abc" or a stray e-mail
    address in the phone field reached no one.
    """
    if not value:
        return
    if not PHONE_CHARACTERS.fullmatch(value) or sum(c.isdigit() for c in value) < PHONE_MIN_DIGITS:
        raise ValidationError(
            _(
                "Enter a phone number with at least %(digits)s digits; besides digits, only spaces, "
                "+, -, ( ) and / are allowed."
            ),
            code="invalid_phone",
            params={"digits": PHONE_MIN_DIGITS},
        )


# Typed in when the clinic brings its own codes: a code is read aloud, copied by hand and printed
# in exports and reports, so no spaces, slashes or dots ("x y/../"). The generated ones (EX-7K3Q9) pass.
validate_patient_code = RegexValidator(
    r"\A[A-Za-z0-9_-]+\Z",
    message=_("Use only letters A-Z, digits, - and _ in the pseudonymous code (no spaces or other signs)."),
    code="invalid_code",
)


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
    #: A correction's version holds the identity's fields beside the record's (named as they are
    #: there, exoderm.patients.services.patient_version).
    VERSION_FIELDS = {
        name: f"identity__{name}"
        for name in ("given_name", "family_name", "date_of_birth", "email", "phone", "address", "language")
    }

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="patients")
    code = models.CharField(_("pseudonymous code"), max_length=32, validators=[validate_patient_code])
    fitzpatrick = models.PositiveSmallIntegerField(_("Fitzpatrick skin type"), choices=Fitzpatrick.choices)
    glogau = models.PositiveSmallIntegerField(_("Glogau photoaging class"), choices=Glogau.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by an erasure request (exoderm.patients.erasure): the record is kept for its retention
    # period but hidden from every list and readable only by the clinic admin with a reason.
    restricted_at = models.DateTimeField(_("restricted since"), null=True, blank=True, editable=False)

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
    phone = models.CharField(_("phone"), max_length=40, blank=True, validators=[validate_phone])
    address = models.TextField(_("address"), blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")], default="de"
    )
    # The patient asked not to get messages on this channel (exoderm.messaging respects it).
    email_opt_out = models.BooleanField(_("no messages by e-mail"), default=False)
    sms_opt_out = models.BooleanField(_("no messages by SMS"), default=False)
    # Derived on every save (exoderm.patients.search): the names folded to one spelling, so that
    # Müller, Mueller and Muller find each other, and the phone number's digits.
    search_key = models.CharField(max_length=SEARCH_KEY_LENGTH, blank=True, editable=False)
    phone_digits = models.CharField(max_length=40, blank=True, editable=False)

    class Meta:
        verbose_name = _("patient identity")
        indexes = [models.Index(fields=["family_name", "given_name"])]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Here rather than in the services: every write of a name or a phone number (services,
        # data imports, factories) keeps the derived columns in step.
        self.search_key = name_key(self.given_name, self.family_name)
        self.phone_digits = phone_digits(self.phone)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "search_key", "phone_digits"}
        super().save(*args, **kwargs)


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


class ErasureRequest(models.Model):
    """A patient's request to erase their data (GDPR Art. 17), as the clinic admin recorded it.

    It outlives the record: once the record is erased for good ``patient`` is None and only the
    pseudonymous code, the dates and the note prove that the request was honoured.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="erasure_requests"
    )
    patient_code = models.CharField(_("pseudonymous code"), max_length=32)
    received_on = models.DateField(_("request received on"))
    note = models.CharField(_("note"), max_length=1000, blank=True)
    photos_erased = models.BooleanField(_("photos erased at once"))
    retain_until = models.DateField(_("record kept until"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(_("record erased for good at"), null=True, blank=True)

    class Meta:
        verbose_name = _("erasure request")
        ordering = ["-recorded_at", "-pk"]

    def __str__(self) -> str:
        return f"erasure request {self.patient_code} ({self.received_on})"


class RestrictedRecordAccess(models.Model):
    """A clinic admin's short-lived unlock of one restricted record, with the reason they gave."""

    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="restricted_accesses")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=500)
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("access to a restricted record")
        ordering = ["-granted_at", "-pk"]
        indexes = [models.Index(fields=["patient", "user", "-expires_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.patient_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class ErasedApplication(models.Model):
    """What is left of an exosome application when its record was erased for good: which lot and
    vial, how much and on which day, and nothing about the patient. A recall still counts it."""

    CLINIC_PATH = "lot__product__clinic"

    lot = models.ForeignKey("products.Lot", on_delete=models.PROTECT, related_name="erased_applications")
    vial = models.ForeignKey("products.Vial", on_delete=models.PROTECT, related_name="erased_applications")
    volume_ml = models.DecimalField(_("volume (ml)"), max_digits=6, decimal_places=2)
    applied_on = models.DateField(_("applied on"))
    erased_at = models.DateTimeField()

    class Meta:
        verbose_name = _("application in an erased record")
        ordering = ["applied_on", "pk"]

    def __str__(self) -> str:
        return f"lot {self.lot_id} vial {self.vial_id} on {self.applied_on} (record erased)"


class Intake(models.Model):
    """A screening the patient fills in before the visit, through a one-time link without login.

    Only the SHA-256 of the link's token is stored (``token_digest``): the token itself is shown
    once, to the member of staff who created the link. The link works until ``expires_at`` and
    once: the patient's answers (``answers``, as :class:`exoderm.patients.services.Answer` fields)
    are kept here, apart from the screening of record, until a clinician confirms them
    (``confirmed_at``: then they are recorded as :class:`ScreeningAnswer`) or discards them.
    """

    CLINIC_PATH = "patient__clinic"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="intakes")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    submitted_at = models.DateTimeField(_("filled in at"), null=True, blank=True)
    answers = models.JSONField(_("answers"), default=list, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    confirmed = models.BooleanField(_("confirmed"), default=False)

    class Meta:
        verbose_name = _("intake")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"intake {self.pk} of {self.patient_id}"


class IntakeAttempt(models.Model):
    """A request for an intake link that named no usable link (wrong, used or expired token), by
    client address: the rate limit of the public intake page counts these."""

    address = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["address", "at"])]

    def __str__(self) -> str:
        return f"{self.address} at {self.at:%Y-%m-%d %H:%M:%S}"
