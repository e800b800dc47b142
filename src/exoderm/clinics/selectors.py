"""Reads for clinics and their users."""

from __future__ import annotations

from django.db.models import QuerySet

from exoderm.clinics.models import Clinic, User


def clinic_users(*, clinic: Clinic) -> QuerySet[User]:
    """Every user account of ``clinic``, active or locked."""
    return User.objects.filter(clinic=clinic)
