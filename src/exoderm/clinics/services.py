"""Writes for clinics, users and API tokens: accounts, a user's language, the clinic's protocol settings,
and signing in: throttling and lockout, the second factor (TOTP and recovery codes), token revocation.

Throttling is our own small model (SignInAttempt, SignInLock) rather than django-axes: axes 8.3 is not
declared for Django 6.1, has one failure limit for every lockout parameter (we lock usernames after 10
and addresses after 50), does not see second-factor failures or the API's own token endpoint without
glue, and a lock that must end a user's API tokens would need its signals anyway.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyotp
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from exoderm.clinics import selectors
from exoderm.clinics.logo import clean_logo
from exoderm.clinics.models import (
    ApiToken,
    Clinic,
    ClinicGroup,
    RecoveryCode,
    Role,
    SignInAttempt,
    SignInFailure,
    SignInLock,
    SignInScope,
    TotpDevice,
    User,
)
from exoderm.core.access import NotFound
from exoderm.core.contraindications import ScreeningItem, Severity
from exoderm.core.permissions import Action, can, require
from exoderm.core.text import text_problem

if TYPE_CHECKING:
    from django.http import HttpRequest

RECOVERY_CODE_COUNT = 10


class SignInLocked(Exception):
    """The username or the client address (``scope``) is locked until ``until``; no password is checked."""

    def __init__(self, until: dt.datetime, scope: str = SignInScope.USERNAME) -> None:
        super().__init__(until, scope)
        self.until = until
        self.scope = scope

    @property
    def retry_after_seconds(self) -> int:
        return max(1, int((self.until - timezone.now()).total_seconds() + 0.999))


class SecondFactorNeeded(Exception):
    """The password was right, but the account signs in with a second factor: send a code
    (``enrolled``), or enrol one on the web first (not ``enrolled``)."""

    def __init__(self, *, enrolled: bool) -> None:
        super().__init__(enrolled)
        self.enrolled = enrolled


class PasswordChangeNeeded(Exception):
    """The account's password was set by someone else (temporary): the user must choose their own
    on the web before the API serves them."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def record_sign_in_failure(*, username: str, address: str | None, failure: SignInFailure) -> None:
    """Count a failed sign-in; lock the username or the address that reached its limit.

    Failures before the end of the last lock of the same username or address do not count again, so
    a lock lifted by an administrator starts a fresh count. A new username lock ends the API tokens
    of the account of that name (its password may be under attack).
    """
    now = timezone.now()
    key = selectors.sign_in_key(username)
    SignInAttempt.objects.create(username=key, address=address, at=now, failure=failure)
    if failure == SignInFailure.LOCKED:
        return
    counted = [SignInFailure.PASSWORD, SignInFailure.CODE]
    window_start = now - dt.timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    scopes = [(SignInScope.USERNAME, key, Q(username=key), settings.LOGIN_FAILURE_LIMIT)]
    if address:
        scopes.append(
            (SignInScope.ADDRESS, address, Q(address=address), settings.LOGIN_ADDRESS_FAILURE_LIMIT)
        )
    for scope, scope_key, match, limit in scopes:
        since = max(window_start, selectors.last_lock_end(scope=scope, key=scope_key) or window_start)
        failures = SignInAttempt.objects.filter(match, at__gt=since, failure__in=counted).count()
        if failures < limit:
            continue
        SignInLock.objects.create(
            scope=scope,
            key=scope_key,
            started_at=now,
            until=now + dt.timedelta(minutes=settings.LOGIN_LOCK_MINUTES),
        )
        if scope == SignInScope.USERNAME:
            for account in User.objects.filter(username__iexact=key):
                end_api_tokens(user=account, because="sign_in_lock")


def _refuse_if_locked(*, username: str, address: str | None) -> None:
    lock = selectors.active_sign_in_lock(username=username, address=address)
    if lock is not None:
        record_sign_in_failure(username=username, address=address, failure=SignInFailure.LOCKED)
        raise SignInLocked(lock.until, lock.scope)


