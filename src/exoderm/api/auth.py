"""API tokens: the caller's own, and for a clinic administrator those of the clinic's users
(mounted at /api/v1/auth). The token itself is shown once, by POST /auth/token; lists never carry it.

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers
outside this module.
"""

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from exoderm.api.pagination import Page
from exoderm.api.types import Id
from exoderm.clinics import selectors
from exoderm.clinics.models import User
from exoderm.clinics.services import revoke_api_token
from exoderm.core.access import NotFound
from exoderm.core.permissions import Action, require

router = Router(tags=["auth"])
MAX_ID = 2**63 - 1


class TokenInfo(Schema):
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    user: Id = Field(alias="user_id")


class TokenFilter(Schema):
    user: int | None = Field(None, ge=1, le=MAX_ID, description="a user of your clinic (clinic admins)")


def _caller(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the API's bearer authentication sets it
    return user


@router.get("/tokens", response=list[TokenInfo])
@paginate(Page)
def list_tokens(request: HttpRequest, filters: Query[TokenFilter]) -> Any:
    """Your API tokens, newest first (revoked and expired ones included); a clinic administrator
    may name another user of the clinic with ``user``."""
    caller = _caller(request)
    owner = caller
    if filters.user is not None and filters.user != caller.pk:
        require(caller, Action.MANAGE_CLINIC)
        assert caller.clinic is not None  # MANAGE_CLINIC needs a clinic
        found = selectors.clinic_users(clinic=caller.clinic).filter(pk=filters.user).first()
        if found is None:
            raise NotFound(_("User %(id)s not found.") % {"id": filters.user})
        owner = found
    return selectors.api_tokens_of(user=owner)


@router.delete("/tokens/{token_id}", response={204: None})
def revoke_token(request: HttpRequest, token_id: Annotated[int, Field(ge=1, le=MAX_ID)]) -> Any:
    """Revoke a token: your own, or as clinic administrator one of a user of your clinic."""
    revoke_api_token(token_id=token_id, by=_caller(request))
    return Status(204, None)
