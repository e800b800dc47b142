"""Reads for clinics and their users."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from exoderm.clinics.models import ApiToken, Clinic, SignInLock, SignInScope, TotpDevice, User


def clinic_users(*, clinic: Clinic) -> QuerySet[User]:
    """Every user account of ``clinic``, active or locked; ``sign_in_locked``: locked out by failures."""
    locks = SignInLock.objects.filter(
        scope=SignInScope.USERNAME,
        key=Lower(OuterRef("username")),
        until__gt=timezone.now(),
        lifted_at__isnull=True,
    )
    return User.objects.filter(clinic=clinic).annotate(sign_in_locked=Exists(locks))


def sign_in_key(username: str) -> str:
    """The name failures are counted under: lower case (names differ in case only by mistake, see
    create_user), without characters a database cannot store, cut to the length of a username."""
    cleaned = username.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return cleaned.lower()[:150]


def active_sign_in_lock(*, username: str, address: str | None) -> SignInLock | None:
    """The lock on this username or this client address that ends last, if one is in force."""
    match = Q(scope=SignInScope.USERNAME, key=sign_in_key(username))
    if address:
        match |= Q(scope=SignInScope.ADDRESS, key=address)
    return (
        SignInLock.objects.filter(match, until__gt=timezone.now(), lifted_at__isnull=True)
        .order_by("-until")
        .first()
    )


def last_lock_end(*, scope: str, key: str) -> dt.datetime | None:
    """When the last lock of this username or address ended (or will end, or was lifted)."""
    lock = SignInLock.objects.filter(scope=scope, key=key).order_by("-started_at").first()
    if lock is None:
        return None
    return lock.lifted_at or lock.until


def confirmed_totp(*, user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def unconfirmed_totp(*, user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()


def unused_recovery_codes(*, user: User) -> int:
    return user.recovery_codes.filter(used_at__isnull=True).count()


def api_tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """Every token of ``user``, newest first, revoked and expired ones included (marked as such)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
