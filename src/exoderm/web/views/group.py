"""The clinic group's page for its administrators: the group's clinics, and a further clinic with
its first administrator. No patient data of any clinic is shown (``exoderm.clinics.groups``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from exoderm.clinics import groups
from exoderm.core.permissions import require_group_admin
from exoderm.web.forms import GroupClinicForm
from exoderm.web.views.common import add_errors, page, user_of


@page(None)
def group_clinics(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    return render(
        request,
        "web/admin/group_clinics.html",
        {"group": require_group_admin(user), "clinics": groups.group_clinics(by=user)},
    )


@page(None)
def group_clinic_new(request: HttpRequest) -> HttpResponse:
    """The form; once the clinic is created, the page that shows its administrator's one-time
    set-password link (answered to the POST itself, never stored or redirected with it)."""
    user = user_of(request)
    group = require_group_admin(user)
    form = GroupClinicForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = groups.create_group_clinic(by=user, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            return render(
                request,
                "web/admin/group_clinic_created.html",
                {
                    "group": group,
                    "created": created,
                    "set_password_url": request.build_absolute_uri(created.set_password_path),
                },
            )
    return render(request, "web/admin/group_clinic_new.html", {"group": group, "form": form})
