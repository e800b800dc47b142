"""Photo bytes for logged-in users of the photo's clinic; photos never lie below a public URL."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from exoderm.clinics.models import User
from exoderm.core.access import NotFound
from exoderm.core.permissions import Action, require
from exoderm.photos import selectors, storage
from exoderm.photos.models import Photo


def photo_response(photo: Photo) -> FileResponse:
    """The stored file, marked private and never cached, sniffed or framed elsewhere."""
    response = FileResponse(storage.path_of(photo.file_name).open("rb"), content_type=photo.content_type)
    response["Content-Disposition"] = (
        f'inline; filename="photo-{photo.pk}.{photo.file_name.rsplit(".", 1)[-1]}"'
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
@login_required
def photo_file(request: HttpRequest, photo_id: int) -> HttpResponseBase:
    user = request.user
    if not isinstance(user, User) or user.clinic is None:
        raise PermissionDenied
    require(user, Action.VIEW_CLINICAL)
    try:
        photo = selectors.photo_of(clinic=user.clinic, photo_id=photo_id)
    except NotFound:
        raise Http404 from None
    return photo_response(photo)
