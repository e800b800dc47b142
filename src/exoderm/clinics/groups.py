"""A clinic group: its administrators list the group's clinics and create further clinics, each
with its first clinic administrator. Each clinic stays isolated as any other: the group links
nothing of one clinic's records to another's, and a group administrator reads no clinic's patients
(see ``User.administers_group``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, ClinicGroup, User
from exoderm.clinics.services import set_up_clinic
from exoderm.core.permissions import require_group_admin

_ADMIN_FIELDS = {"username": "admin_username", "email": "admin_email"}


@dataclass(frozen=True)
class NewClinic:
    """A clinic just created by a group administrator, with the one-time link by which its first
    administrator sets their password (shown once, to the group administrator who hands it on)."""

    clinic: Clinic
    admin: User
    set_password_path: str


@transaction.atomic
def start_group(*, name: str, admin: User) -> ClinicGroup:
    """A new clinic group of ``admin``'s clinic, which ``admin`` administers (``exoderm setup --group``)."""
    clinic = admin.clinic
    if clinic is None or clinic.group_id is not None:
        raise ValidationError({"group": _("The clinic belongs to a group already.")})
    group = ClinicGroup(name=name.strip())
    group.full_clean()
    group.save()
    clinic.group = group
    clinic.save(update_fields=["group"])
    admin.administers_group = group
    admin.full_clean()
    admin.save(update_fields=["administers_group"])
    return group


def group_clinics(*, by: User) -> QuerySet[Clinic]:
    """The clinics of the group ``by`` administers, by name, each with ``users_count`` (its accounts,
    locked ones included); ``PermissionDenied`` unless ``by`` is a group administrator."""
    group = require_group_admin(by)
    return Clinic.objects.filter(group=group).annotate(users_count=Count("users")).order_by("name", "pk")


@transaction.atomic
def create_group_clinic(
    *,
    by: User,
    name: str,
    time_zone: str,
    language: str,
    holiday_state: str,
    admin_username: str,
    admin_email: str,
) -> NewClinic:
    """A further clinic of ``by``'s group and its first clinic administrator, both or neither.

    Done as ``exoderm setup`` does it (``set_up_clinic``), except that nobody types the
    administrator's password: the account gets a random one no one learns, and a one-time link to
    set their own (Django's password-reset token: it ends once used, when the password changes, or
    after ``PASSWORD_RESET_TIMEOUT``; after that "Forgot your password?" mails a new one to
    ``admin_email``, hence required). The administrator enrols a second factor at the first sign-in.
    """
    group = require_group_admin(by)
    if not admin_email.strip():
        raise ValidationError(
            {"admin_email": _("The administrator's e-mail is needed: a new set-password link goes there.")}
        )
    try:
        clinic, admin = set_up_clinic(
            name=name,
            time_zone=time_zone,
            language=language,
            holiday_state=holiday_state,
            group=group,
            admin_username=admin_username,
            admin_password=secrets.token_urlsafe(32),
            admin_email=admin_email.strip(),
        )
    except ValidationError as error:
        # the account's fields are this function's admin_* arguments: name them so
        if not hasattr(error, "error_dict"):
            raise
        raise ValidationError(
            {_ADMIN_FIELDS.get(field, field): messages for field, messages in error.error_dict.items()}
        ) from error
    path = reverse(
        "password-reset-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(admin.pk)),
            "token": default_token_generator.make_token(admin),
        },
    )
    return NewClinic(clinic=clinic, admin=admin, set_password_path=path)
