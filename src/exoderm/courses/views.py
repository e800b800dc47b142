"""The secret-address iCalendar feed: calendar apps fetch it without a login."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from exoderm.courses.services import feed_for_token

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


@login_not_required
@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    body = feed_for_token(token)
    if body is None:
        raise Http404
    response = HttpResponse(body, content_type=ICS_CONTENT_TYPE)
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="exoderm-visits.ics"'
    return response