def sign_in_with_password(
    *, username: str, password: str, address: str | None, request: HttpRequest | None = None
) -> User | None:
    """The active clinic user with these credentials, else ``None`` (and the failure counts).

    Raises :class:`SignInLocked` while the username or the address is locked, whatever the password:
    the right one does not get through a lock. Unknown usernames take the same path (Django's
    ModelBackend runs the hasher for them too), so answers and timing do not reveal which exist.
    ``request`` only goes on to Django's sign-in signals.
    """
    _refuse_if_locked(username=username, address=address)
    # a NUL byte or a lone surrogate can name no user, and would break the database query
    user = (
        authenticate(request, username=username, password=password)
        if text_problem(username) is None and text_problem(password) is None
        else None
    )
    if user is None or not isinstance(user, User) or (user.clinic_id is None and not user.is_superuser):
        record_sign_in_failure(username=username, address=address, failure=SignInFailure.PASSWORD)
        return None
    return user


def verify_second_factor(
    *, user: User, code: str, address: str | None, request: HttpRequest | None = None
) -> bool:
    """Whether ``code`` is a current TOTP code of the user's confirmed device or an unused recovery
    code (which is then used up). A wrong code counts as a sign-in failure of the user's name and is
    announced like a wrong password (Django's ``user_login_failed``, which the audit trail records)."""
    _refuse_if_locked(username=user.username, address=address)
    device = selectors.confirmed_totp(user=user)
    if device is not None and (_accept_totp(device, code) or _use_recovery_code(user, code)):
        return True
    record_sign_in_failure(username=user.username, address=address, failure=SignInFailure.CODE)
    user_login_failed.send(
        sender=__name__, credentials={"username": user.username, "otp": "********"}, request=request
    )
    return False


def _accept_totp(device: TotpDevice, code: str) -> bool:
    """Accept a code of the current 30-second step or its neighbours (clock drift), each step once."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(device.secret)
    now_step = totp.timecode(timezone.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if step > device.last_step and secrets.compare_digest(totp.generate_otp(step), code):
            # the conditional update refuses the same code sent twice at once
            accepted = TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step)
            if accepted:
                device.last_step = step
            return bool(accepted)
    return False


def _recovery_digest(code: str) -> str:
    return hashlib.sha256("".join(code.split()).replace("-", "").lower().encode()).hexdigest()


def _use_recovery_code(user: User, code: str) -> bool:
    digest = _recovery_digest(code)
    return bool(
        RecoveryCode.objects.filter(user=user, digest=digest, used_at__isnull=True).update(
            used_at=timezone.now()
        )
    )


@transaction.atomic
def start_totp_enrolment(*, user: User, secret: str = "") -> TotpDevice:
    """A new authenticator secret for ``user`` to confirm with a first code; replaces an unconfirmed one.

    ``secret`` is for the demo only, whose administrator's secret is printed with the passwords.
    """
    if selectors.confirmed_totp(user=user) is not None:
        raise ValidationError({"code": _("A second factor is already set up.")})
    TotpDevice.objects.filter(user=user).delete()
    return TotpDevice.objects.create(user=user, secret=secret or pyotp.random_base32(32))


@transaction.atomic
def confirm_totp_enrolment(*, user: User, code: str) -> list[str]:
    """Confirm the user's new authenticator by its first code; returns the new recovery codes, which
    are shown once and stored only as digests."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise ValidationError({"code": _("Start the set-up again.")})
    if not _accept_totp(device, code):
        raise ValidationError({"code": _("This code is not right. Check the time on your phone.")})
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed_at"])
    return new_recovery_codes(user=user)


@transaction.atomic
def new_recovery_codes(*, user: User) -> list[str]:
    """Ten new one-time recovery codes; the earlier ones stop working."""
    if selectors.confirmed_totp(user=user) is None:
        raise ValidationError({"code": _("Set up an authenticator app first.")})
    RecoveryCode.objects.filter(user=user, used_at__isnull=True).delete()
    codes = []
    for _index in range(RECOVERY_CODE_COUNT):
        # 80 random bits: far beyond guessing within the lockout, so a fast digest is enough
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, digest=_recovery_digest(c)) for c in codes)
    return codes


def _require_admin_of(account: User, by: User) -> None:
    require(by, Action.MANAGE_CLINIC)
    if account.clinic_id != by.clinic_id:
        raise NotFound(_("User %(id)s not found.") % {"id": account.pk})


