"""The clinic group (mounted at /api/v1/group): its administrators list the group's clinics and
create further ones with their first administrators. Everyone else gets 403; nothing here reads
any clinic's patients (``exoderm.clinics.groups``).

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers
outside this module.
"""

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from exoderm.api.courses import current_user
from exoderm.api.pagination import Page
from exoderm.api.problems import Problem
from exoderm.api.types import Text
from exoderm.clinics import groups

router = Router(tags=["clinic group"])


class GroupClinicOut(Schema):
    id: int
    name: str
    time_zone: str
    language: str
    holiday_state: str
    users_count: int = Field(description="the clinic's user accounts, locked ones included")
    created_at: dt.datetime


class GroupClinicIn(Schema):
    name: Text
    time_zone: Text = Field("Europe/Berlin", description="IANA time zone, e.g. Europe/Berlin")
    language: Literal["de", "en"] = "de"
    holiday_state: Text = Field(
        "", description="German state whose public holidays close the clinic (ISO 3166-2:DE, e.g. BE)"
    )
    admin_username: Text
    admin_email: Text = Field(description="the administrator's e-mail: a new set-password link goes there")


class GroupClinicAdminOut(Schema):
    id: int
    username: str
    email: str


class GroupClinicCreated(Schema):
    clinic: GroupClinicOut
    admin: GroupClinicAdminOut
    set_password_url: str = Field(
        description=(
            "shown once: the administrator sets their password with it (it works once, for "
            "PASSWORD_RESET_TIMEOUT seconds), then enrols a second factor at the first sign-in"
        )
    )


@router.get("/clinics", response={200: list[GroupClinicOut], 403: Problem})
@paginate(Page)
def list_group_clinics(request: HttpRequest) -> Any:
    """The clinics of your group by name, with their number of users (group administrators only)."""
    return groups.group_clinics(by=current_user(request))


@router.post("/clinics", response={201: GroupClinicCreated, 403: Problem, 422: Problem})
def create_group_clinic(request: HttpRequest, payload: GroupClinicIn) -> Any:
    """A further clinic of your group and its first clinic administrator (group administrators only)."""
    user = current_user(request)
    created = groups.create_group_clinic(by=user, **payload.dict())
    clinic = groups.group_clinics(by=user).get(pk=created.clinic.pk)
    return Status(
        201,
        {
            "clinic": clinic,
            "admin": created.admin,
            "set_password_url": request.build_absolute_uri(created.set_password_path),
        },
    )
