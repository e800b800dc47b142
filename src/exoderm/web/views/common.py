"""What every page view shares: the permission check, clinic scoping and form error plumbing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from exoderm.clinics.models import Clinic, User
from exoderm.core.access import NotFound
from exoderm.core.permissions import Action, require

View = Callable[..., HttpResponseBase]


def page(action: Action | None = Action.VIEW_CLINICAL) -> Callable[[View], View]:
    """A page of the clinic: the role must allow ``action`` (``None``: any clinic user); a record of
    another clinic is a 404."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.user.is_superuser and not getattr(request.user, "clinic_id", None):
                return redirect("admin:index")  # a superuser without a clinic runs the Django admin
            if action is None:
                if not getattr(request.user, "clinic_id", None):
                    raise PermissionDenied
            else:
                require(request.user, action)  # type: ignore[arg-type]
            try:
                return view(request, *args, **kwargs)
            except NotFound as error:
                raise Http404(str(error)) from error

        return wrapped

    return decorate


def clinic_of(request: HttpRequest) -> Clinic:
    user: User = request.user  # type: ignore[assignment]
    assert user.clinic is not None  # every page view runs behind page(), which requires a clinic
    return user.clinic


def user_of(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def add_errors(form: forms.Form, error: ValidationError, *, fields: dict[str, str] | None = None) -> None:
    """Put a service's ``ValidationError`` onto the form: per field where the form has it, else on top.

    ``fields`` maps service field names to form field names where they differ.
    """
    fields = fields or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        target = fields.get(name, name)
        form.add_error(target if target in form.fields else None, messages)


def cleaned_so_far(form: forms.Form) -> dict[str, Any]:
    """The form's cleaned values, with each field that failed its own checks as its empty value.

    For running a service's checks on an invalid form too, so that one submit names every problem
    rather than the form's first and the service's on the next try.
    """
    cleaned = getattr(form, "cleaned_data", {})
    return {
        name: cleaned[name] if name in cleaned else getattr(field, "empty_value", None)
        for name, field in form.fields.items()
    }


def add_further_errors(form: forms.Form, errors: dict[str, list[str]]) -> None:
    """Add a service's field errors for the fields whose own checks passed (a field that failed
    them has its message already; the service saw it empty)."""
    for name, messages in errors.items():
        target = name if name in form.fields else None
        if target is None or target not in form.errors:
            form.add_error(target, messages)


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback
