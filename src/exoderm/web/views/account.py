"""The user's own settings (language) and the clinic administrator's user management."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from exoderm.clinics import selectors as clinic_selectors
from exoderm.clinics.models import User
from exoderm.clinics.services import change_account, create_user, set_language, update_clinic
from exoderm.consent import selectors as consent_selectors
from exoderm.consent.models import ConsentKind
from exoderm.consent.services import create_template
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action
from exoderm.web.forms import ClinicSettingsForm, ConsentTemplateForm, UserChangeForm, UserForm
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, safe_next, user_of

USER_SORTS = {
    "username": ("username", "pk"),
    "name": ("last_name", "first_name", "pk"),
    "role": ("role", "username", "pk"),
    "joined": ("date_joined", "pk"),
}


@login_not_required
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Switch the language: saved on the user, and in a cookie for the login page."""
    code = request.POST.get("language", "")
    response = HttpResponseRedirect(safe_next(request, "/"))
    if code not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        set_language(user=user_of(request), language=code)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True
    )
    return response


@page(Action.MANAGE_CLINIC)
def user_list(request: HttpRequest) -> HttpResponse:
    users = listing(
        request, clinic_selectors.clinic_users(clinic=clinic_of(request)), sorts=USER_SORTS, default="name"
    )
    return render(request, "web/admin/users.html", {"listing": users})


@page(Action.MANAGE_CLINIC)
def user_new(request: HttpRequest) -> HttpResponse:
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            validate_password(data["password"], User(username=data["username"], email=data["email"]))
        except ValidationError as error:
            form.add_error("password", error)
        else:
            try:
                account = create_user(clinic=clinic_of(request), **data)
            except ValidationError as error:
                add_errors(form, error)
            else:
                messages.success(request, _("User %(name)s added.") % {"name": account.username})
                return redirect("users")
    return render(request, "web/admin/user_new.html", {"form": form})


@page(Action.MANAGE_CLINIC)
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = clinic_selectors.clinic_users(clinic=clinic_of(request)).filter(pk=pk).first()
    if account is None:
        raise Http404(_("User %(id)s not found.") % {"id": pk})
    form = UserChangeForm(
        request.POST or None, initial={"role": account.role, "is_active": account.is_active}
    )
    if request.method == "POST" and form.is_valid():
        try:
            change_account(account=account, by=user_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("User %(name)s changed.") % {"name": account.username})
            return redirect("users")
    return render(request, "web/admin/user_edit.html", {"form": form, "account": account})


@page(Action.MANAGE_CLINIC)
def consent_templates(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    form = ConsentTemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and not {"publish", "edit"} & request.POST.keys():
        # a new version voids every signature of the current one: say how many first
        kind = form.cleaned_data["kind"]
        return render(
            request,
            "web/admin/consent_publish.html",
            {
                "form": form,
                "kind": ConsentKind(kind).label,
                "version": consent_selectors.current_versions(clinic_id=clinic.pk).get(kind, 0) + 1,
                "holders": consent_selectors.holders_of_current(
                    clinic_id=clinic.pk, kind=kind, at=timezone.now()
                ),
            },
        )
    if request.method == "POST" and "publish" in request.POST and form.is_valid():
        try:
            template = create_template(clinic=clinic, by=user_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request,
                _("Version %(version)s published; signatures of earlier versions no longer count.")
                % {"version": template.version},
            )
            return redirect("consent-templates")
    templates = listing(
        request,
        consent_selectors.templates(clinic=clinic),
        sorts={"kind": ("kind", "-version"), "created": ("created_at", "pk")},
        default="kind",
    )
    return render(request, "web/admin/consents.html", {"listing": templates, "form": form})


@page(Action.MANAGE_CLINIC)
def clinic_settings(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    initial: dict[str, object] = {"application_window_minutes": clinic.application_window_minutes}
    initial |= {f"severity_{item}": clinic.severity_of(item).value for item in ScreeningItem.values}
    form = ClinicSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            update_clinic(
                clinic=clinic,
                application_window_minutes=form.cleaned_data["application_window_minutes"],
                severities=form.severities(),
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Clinic settings saved."))
            return redirect("clinic-settings")
    return render(request, "web/admin/clinic.html", {"form": form})
