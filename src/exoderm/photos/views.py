"""Photo bytes for logged-in users of the photo's clinic; photos never lie below a public URL."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from exoderm.clinics.models import User
from exoderm.core.access import NotFound, get_in_clinic
from exoderm.core.permissions import Action, require
from exoderm.photos import selectors, services, storage
from exoderm.photos.models import Photo

# A stored file that fails its checks is answered with this status, not 500: the request was
# understood and the server works, but the file conflicts with what was stored (see the log).
UNREADABLE_STATUS = 409


def photo_response(photo: Photo) -> HttpResponse:
    """The stored file (decrypted and verified by the store), marked private and never cached,
    sniffed or framed elsewhere. Raises :class:`~exoderm.photos.storage.UnreadableFile`."""
    response = HttpResponse(storage.read(photo.file_name), content_type=photo.content_type)
    response["Content-Disposition"] = (
        f'inline; filename="photo-{photo.pk}.{photo.file_name.rsplit(".", 1)[-1]}"'
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


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
            return render(request, "photos/unreadable.html", status=UNREADABLE_STATUS)

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


def pdf_response(data: bytes, *, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
@unreadable_file_page
def patient_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The patient's one-page PDF of measured changes."""
    from exoderm.patients.models import Patient
    from exoderm.patients.selectors import open_records
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
