"""Writes the pages need that clinics/services.py does not offer yet: a user's language and account,
the clinic's protocol settings.

These belong in ``exoderm.clinics.services``; they live here until its owner takes them over.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, User
from exoderm.core.contraindications import ScreeningItem, Severity
from exoderm.core.permissions import Action, require


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
