"""Clinics, their users and roles, and API tokens."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.contraindications import DEFAULT_SEVERITY, Severity


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not an IANA time zone."), params={"value": value})


def default_contraindication_policy() -> dict[str, str]:
    return {item: severity.value for item, severity in DEFAULT_SEVERITY.items()}


class Clinic(models.Model):
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Berlin", validators=[validate_time_zone]
    )
    language = models.CharField(
        _("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")], default="de"
    )
    application_window_minutes = models.PositiveSmallIntegerField(
        _("application window after a procedure (minutes)"), default=30
    )
    contraindication_policy = models.JSONField(
        _("contraindication severity per screening item"), default=default_contraindication_policy
    )
    photo_quota_bytes = models.BigIntegerField(_("photo storage quota (bytes)"), default=20 * 1024**3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("clinic")
        verbose_name_plural = _("clinics")

    def __str__(self) -> str:
        return self.name

    def severity_of(self, item: str) -> Severity:
        value = self.contraindication_policy.get(item)
        return Severity(value) if value else DEFAULT_SEVERITY[item]


class Role(models.TextChoices):
    CLINICIAN = "clinician", _("Clinician")
    ASSISTANT = "assistant", _("Assistant")
    RESEARCHER = "researcher", _("Researcher")
    CLINIC_ADMIN = "clinic_admin", _("Clinic administrator")


class User(AbstractUser):
    """A person who logs in. Every user but a superuser belongs to exactly one clinic."""

    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
        verbose_name=_("clinic"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.ASSISTANT)
    language = models.CharField(
        _("language"), max_length=8, choices=[("de", "Deutsch"), ("en", "English")], blank=True
    )

    def clean(self) -> None:
        super().clean()
        if self.clinic_id is None and not self.is_superuser:
            raise ValidationError({"clinic": _("Every user except a superuser belongs to a clinic.")})

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.user} until {self.expires_at:%Y-%m-%d}"
