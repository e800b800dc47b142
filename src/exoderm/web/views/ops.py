"""Operations endpoints for load balancers and monitoring: no login, no patient data."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from exoderm.ops.health import readiness
from exoderm.ops.metrics import exposition


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process lives and answers: nothing else is asked, so a restart is never triggered by a
    database outage that a restart would not cure."""
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process can serve (database, migrations, photo store, a live worker), else 503;
    the body names each check's state."""
    checks = readiness()
    ready = all(check.ok for check in checks)
    return JsonResponse(
        {"ready": ready, "checks": {check.name: check.detail for check in checks}},
        status=200 if ready else 503,
    )


@login_not_required
@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for a scraper holding ``METRICS_TOKEN`` as its bearer token; without a
    configured token the endpoint does not exist (no data, but route names and load are nobody
    else's business)."""
    if not settings.METRICS_TOKEN:
        raise Http404
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(sent.encode(), settings.METRICS_TOKEN.encode()):
        response = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
