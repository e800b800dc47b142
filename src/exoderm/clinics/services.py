"""Writes for clinics, users and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from exoderm.clinics.models import ApiToken, Clinic, User


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
