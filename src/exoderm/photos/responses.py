"""HTTP responses of what the photo store holds, for the pages (``web.views.photos``) and the API
alike: the stored photo file and a PDF, both private and never cached."""

from __future__ import annotations

from django.http import HttpResponse

from exoderm.photos import storage
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


def pdf_response(data: bytes, *, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
