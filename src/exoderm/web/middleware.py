from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils import formats
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _


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


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


class RequestSizeLimitMiddleware:
    """Refuse a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` before anything reads it: 413, as
    problem details on the API and as a page on the web.

    Django would refuse it too, but only when a view or middleware reads the body, and then as a
    bare HTML 400. Files go as ``multipart/form-data``, whose file parts do not count towards the
    limit (photos have ``PHOTO_MAX_UPLOAD_BYTES``): Django checks its other parts while parsing.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and not (request.content_type or "").startswith("multipart/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django treats a malformed length as no body
            if length > limit:
                return self._too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest, limit: int) -> HttpResponseBase:
        title = _("The request is too large.")
        detail = _("Send at most %(limit)s bytes in one request.") % {"limit": formats.number_format(limit)}
        if _is_api(request):
            body = {
                "type": "about:blank",
                "title": title,
                "status": 413,
                "detail": detail,
                "instance": request.path,
            }
            return JsonResponse(body, status=413, content_type="application/problem+json")
        return render(request, "413.html", {"title": title, "detail": detail}, status=413)


class SecurityHeadersMiddleware:
    """Headers every response of ours needs beyond Django's SecurityMiddleware.

    ``Cache-Control: no-store`` on every API response (they carry patient data or a token) and every
    page shown to a logged-in user: neither the browser's cache nor a proxy may keep health data
    after logout. Static files are served before this middleware (WhiteNoise) and keep their caching.
    ``Permissions-Policy`` from ``settings.PERMISSIONS_POLICY``: the browser features our pages may
    use (the camera, for the photo capture on phones), every other powerful feature switched off.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.permissions_policy = ", ".join(
            f"{feature}=({' '.join(allowed)})" for feature, allowed in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if _is_api(request) or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True, private=True)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response
