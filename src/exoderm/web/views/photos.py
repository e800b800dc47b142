"""Photo pages: the photo files (login-checked, never below a public URL), capture and list,
analysis status (polled), before/after comparison with its summary, course results with trend
charts, the before/after image for the patient, and deleting (trash, undo, erase now)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from exoderm.clinics.models import User
from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.access import NotFound, get_in_clinic
from exoderm.core.errors import RuleViolations
from exoderm.core.permissions import Action, can, require
from exoderm.courses.models import Visit
from exoderm.courses.selectors import visits_of_patient
from exoderm.patients.models import Patient
from exoderm.patients.selectors import open_records
from exoderm.photos import checks, selectors, services, storage
from exoderm.photos.collage import before_after_image
from exoderm.photos.models import AnalysisStatus, Photo, View
from exoderm.photos.responses import UNREADABLE_STATUS, pdf_response, photo_response
from exoderm.photos.wording import summarize
from exoderm.web.photo_forms import (
    CaptureForm,
    CheckForm,
    CollageForm,
    ResultsForm,
    TrashForm,
    visit_name,
    visit_window,
)
from exoderm.web.trend_chart import trend_chart
from exoderm.web.views.common import add_errors, clinic_of, page, user_of


def _photo(request: HttpRequest, photo_id: int) -> Photo:
    """The photo if the user may see its clinic's clinical data; 404 for another clinic's id."""
    user = request.user
    if not isinstance(user, User) or user.clinic is None:
        raise PermissionDenied
    require(user, Action.VIEW_CLINICAL)
    try:
        return selectors.photo_of(clinic=user.clinic, photo_id=photo_id)
    except NotFound:
        raise Http404 from None


def unreadable_file_page[**P](
    view: Callable[P, HttpResponseBase],
) -> Callable[P, HttpResponseBase]:
    """A page that says a stored file failed its checks, instead of a server error."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        try:
            return view(*args, **kwargs)
        except storage.UnreadableFile:
            request = args[0]
            assert isinstance(request, HttpRequest)
            return render(request, "web/photos/unreadable.html", status=UNREADABLE_STATUS)

    return wrapped


@require_GET
@login_required
@unreadable_file_page
def photo_file(request: HttpRequest, photo_id: int) -> HttpResponseBase:
    return photo_response(_photo(request, photo_id))


@require_GET
@login_required
@unreadable_file_page
def photo_overlay(request: HttpRequest, photo_id: int) -> HttpResponse:
    """The photo with what was measured drawn on it (the first request renders it: a moment)."""
    from exoderm.skinlab.io import SkinlabError

    photo = _photo(request, photo_id)
    try:
        png = services.photo_overlay(photo=photo)
    except SkinlabError:
        raise Http404 from None  # the analysis failed on this photo: there is nothing to draw
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="overlay-{photo.pk}.png"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
@login_required
@unreadable_file_page
def photo_thumbnail(request: HttpRequest, photo_id: int) -> HttpResponse:
    """A gallery's small copy of the photo, made once and kept next to it on the server. Like the
    photo itself it is never kept by the browser (no health data in a cache after logout): the
    saving is in its size (a few kilobytes for a page of them) and in rendering it only once."""
    photo = _photo(request, photo_id)
    response = HttpResponse(services.photo_thumbnail(photo=photo), content_type="image/jpeg")
    response["Content-Disposition"] = f'inline; filename="thumb-{photo.pk}.jpg"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
@login_required
@unreadable_file_page
def patient_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The patient's one-page PDF of measured changes."""
    from exoderm.photos.report import patient_report as build

    user = request.user
    if not isinstance(user, User) or user.clinic is None:
        raise PermissionDenied
    try:
        patient = get_in_clinic(
            open_records(Patient.objects.select_related("clinic", "identity"), ""), user.clinic, patient_id
        )
    except NotFound:
        raise Http404 from None
    return pdf_response(build(patient=patient, by=user), filename=f"report-{patient.code}.pdf")


# Capture, status, comparison, results, the before/after image.

POLL_SECONDS = 2


