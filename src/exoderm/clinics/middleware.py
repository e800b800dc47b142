import ipaddress
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils import translation

from exoderm.clinics.selectors import confirmed_totp


class UserLanguageMiddleware:
    """Use the logged-in user's chosen language, ahead of the browser's preference."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: REMOTE_ADDR, or the last entry of CLIENT_ADDRESS_HEADER when a
    reverse proxy in front of the app sets it (the last entry is the one the proxy itself saw)."""
    value = request.META.get("REMOTE_ADDR", "")
    if settings.CLIENT_ADDRESS_HEADER:
        forwarded = request.headers.get(settings.CLIENT_ADDRESS_HEADER, "")
        value = forwarded.split(",")[-1].strip() or value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


IDLE_SIGN_OUT = "signed_out_idle"
LAST_SEEN = "last_seen"


class IdleSessionMiddleware:
    """End a web session idle for SESSION_IDLE_MINUTES; the login page then says why.

    Every request of the session counts as activity (HTMX requests included). The time is written at
    most once a minute, so a burst of requests does not rewrite the session each time.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(LAST_SEEN)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_MINUTES * 60:
                logout(request)
                request.session[IDLE_SIGN_OUT] = True
            elif last_seen is None or now - last_seen >= 60:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


# The pages a user with a temporary password may still open: the change comes first, then enrolment.
PASSWORD_CHANGE_ALLOWED = {"password-change", "logout", "language"}


class TemporaryPasswordMiddleware:
    """A signed-in user whose password someone else set (``User.must_change_password``) is sent to
    the password change, and can do nothing else until they have chosen their own. The API refuses
    such users a token, and a bearer token of such a user (``exoderm.api.main``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        user = request.user
        if not user.is_authenticated or not getattr(user, "must_change_password", False):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in PASSWORD_CHANGE_ALLOWED:
            return None
        return redirect("password-change")


# The pages a user who must enrol a second factor may still open.
ENROLMENT_ALLOWED = {"second-factor", "logout", "language"}


class SecondFactorEnrolmentMiddleware:
    """A signed-in user who must use a second factor and has none is sent to enrolment, and can do
    nothing else until enrolled (the API refuses such users a token in the first place)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        user = request.user
        if not user.is_authenticated or request.path.startswith("/api/"):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ENROLMENT_ALLOWED:
            return None
        if user.must_change_password:  # TemporaryPasswordMiddleware holds them until it is changed
            return None
        if not user.needs_second_factor or confirmed_totp(user=user) is not None:
            return None
        return redirect("second-factor")
