"""Each request measured for the metrics and logged in one line."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from exoderm.ops.metrics import REQUEST_SECONDS

logger = logging.getLogger("exoderm.requests")


class RequestMetricsMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = request.resolver_match
        # the route pattern, never the path: the path holds record ids, and each would be a series
        route = match.route if match is not None else "(unmatched)"
        REQUEST_SECONDS.labels(route=route, method=request.method, status=str(response.status_code)).observe(
            seconds
        )
        logger.info(
            "%s %s %s %.1f ms",
            request.method,
            route,
            response.status_code,
            seconds * 1000,
            extra={
                "route": route,
                "method": request.method,
                "status": response.status_code,
                "ms": round(seconds * 1000, 1),
            },
        )
        return response
