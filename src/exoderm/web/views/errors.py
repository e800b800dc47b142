"""The server's last word on an error no view handled.

A database that does not answer (restarted, failed over, a statement over its timeout) is not a
bug of ours: it is answered with 503 and ``Retry-After``, as problem details on the API and as a
short page on the web, so that clients and load balancers retry instead of reporting a crash. The
answer is built without the database (no session, no user), which is what failed.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views import defaults

RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's ``handler500``; called inside the ``except`` block of the unhandled exception."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return _database_unavailable(request)
    return defaults.server_error(request)


def _database_unavailable(request: HttpRequest) -> HttpResponse:
    title = _("exoderm cannot reach its database just now.")
    detail = _("Nothing was saved by this request. Try again in a few seconds.")
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "type": "about:blank",
                "title": title,
                "status": 503,
                "detail": detail,
                "instance": request.path,
            },
            status=503,
            content_type="application/problem+json",
        )
    else:
        response = HttpResponse(render_to_string("503.html", {"title": title, "detail": detail}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