def _patient(request: HttpRequest, patient_id: int) -> Patient:
    return get_in_clinic(
        open_records(Patient.objects.select_related("clinic", "identity"), ""), clinic_of(request), patient_id
    )


def _warn_outside_the_visit(request: HttpRequest, taken_at: dt.datetime, visit: Visit | None) -> None:
    """Say so when a photo's day lies outside the due window of the visit it was filed under (a
    photo of today filed under a follow-up of weeks ago is most likely the wrong visit); it is
    stored as it is, the clinician decides."""
    if visit is None:
        return
    day = timezone.localtime(taken_at).date()
    if visit.due_from <= day <= visit.due_until:
        return
    messages.warning(
        request,
        _(
            "The photo was taken on %(day)s, outside the window of %(visit)s (%(window)s). If that is not "
            "the right visit, move the photo to the trash and upload it again under the right one."
        )
        % {
            "day": formats.date_format(day, "SHORT_DATE_FORMAT"),
            "visit": visit_name(visit),
            "window": visit_window(visit),
        },
    )


@page(Action.VIEW_CLINICAL)
def patient_photos(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The patient's photos with their analysis status, and the capture form."""
    patient = _patient(request, patient_id)
    form = CaptureForm(request.POST or None, request.FILES or None, visits=visits_of_patient(patient=patient))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            stored, created = services.upload_photo(
                patient=patient,
                chunks=data["file"].chunks(),
                view=data["view"],
                timepoint=data["timepoint"],
                area=data["area"] or "",
                taken_at=data["taken_at"],
                mm_per_px=data["mm_per_px"],
                visit=data["visit"],
                by=user_of(request),
            )
        except RuleViolations as refused:
            for violation in refused.violations:
                form.add_error(None, violation.message)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request,
                _("Photo stored; it is being analysed.")
                if created
                else _("This photo was in the trash; it is restored.")
                if stored.restored_from_trash
                else _("This photo was stored before."),
            )
            _warn_outside_the_visit(request, stored.taken_at, data["visit"])
            return redirect("photos:patient", patient_id=patient.pk)
    # Said before a file is chosen and every field filled in: without the consent the upload is
    # refused (services.upload_photo still refuses it; this only spares the work).
    photo_consent = active_consent(patient=patient, kind=ConsentKind.PHOTOGRAPHY, at=timezone.now())
    if photo_consent is None:
        form.fields["file"].widget.attrs["disabled"] = True
    form.fields["file"].widget.attrs.update(
        {
            "hx-post": reverse("photos:check", args=[patient.pk]),
            "hx-trigger": "change, change from:#id_view, change from:#id_area, change from:#id_mm_per_px",
            "hx-include": "closest form",
            "hx-encoding": "multipart/form-data",
            "hx-target": "#capture-check",
            "hx-indicator": "#capture-checking",
            "hx-sync": "this:replace",
        }
    )
    form.fields["file"].widget.attrs["aria-describedby"] = (
        "capture-check" if photo_consent else "capture-consent capture-check"
    )
    photos = list(selectors.photos_of(patient=patient))
    context = {
        "patient": patient,
        "form": form,
        "photo_consent": photo_consent,
        "photos": photos,
        "pairs": _pairs(patient),
        # the newest photo of each view (and area): the ghost over the preview of the next one
        "ghosts": {f"{p.view}|{p.area}": reverse("photos:file", args=[p.pk]) for p in photos},
        "progress": selectors.analysis_progress(clinic=patient.clinic, patient=patient),
        "poll_seconds": POLL_SECONDS,
        "finished": (AnalysisStatus.DONE, AnalysisStatus.FAILED),
        **trash_context(request, patient),
    }
    return render(request, "web/photos/patient.html", context, status=422 if form.errors else 200)


