"""The REST API at /api/v1: bearer tokens, RFC 9457 problem details, one router per domain."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from exoderm.api.problems import Problem
from exoderm.api.types import Text
from exoderm.api.validation import body_error, field_error
from exoderm.booking.services import Clash
from exoderm.clinics.middleware import client_address
from exoderm.clinics.models import SignInScope, User
from exoderm.clinics.services import (
    PasswordChangeNeeded,
    SecondFactorNeeded,
    SignInLocked,
    issue_api_token,
    user_for_token,
)
from exoderm.core.access import NotFound
from exoderm.core.errors import RuleViolations
from exoderm.photos.responses import UNREADABLE_STATUS
from exoderm.photos.storage import UnreadableFile

PROBLEM = "application/problem+json"


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_token(token)
        if user is not None and user.must_change_password:
            # no token is issued under a temporary password, and a reset ends the earlier ones:
            # this refuses whatever slipped through (a token of an account marked later)
            raise PasswordChangeNeeded
        if user is not None:
            request.user = user
        return user


def docs_login_required(view: Any) -> Any:
    """The schema and the interactive docs need a login too: a page session or a bearer token."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            header = request.headers.get("Authorization", "")
            scheme, _sep, token = header.partition(" ")
            user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return redirect_to_login(request.get_full_path())
            request.user = user
        return view(request, *args, **kwargs)

    return wrapped


api = NinjaAPI(
    title="exoderm API",
    version="1.0.0",
    description="Products, lots, protocol-enforcing treatment records, courses and recall.",
    auth=BearerToken(),
    urls_namespace="api",
    docs_decorator=docs_login_required,
    openapi_extra={"info": {"license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"}}},
)


def problem(request: HttpRequest, *, status: int, title: str, detail: str = "", **extra: Any) -> HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, "instance": request.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = PROBLEM
    return response


def _messages(error: DjangoValidationError) -> list[dict[str, str]]:
    if hasattr(error, "error_dict"):
        return [
            {"field": field, "message": str(msg)}
            for field, msgs in error.message_dict.items()
            for msg in msgs
        ]
    return [{"field": "", "message": str(msg)} for msg in error.messages]


@api.exception_handler(RuleViolations)
def on_rule_violations(request: HttpRequest, exc: RuleViolations) -> HttpResponse:
    return problem(
        request,
        status=422,
        title=_("The request breaks a rule of the treatment protocol."),
        detail="; ".join(v.message for v in exc.violations),
        violations=[v.as_dict() for v in exc.violations],
    )


@api.exception_handler(Clash)
def on_clash(request: HttpRequest, exc: Clash) -> HttpResponse:
    return problem(
        request,
        status=409,
        title=_("The time is booked already."),
        detail=" ".join(item.message for item in exc.clashes),
        clashes=[item.as_dict() for item in exc.clashes],
    )


@api.exception_handler(PasswordChangeNeeded)
def on_password_change_needed(request: HttpRequest, exc: PasswordChangeNeeded) -> HttpResponse:
    return problem(
        request,
        status=403,
        title=_("Your password is temporary."),
        detail=_(
            "An administrator set your password: sign in on the web and choose your own, then ask "
            "for a token again."
        ),
    )


@api.exception_handler(DjangoValidationError)
def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = _messages(exc)
    return problem(
        request,
        status=422,
        title=_("The request is not valid."),
        detail="; ".join(e["message"] for e in errors),
        errors=errors,
    )


@api.exception_handler(NinjaValidationError)
def on_schema_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [field_error(e) for e in exc.errors]
    return problem(
        request,
        status=422,
        title=_("The request is not valid."),
        detail="; ".join(f"{e.place}: {e.message}" for e in errors),
        errors=[{"field": e.field, "message": e.message} for e in errors],
    )


@api.exception_handler(NotFound)
def on_not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return problem(request, status=404, title=_("Not found."), detail=str(exc))


@api.exception_handler(UnreadableFile)
def on_unreadable_file(request: HttpRequest, exc: UnreadableFile) -> HttpResponse:
    return problem(
        request,
        status=UNREADABLE_STATUS,
        title=_("The stored file failed its integrity check."),
        detail=_("It was altered, damaged, or the encryption key does not fit; see the server log."),
    )


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem(
        request, status=403, title=_("Forbidden."), detail=str(exc) or _("Your role does not allow this.")
    )


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = problem(
        request,
        status=401,
        title=_("Authentication required."),
        detail=_("Send a valid token as 'Authorization: Bearer <token>'."),
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ValueError):
        # django-ninja's "Cannot parse request body", raised from the JSON parser's error.
        return problem(
            request,
            status=exc.status_code,
            title=_("The request body is not valid JSON."),
            detail=body_error(exc.__cause__),
        )
    return problem(request, status=exc.status_code, title=str(exc.message))


class Credentials(Schema):
    username: Text
    password: Text
    otp: Text = Field(
        "", max_length=20, description="TOTP or recovery code, for accounts with a second factor"
    )
    name: Text = Field("", max_length=100, description="what the token is for, shown in token lists")


class TokenOut(Schema):
    token: str


@api.post(
    "/auth/token",
    auth=None,
    response={200: TokenOut, 401: Problem, 403: Problem, 429: Problem},
    tags=["auth"],
)
def create_token(request: HttpRequest, payload: Credentials) -> Any:
    """Exchange a username and password (and ``otp``, for an account with a second factor) for a
    bearer token. Too many failures lock the username or the client address: 429 with Retry-After.
    A temporary password (set by an administrator) gets no token: 403 until the user has chosen
    their own on the web."""
    try:
        token = issue_api_token(
            username=payload.username,
            password=payload.password,
            otp=payload.otp,
            name=payload.name,
            address=client_address(request),
            request=request,
        )
    except SignInLocked as locked:
        response = problem(
            request,
            status=429,
            title=_("Too many failed sign-ins."),
            detail=(
                # a clinic administrator lifts the lock of a user; an address lock only ends with its time
                _("Signing in from this address is locked for %(seconds)s seconds.")
                if locked.scope == SignInScope.ADDRESS
                else _(
                    "Signing in is locked for %(seconds)s seconds, or until a clinic administrator lifts it."
                )
            )
            % {"seconds": locked.retry_after_seconds},
        )
        response["Retry-After"] = str(locked.retry_after_seconds)
        return response
    except SecondFactorNeeded as needed:
        return problem(
            request,
            status=401,
            title=_("A second-factor code is needed."),
            detail=_("Send the code of your authenticator app (or a recovery code) as 'otp'.")
            if needed.enrolled
            else _("This account must set up a second factor: log in on the web first."),
        )
    if token is None:
        return problem(request, status=401, title=_("Unknown username, wrong password or wrong code."))
    return {"token": token}


def _register_routers() -> None:
    from exoderm.api import (
        audit,
        auth,
        booking,
        consent,
        courses,
        group,
        messaging,
        patients,
        photos,
        products,
        safety,
        sessions,
        studies,
        study,
        study_results,
    )

    api.add_router("/auth", auth.router)
    api.add_router("/patients", patients.router)
    api.add_router("/", products.router)
    api.add_router("/sessions", sessions.router)
    api.add_router("/", courses.router)
    api.add_router("/photos", photos.router)
    api.add_router("/study", study.router)
    api.add_router("/", audit.router)
    api.add_router("/", safety.router)
    api.add_router("/studies", studies.router)
    api.add_router("/", booking.router)
    api.add_router("/", messaging.router)
    api.add_router("/patients", consent.router)
    api.add_router("/studies", study_results.router)
    api.add_router("/group", group.router)


_register_routers()
