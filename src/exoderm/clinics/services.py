"""Writes for clinics, users and API tokens: accounts, a user's language, the clinic's protocol settings."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics.models import ApiToken, Clinic, User
from exoderm.core.contraindications import ScreeningItem, Severity
from exoderm.core.permissions import Action, require


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(*, username: str, password: str) -> str | None:
    """A new bearer token for valid credentials of an active clinic user, else ``None``."""
    user = authenticate(username=username, password=password)
    if user is None or not isinstance(user, User) or user.clinic_id is None:
        return None
    token = secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        digest=token_digest(token),
        expires_at=timezone.now() + dt.timedelta(days=settings.API_TOKEN_DAYS),
    )
    return token


def user_for_token(token: str) -> User | None:
    now = timezone.now()
    found = (
        ApiToken.objects.select_related("user", "user__clinic")
        .filter(digest=token_digest(token), expires_at__gt=now, user__is_active=True)
        .first()
    )
    if found is None:
        return None
    if found.last_used_at is None or now - found.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user


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
) -> User:
    # Login names differ only in case by mistake ("Clinician" next to "clinician").
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            {
                "username": _("The username %(name)s is taken (upper and lower case count as the same).")
                % {"name": username}
            }
        )
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
    user.full_clean()
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
    account.role, account.is_active = role, is_active
    account.full_clean()
    account.save(update_fields=["role", "is_active"])
    return account


@transaction.atomic
def update_clinic(
    *, clinic: Clinic, application_window_minutes: int, severities: dict[str, str], by: User
) -> Clinic:
    """The clinic administrator sets the application window and each screening item's severity."""
    require(by, Action.MANAGE_CLINIC)
    if by.clinic_id != clinic.pk:
        raise ValidationError({"clinic": _("This is another clinic.")})
    unknown = set(severities) - set(ScreeningItem.values)
    bad = {item: value for item, value in severities.items() if value not in {s.value for s in Severity}}
    if unknown or bad:
        raise ValidationError({"severities": _("Unknown screening item or severity.")})
    clinic.application_window_minutes = application_window_minutes
    clinic.contraindication_policy = {**clinic.contraindication_policy, **severities}
    clinic.full_clean()
    clinic.save(update_fields=["application_window_minutes", "contraindication_policy"])
    return clinic
