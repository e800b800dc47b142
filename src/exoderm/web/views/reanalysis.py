"""The re-analysis of the clinic's stored photos by the current engine version: its start and its
progress, polled while it runs (clinic admins; the operator's run over all clinics is the command's)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from exoderm.core.permissions import Action
from exoderm.photos import selectors, services
from exoderm.photos.engine import current_version
from exoderm.web.views.common import clinic_of, page, user_of

POLL_SECONDS = 3


def _time_left(seconds: float | None) -> str:
    if seconds is None:
        return _("not known yet: no photo was analysed in the last minutes")
    hours, minutes = divmod(round(seconds / 60), 60)
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def _context(request: HttpRequest) -> dict[str, Any]:
    run = selectors.latest_reanalysis(clinic_of(request))
    progress = None if run is None else selectors.reanalysis_progress(run)
    return {
        "progress": progress,
        "time_left": None if progress is None else _time_left(progress.seconds_left),
        "engine_version": current_version(),
        "poll_seconds": POLL_SECONDS,
    }


@page(Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
def reanalysis(request: HttpRequest) -> HttpResponse:
    """The clinic's latest re-analysis; POST starts one, or resumes the open one."""
    if request.method == "POST":
        _run, new = services.start_reanalysis(clinic=clinic_of(request), by=user_of(request))
        messages.success(
            request,
            _("The re-analysis has started.") if new else _("The re-analysis goes on where it stopped."),
        )
        return redirect("reanalysis")
    return render(request, "web/admin/reanalysis.html", _context(request))


@page(Action.MANAGE_CLINIC)
@require_GET
def reanalysis_progress(request: HttpRequest) -> HttpResponse:
    """The progress card alone, for the page's polling."""
    return render(request, "web/admin/_reanalysis_progress.html", _context(request))