@transaction.atomic
def reset_second_factor(*, account: User, by: User) -> None:
    """A clinic administrator removes a user's authenticator and recovery codes (a lost phone): the
    user enrols again at the next sign-in, and every API token of the user ends."""
    _require_admin_of(account, by)
    TotpDevice.objects.filter(user=account).delete()
    RecoveryCode.objects.filter(user=account).delete()
    end_api_tokens(user=account, because="mfa_reset")


@transaction.atomic
def lift_sign_in_lock(*, account: User, by: User) -> int:
    """A clinic administrator lifts the lockout of a user's name; earlier failures stop counting."""
    _require_admin_of(account, by)
    return SignInLock.objects.filter(
        scope=SignInScope.USERNAME,
        key=selectors.sign_in_key(account.username),
        until__gt=timezone.now(),
        lifted_at__isnull=True,
    ).update(lifted_at=timezone.now(), lifted_by=by)


def issue_api_token(
    *,
    username: str,
    password: str,
    otp: str = "",
    name: str = "",
    address: str | None = None,
    request: HttpRequest | None = None,
) -> str | None:
    """A new bearer token for valid credentials of an active clinic user, else ``None``.

    An account that signs in with a second factor must send ``otp`` (a TOTP or recovery code):
    without it :class:`SecondFactorNeeded`; a wrong one counts as a failure. :class:`SignInLocked`
    while the username or the address is locked. ``request`` only goes on to Django's sign-in signals.
    """
    user = sign_in_with_password(username=username, password=password, address=address, request=request)
    if user is None or user.clinic_id is None:
        return None
    if user.must_change_password:
        # a token would outlive the temporary password: none until the user has chosen their own
        raise PasswordChangeNeeded
    enrolled = selectors.confirmed_totp(user=user) is not None
    if enrolled or user.needs_second_factor:
        if not enrolled or not otp:
            raise SecondFactorNeeded(enrolled=enrolled)
        if not verify_second_factor(user=user, code=otp, address=address, request=request):
            return None
    token = secrets.token_urlsafe(32)
    api_token = ApiToken(
        user=user,
        name=name,
        digest=token_digest(token),
        expires_at=timezone.now() + dt.timedelta(days=settings.API_TOKEN_DAYS),
    )
    api_token.full_clean()
    api_token.save()
    return token