@require_POST
@page(Action.EDIT_PATIENT)
def capture_check(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The check before upload (HTMX, multipart): how the chosen photo differs from the baseline.

    Advice only: nothing is stored. 422 with the upload's message for a file it would refuse."""
    patient = _patient(request, patient_id)
    form = CheckForm(request.POST, request.FILES)
    context: dict[str, object] = {"patient": patient}
    status = 200
    if not form.is_valid() or not form.cleaned_data.get("file"):
        context["errors"] = [e for errors in form.errors.values() for e in errors]
        status = 422 if form.errors else 200
    else:
        data = form.cleaned_data
        try:
            context["check"] = checks.check_capture(
                patient=patient,
                chunks=data["file"].chunks(),
                view=data["view"],
                area=data["area"] or "",
                mm_per_px=data["mm_per_px"],
                timepoint=data["timepoint"],
                by=user_of(request),
            )
        except RuleViolations as refused:
            context["errors"], status = [v.message for v in refused.violations], 422
        except ValidationError as error:
            context["errors"], status = error.messages, 422
    return render(request, "web/photos/_capture_check.html", context, status=status)


@page(Action.VIEW_CLINICAL)
def photo_status(request: HttpRequest, photo_id: int) -> HttpResponse:
    """The status badge of one photo; it keeps polling itself until the analysis is finished."""
    photo = selectors.photo_of(clinic=clinic_of(request), photo_id=photo_id)
    context = {
        "photo": photo,
        "poll_seconds": POLL_SECONDS,
        "finished": (AnalysisStatus.DONE, AnalysisStatus.FAILED),
    }
    return render(request, "web/photos/_status.html", context)


@page(Action.VIEW_CLINICAL)
def compare(request: HttpRequest, before_id: int, after_id: int) -> HttpResponse:
    """Per-region metric table between two photos: changes beyond the noise marked."""
    clinic = clinic_of(request)
    before = selectors.photo_of(clinic=clinic, photo_id=before_id)
    after = selectors.photo_of(clinic=clinic, photo_id=after_id)
    comparison = selectors.compare_photos(before=before, after=after)
    context = {
        "before": before,
        "after": after,
        "patient": before.patient,
        "comparison": comparison,
        "summary": summarize(comparison, get_language()) if comparison is not None else [],
        "verdicts": selectors.Verdict,
    }
    return render(request, "web/photos/compare.html", context)


def _results_shown(request: HttpRequest, analysed: list[tuple[str, str]]) -> tuple[str, str, str]:
    """The view, area and region the results page shows: as chosen, else the first view the
    patient has analysed photos of; a close-up without an area shows the first analysed area; a
    region only for a face view (a close-up is measured whole)."""
    form = ResultsForm(request.GET)
    if not form.is_valid():
        view, area = analysed[0] if analysed else (View.FRONT, "")
        return view, area, ""
    view = form.cleaned_data["view"]
    if view != View.CLOSE_UP:
        return view, "", form.cleaned_data["region"]
    area = form.cleaned_data["area"] or next((a for v, a in analysed if v == view), "")
    return view, area, ""


@page(Action.VIEW_CLINICAL)
def course_results(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Each metric of one region over the course (one view): trend charts with the noise band and
    a table, and the healing curves after each session."""
    patient = _patient(request, patient_id)
    view, area, region = _results_shown(request, selectors.analysed_views(patient=patient))
    # the table and the charts from one read of the photos and their comparisons
    trends = selectors.trends(patient=patient, view=view, area=area, region=region)
    healing = [
        (
            str(selectors.METRICS[key][0]),
            selectors.healing_curves(patient=patient, metric=key, view=view, area=area),
        )
        for key in selectors.HEALING_METRICS
    ]
    dates = sorted({p.taken_at for trend in trends for p in trend.points})
    table = [
        (trend.label, [next((p.value for p in trend.points if p.taken_at == d), None) for d in dates])
        for trend in trends
    ]
    context = {
        "patient": patient,
        "form": ResultsForm(initial={"view": view, "area": area, "region": region}),
        "trends": [(trend, trend_chart(trend, chart_id=f"trend-{trend.key}")) for trend in trends],
        "region_shown": selectors.region_label(region or selectors.region_for(view)),
        "dates": dates,
        "table": table,
        "healing": healing,
    }
    return render(request, "web/photos/results.html", context)


def _pairs(patient: Patient) -> list[tuple[Photo, Photo]]:
    """The baseline and the newest photo of each view (and close-up area) the patient has two of."""
    photos = list(selectors.photos_of(patient=patient))
    pairs = []
    for view in View:
        for area in sorted({p.area for p in photos if p.view == view}):
            pair = selectors.baseline_and_latest(patient=patient, view=view, area=area)
            if pair is not None:
                pairs.append(pair)
    return pairs


@page(Action.EXPORT_PATIENT)
def collage(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The before/after image for the patient: offered per view (GET), made on request (POST,
    a JPEG to download), only while the patient holds a consent to share photos."""
    patient = _patient(request, patient_id)
    may_share = selectors.may_share_photos(patient=patient)
    form = CollageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        clinic = clinic_of(request)
        before = selectors.photo_of(clinic=clinic, photo_id=form.cleaned_data["before"])
        after = selectors.photo_of(clinic=clinic, photo_id=form.cleaned_data["after"])
        if before.patient_id != patient.pk:  # (the image checks that both are the same patient's)
            raise NotFound(
                _("%(thing)s %(id)s not found.") % {"thing": Photo._meta.verbose_name, "id": before.pk}
            )
        try:
            image = before_after_image(
                before=before, after=after, by=user_of(request), watermark=form.cleaned_data["watermark"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            response = HttpResponse(image, content_type="image/jpeg")
            response["Content-Disposition"] = f'attachment; filename="before-after-{patient.code}.jpg"'
            return response
    context = {
        "patient": patient,
        "may_share": may_share,
        "pairs": _pairs(patient) if may_share else [],
        "form": form,
    }
    return render(request, "web/photos/collage.html", context, status=422 if form.errors else 200)


# Deleting: trash, undo, erase now.


def trash_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """What the patient's photo page shows of the trash: the trashed photos, the one just deleted
    (``?undo=<id>``, offered for undo), and whether this user may delete."""
    trash = list(selectors.trashed_photos_of(patient=patient))
    undo = request.GET.get("undo", "")
    return {
        "trash": trash,
        "undo": next((p for p in trash if str(p.pk) == undo), None),
        "can_delete": can(user_of(request), Action.DELETE_PHOTO),
        "trash_days": settings.PHOTO_TRASH_DAYS,
    }


@page(Action.DELETE_PHOTO)
def delete_photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    """Ask why, then move the photo to the trash; the photo page then offers to undo it."""
    photo = selectors.photo_with_trashed(clinic=clinic_of(request), photo_id=photo_id)
    back = reverse("photos:patient", args=[photo.patient_id])
    if photo.trashed_at is not None:  # deleted already (a second tab, the back button)
        return redirect(f"{back}?undo={photo.pk}")
    form = TrashForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.trash_photo(
                photo=photo, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
                by=user_of(request),
            )  # fmt: skip
        except ValidationError as error:
            add_errors(form, error)
        else:
            return redirect(f"{back}?undo={photo.pk}")
    context = {
        "photo": photo,
        "patient": photo.patient,
        "form": form,
        "trash_days": settings.PHOTO_TRASH_DAYS,
    }
    return render(request, "web/photos/delete.html", context, status=422 if form.errors else 200)


@require_POST
@page(Action.DELETE_PHOTO)
def restore_photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    """Undo a deletion: the photo is back, with its analyses."""
    photo = selectors.photo_with_trashed(clinic=clinic_of(request), photo_id=photo_id)
    services.restore_photo(photo=photo, by=user_of(request))
    messages.success(request, _("Photo %(id)d is restored.") % {"id": photo.pk})
    return redirect("photos:patient", patient_id=photo.patient_id)


@page(Action.DELETE_PHOTO)
def erase_photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    """Erase a photo in the trash for good at once (an erasure request), after a confirmation that
    names the patient and the photo."""
    photo = selectors.photo_with_trashed(clinic=clinic_of(request), photo_id=photo_id, trashed_only=True)
    if request.method == "POST":
        services.erase_photo(photo=photo, by=user_of(request))
        messages.success(
            request,
            _("Photo %(id)d of %(patient)s is erased for good.")
            % {"id": photo.pk, "patient": photo.patient.code},
        )
        return redirect("photos:patient", patient_id=photo.patient_id)
    return render(request, "web/photos/erase.html", {"photo": photo, "patient": photo.patient})
