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


# The German states as the ``holidays`` package names their subdivisions (ISO 3166-2:DE).
GERMAN_STATES = [
    ("BW", "Baden-Württemberg"),
    ("BY", "Bayern"),
    ("BE", "Berlin"),
    ("BB", "Brandenburg"),
    ("HB", "Bremen"),
    ("HH", "Hamburg"),
    ("HE", "Hessen"),
    ("MV", "Mecklenburg-Vorpommern"),
    ("NI", "Niedersachsen"),
    ("NW", "Nordrhein-Westfalen"),
    ("RP", "Rheinland-Pfalz"),
    ("SL", "Saarland"),
    ("SN", "Sachsen"),
    ("ST", "Sachsen-Anhalt"),
    ("SH", "Schleswig-Holstein"),
    ("TH", "Thüringen"),
]


def default_contraindication_policy() -> dict[str, str]:
    return {item: severity.value for item, severity in DEFAULT_SEVERITY.items()}


class ClinicGroup(models.Model):
    """Clinics run by one operator on one installation (a chain of practices, a research network).

    A group changes nothing about what a clinic's users see: each clinic stays isolated as before.
    It only lets the group's administrators (``User.administers_group``) list its clinics and
    create further ones with their first clinic administrators.
    """

    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("clinic group")
        verbose_name_plural = _("clinic groups")

    def __str__(self) -> str:
        return self.name


class Clinic(models.Model):
    name = models.CharField(_("name"), max_length=200)
    group = models.ForeignKey(
        ClinicGroup,
        on_delete=models.PROTECT,
        related_name="clinics",
        null=True,
        blank=True,
        verbose_name=_("clinic group"),
    )
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
    mfa_required = models.BooleanField(
        _("every user signs in with a second factor"),
        default=False,
        help_text=_("Clinic administrators always need one; this requires it of every user."),
    )
    holiday_state = models.CharField(
        _("federal state (public holidays)"),
        max_length=2,
        choices=GERMAN_STATES,
        blank=True,
        help_text=_(
            "The German state whose public holidays close the clinic; empty: nationwide holidays only."
        ),
    )
    # PNG, scaled down and re-encoded on upload (exoderm.clinics.logo); printed on patient documents
    logo_png = models.BinaryField(_("logo"), null=True, blank=True, editable=False)
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
    """A person who logs in. Every user but a superuser belongs to exactly one clinic.

    ``administers_group`` makes the user a group administrator: a right *beside* the role, not a
    role. Every check of clinic records rests on "a user sees their own clinic's records, as their
    role allows" (``exoderm.core.access``, ``exoderm.core.permissions``); a group administrator
    keeps their one clinic and role there, so none of those checks changes, and being group
    administrator adds no access to any clinic's patients (health data are need-to-know: managing
    a clinic is no reason to read its records). It adds only what ``exoderm.clinics.groups`` does:
    listing the group's clinics and creating clinics with their first administrators. The group must
    be the group of the user's own clinic, and the account signs in with a second factor.
    """

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
    administers_group = models.ForeignKey(
        ClinicGroup,
        on_delete=models.PROTECT,
        related_name="admins",
        null=True,
        blank=True,
        verbose_name=_("administers the clinic group"),
    )
    # Set when someone else set the password (the first one at creation, an administrator's reset):
    # whoever set it knows it, so the user must choose their own before doing anything else.
    must_change_password = models.BooleanField(_("must choose a new password"), default=False)

    def clean(self) -> None:
        super().clean()
        if self.clinic_id is None and not self.is_superuser:
            raise ValidationError({"clinic": _("Every user except a superuser belongs to a clinic.")})
        if self.administers_group_id is not None and (
            self.clinic is None or self.clinic.group_id != self.administers_group_id
        ):
            raise ValidationError(
                {"administers_group": _("A group administrator belongs to a clinic of the group.")}
            )

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def needs_second_factor(self) -> bool:
        """Clinic and group administrators always sign in with a second factor; others when their
        clinic says so."""
        return (
            self.role == Role.CLINIC_ADMIN
            or self.administers_group_id is not None
            or bool(self.clinic is not None and self.clinic.mfa_required)
        )


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 digest is stored; a revoked token stays listed."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_because = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"token of {self.user} until {self.expires_at:%Y-%m-%d}"


class SignInScope(models.TextChoices):
    USERNAME = "username", _("username")
    ADDRESS = "address", _("client address")


class SignInFailure(models.TextChoices):
    PASSWORD = "password", _("wrong password or unknown username")
    CODE = "code", _("wrong second-factor code")
    LOCKED = "locked", _("attempt while locked")


class SignInAttempt(models.Model):
    """A failed sign-in (web or API), counted per username and per client address for the lockout.

    Kept in the database, not in process memory, so that every app process counts the same failures.
    The username is stored as typed (in lower case, cut to its field's length) whether or not
    such a user exists: unknown names are throttled exactly like real ones.
    """

    username = models.CharField(max_length=150)
    address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)
    failure = models.CharField(max_length=10, choices=SignInFailure.choices)

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="signin_attempt_username_at"),
            models.Index(fields=["address", "at"], name="signin_attempt_address_at"),
        ]


class SignInLock(models.Model):
    """A username or client address locked after too many failures, until ``until`` or a lift.

    Locks are kept after they end (the history shows who was locked and who lifted it).
    """

    scope = models.CharField(max_length=10, choices=SignInScope.choices)
    key = models.CharField(max_length=150)
    started_at = models.DateTimeField()
    until = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "until"], name="signin_lock_scope_key_until")]


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238 TOTP). Confirmed once the user has typed a first code.

    ``last_step`` is the time step of the last accepted code: a code is accepted only once.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)


class RecoveryCode(models.Model):
    """A one-time code for a lost authenticator. Only a SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
