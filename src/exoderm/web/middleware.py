from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the API answers for itself (bearer tokens, 401 problem details)."""

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ClinicTimeZoneMiddleware:
    """Show and parse times in the clinic's time zone for the logged-in user of a clinic."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from django.utils import timezone

        user = getattr(request, "user", None)
        clinic = getattr(user, "clinic", None) if user is not None and user.is_authenticated else None
        if clinic is not None:
            timezone.activate(clinic.time_zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
