from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import RequestDataTooBig
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
    """Refuse a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413, as problem details on the API
    and as a page on the web (Django alone answers a bare HTML 400, or a server error in some paths).

    A body with a Content-Length over the limit is refused before anything reads it. Files go as
    ``multipart/form-data``, whose file parts do not count (photos have ``PHOTO_MAX_UPLOAD_BYTES``):
    there Django finds a too large rest while parsing. A page's form is parsed here, because the CSRF
    check parses it before any view and would turn the refusal into a 400; an API operation parses
    its form itself, after authentication, and its refusal arrives in :meth:`process_exception`.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            return self.get_response(request)
        if (request.content_type or "").startswith("multipart/"):
            if not _is_api(request):
                try:
                    request.POST  # noqa: B018 -- parsed now, kept on the request for the CSRF check and view
                except RequestDataTooBig:
                    return self._too_large(request, limit)
        else:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django treats a malformed length as no body
            if length > limit:
                return self._too_large(request, limit)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        if isinstance(exception, RequestDataTooBig):
            return self._too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return None

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
