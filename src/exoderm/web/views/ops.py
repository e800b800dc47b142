"""Operations endpoints for load balancers and monitoring: no login, no patient data."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from exoderm.ops.health import readiness


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
