"""Deleting photos on the web: confirmation with a reason, undo, the trash, erase now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from exoderm.core.permissions import Action, can
from exoderm.patients.models import Patient
from exoderm.photos import selectors, services
from exoderm.photos.forms import TrashForm
from exoderm.web.views.common import add_errors, clinic_of, page, user_of


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
    return render(request, "photos/delete.html", context, status=422 if form.errors else 200)


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
    return render(request, "photos/erase.html", {"photo": photo, "patient": photo.patient})