def end_api_tokens(*, user: User, because: str) -> int:
    """Revoke every live API token of ``user`` (password changed, lock, role change, MFA reset)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_because=because
    )


@transaction.atomic
def revoke_api_token(*, token_id: int, by: User) -> ApiToken:
    """The owner revokes one of their tokens, or a clinic administrator one of a user of the clinic."""
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    allowed = token is not None and (
        token.user_id == by.pk or (can(by, Action.MANAGE_CLINIC) and token.user.clinic_id == by.clinic_id)
    )
    if token is None or not allowed:
        raise NotFound(_("Token %(id)s not found.") % {"id": token_id})
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_because = "revoked" if token.user_id == by.pk else "revoked_by_admin"
        token.save(update_fields=["revoked_at", "revoked_because"])
    return token


def user_for_token(token: str) -> User | None:
    now = timezone.now()
    found = (
        ApiToken.objects.select_related("user", "user__clinic")
        .filter(digest=token_digest(token), expires_at__gt=now, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if found is None:
        return None
    if found.last_used_at is None or now - found.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user


def _new_user(
    *,
    clinic: Clinic,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    language: str = "",
) -> User:
    """An unsaved user with the password hashed, for ``create_user`` and ``new_user_problems``."""
    user = User(
        clinic=clinic,
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        language=language,
    )
    user.set_password(password)
    return user


def _user_errors(user: User, password: str, *, password_rules: bool) -> dict[str, list[str]]:
    """Every problem of a new ``user`` at once, by field (one submit names them all)."""
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    # Login names differ only in case by mistake ("Clinician" next to "clinician").
    if user.username and User.objects.filter(username__iexact=user.username).exists():
        errors["username"] = [  # instead of full_clean's "already exists" for the exact name
            _("The username %(name)s is taken (upper and lower case count as the same).")
            % {"name": user.username}
        ]
    if password_rules:
        try:
            validate_password(password, user)
        except ValidationError as error:
            errors.setdefault("password", []).extend(error.messages)
    return errors


def new_user_problems(*, clinic: Clinic, **fields: str) -> dict[str, list[str]]:
    """What ``create_user`` with ``password_rules`` would refuse, by field; saves nothing."""
    user = _new_user(clinic=clinic, **fields)
    return _user_errors(user, fields.get("password", ""), password_rules=True)


@transaction.atomic
def create_user(
    *,
    clinic: Clinic,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    language: str = "",
    password_rules: bool = False,
    temporary_password: bool = True,
) -> User:
    """A user of ``clinic``; every problem is refused at once, as a ``ValidationError`` by field.

    ``password_rules``: the password must pass the site's password rules too (what a person types
    in; the demo's and the tests' users keep their short passwords). ``temporary_password``: someone
    else (the administrator adding the user) chose it and knows it, so the user must choose their
    own at the first sign-in; ``False`` only where the person chose it themselves.
    """
    user = _new_user(
        clinic=clinic,
        username=username,
        password=password,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        language=language,
    )
    errors = _user_errors(user, password, password_rules=password_rules)
    if errors:
        raise ValidationError(errors)
    user.must_change_password = temporary_password
    user.save()
    return user


def set_language(*, user: User, language: str) -> User:
    """The language the pages use for ``user`` (``""``: the browser's preference)."""
    if language not in {"", "de", "en"}:
        raise ValidationError({"language": _("Choose German or English.")})
    user.language = language
    user.save(update_fields=["language"])
    return user


@transaction.atomic
def change_account(*, account: User, role: str, is_active: bool, by: User) -> User:
    """A clinic administrator changes a user's role or locks the account; never their own."""
    require(by, Action.MANAGE_CLINIC)
    if account.clinic_id != by.clinic_id:
        raise ValidationError({"account": _("This user belongs to another clinic.")})
    if account.pk == by.pk and (role != account.role or not is_active):
        raise ValidationError({"role": _("You cannot change your own role or lock yourself out.")})
    if role != account.role:
        for check in _role_change_checks:
            if (reason := check(account, role)) is not None:
                raise ValidationError({"role": reason})
    # a token carries the rights of the role it was issued under: a change or a lock ends them all
    if role != account.role or (account.is_active and not is_active):
        end_api_tokens(user=account, because="role_change" if role != account.role else "deactivated")
    account.role, account.is_active = role, is_active
    account.full_clean()
    account.save(update_fields=["role", "is_active"])
    return account


#: What another app has against a clinic role change: ``check(user, new_role)`` returns the
#: whole message of why the change is refused, or None. Apps that build on clinics (studies)
#: register theirs when Django starts (:func:`refuse_role_change_when`), so that clinics imports
#: none of them.
RoleChangeCheck = Callable[["User", str], "str | None"]
_role_change_checks: list[RoleChangeCheck] = []


def refuse_role_change_when(check: RoleChangeCheck) -> RoleChangeCheck:
    """Register ``check`` with :func:`change_account` (usable as a decorator; registering twice
    adds it once)."""
    if check not in _role_change_checks:
        _role_change_checks.append(check)
    return check


def password_changed(*, user: User) -> int:
    """After a password change or reset every API token of the user ends (web sessions of the old
    password end by Django's session hash)."""
    return end_api_tokens(user=user, because="password_change")


@transaction.atomic
def choose_password(*, user: User, password: str) -> int:
    """The user sets a password of their own (a change, a reset link, or the forced change of a
    temporary one): it must pass the password rules and differ from the current one. Ends the
    temporary state and every API token of the user; returns how many tokens ended."""
    if user.has_usable_password() and user.check_password(password):
        raise ValidationError({"password": _("Choose a new password, not the one you have now.")})
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    return password_changed(user=user)


def _require_admin_of_other(account: User, by: User) -> None:
    _require_admin_of(account, by)
    if account.pk == by.pk:
        raise ValidationError(
            {"account": _("Change your own password under My account, with your current password.")}
        )


def _temporary_password() -> str:
    """16 random base32 characters (80 bits) in groups of four, easy to read out or write down."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


@transaction.atomic
def set_temporary_password(*, account: User, by: User) -> str:
    """A clinic administrator gives a user of the clinic a new random password, shown once to hand
    over; the user must replace it at the next sign-in. The old password, the user's web sessions
    (Django's session hash) and API tokens end."""
    _require_admin_of_other(account, by)
    password = _temporary_password()
    validate_password(password, account)
    account.set_password(password)
    account.must_change_password = True
    account.save(update_fields=["password", "must_change_password"])
    end_api_tokens(user=account, because="password_reset")
    return password


@transaction.atomic
def send_password_reset(*, account: User, by: User, request: HttpRequest) -> None:
    """A clinic administrator sends a user of the clinic the one-time link to set a new password.

    The old password stops working at once, for a random one nobody learns (a password forgotten
    or perhaps known to someone else); the user's web sessions and API tokens end with it. The link
    is Django's password-reset token, as "Forgot your password?" sends it, mailed to the account's
    address once the reset is committed.
    """
    _require_admin_of_other(account, by)
    if not account.email:
        raise ValidationError({"email": _("This user has no e-mail address: set a temporary password.")})
    account.set_password(secrets.token_urlsafe(32))
    account.must_change_password = False  # the link lets the user choose their own
    account.save(update_fields=["password", "must_change_password"])
    end_api_tokens(user=account, because="password_reset")
    context = {
        "email": account.email,
        "domain": request.get_host(),
        "site_name": "exoderm",
        "uid": urlsafe_base64_encode(force_bytes(account.pk)),
        "user": account,
        "token": default_token_generator.make_token(account),
        "protocol": request.scheme,
    }
    transaction.on_commit(
        lambda: PasswordResetForm().send_mail(
            "web/account/password_reset_subject.txt",
            "web/account/password_reset_by_admin_email.txt",
            context,
            None,
            account.email,
        )
    )


@transaction.atomic
def update_clinic(
    *,
    clinic: Clinic,
    application_window_minutes: int,
    severities: dict[str, str],
    mfa_required: bool,
    by: User,
) -> Clinic:
    """The clinic administrator sets the application window, each screening item's severity and
    whether every user signs in with a second factor."""
    require(by, Action.MANAGE_CLINIC)
    if by.clinic_id != clinic.pk:
        raise ValidationError({"clinic": _("This is another clinic.")})
    unknown = set(severities) - set(ScreeningItem.values)
    bad = {item: value for item, value in severities.items() if value not in {s.value for s in Severity}}
    if unknown or bad:
        raise ValidationError({"severities": _("Unknown screening item or severity.")})
    clinic.application_window_minutes = application_window_minutes
    clinic.contraindication_policy = {**clinic.contraindication_policy, **severities}
    clinic.mfa_required = mfa_required
    clinic.full_clean()
    clinic.save(update_fields=["application_window_minutes", "contraindication_policy", "mfa_required"])
    return clinic


@transaction.atomic
def set_clinic_logo(*, clinic: Clinic, data: bytes | None, by: User) -> Clinic:
    """The clinic administrator uploads the clinic's logo (PNG or JPEG, checked and re-encoded by
    :func:`exoderm.clinics.logo.clean_logo`), or removes it with ``data=None``."""
    require(by, Action.MANAGE_CLINIC)
    if by.clinic_id != clinic.pk:
        raise ValidationError({"clinic": _("This is another clinic.")})
    clinic.logo_png = clean_logo(data) if data is not None else None
    clinic.full_clean()
    clinic.save(update_fields=["logo_png"])
    return clinic


@transaction.atomic
def set_up_clinic(
    *,
    name: str,
    time_zone: str,
    language: str,
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    admin_first_name: str = "",
    admin_last_name: str = "",
    holiday_state: str = "",
    group: ClinicGroup | None = None,
) -> tuple[Clinic, User]:
    """A new clinic and its first clinic administrator, both or neither.

    The password must pass the site's password rules; the administrator enrols a second factor at
    the first sign-in (clinic administrators always sign in with one). ``group``: the clinic group
    it belongs to (``exoderm.clinics.groups``), if any.
    """
    clinic = Clinic(
        name=name.strip(), time_zone=time_zone, language=language, holiday_state=holiday_state, group=group
    )
    clinic.full_clean()
    clinic.save()
    try:
        validate_password(admin_password, User(username=admin_username, email=admin_email))
    except ValidationError as error:
        raise ValidationError({"admin_password": error.messages}) from error
    admin = create_user(
        clinic=clinic,
        username=admin_username,
        password=admin_password,
        # typed by the administrator at set-up, or random with a link to set their own (groups)
        temporary_password=False,
        role=Role.CLINIC_ADMIN,
        first_name=admin_first_name,
        last_name=admin_last_name,
        email=admin_email,
        language=language,
    )
    return clinic, admin
