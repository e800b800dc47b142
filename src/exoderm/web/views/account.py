"""The user's own settings (language, password, second factor, API tokens) and the clinic
administrator's user management (roles, locks, second-factor resets, tokens)."""

from __future__ import annotations

import base64

import pyotp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from exoderm.clinics import selectors as clinic_selectors
from exoderm.clinics.models import User
from exoderm.clinics.services import (
    change_account,
    confirm_totp_enrolment,
    create_user,
    lift_sign_in_lock,
    new_recovery_codes,
    new_user_problems,
    reset_second_factor,
    revoke_api_token,
    send_password_reset,
    set_clinic_logo,
    set_language,
    set_temporary_password,
    start_totp_enrolment,
    update_clinic,
)
from exoderm.consent import selectors as consent_selectors
from exoderm.consent.models import ConsentKind
from exoderm.consent.services import create_template
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action
from exoderm.web.forms import (
    ClinicLogoForm,
    ClinicSettingsForm,
    ConsentTemplateForm,
    TotpConfirmForm,
    UserChangeForm,
    UserForm,
)
from exoderm.web.listing import listing
from exoderm.web.views.common import (
    add_errors,
    add_further_errors,
    cleaned_so_far,
    clinic_of,
    page,
    safe_next,
    user_of,
)

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
    if request.method == "POST" and not form.is_valid():
        # the service's checks too, on what the form let through: every problem on the first submit
        add_further_errors(form, new_user_problems(clinic=clinic_of(request), **cleaned_so_far(form)))
    elif request.method == "POST":
        try:  # create_user names all of its own problems at once
            account = create_user(clinic=clinic_of(request), password_rules=True, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request,
                _("User %(name)s added. They choose their own password at their first sign-in.")
                % {"name": account.username},
            )
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
    return render(
        request,
        "web/admin/user_edit.html",
        {
            "form": form,
            "account": account,
            "lock": clinic_selectors.active_sign_in_lock(username=account.username, address=None),
            "second_factor": clinic_selectors.confirmed_totp(user=account),
            "tokens": clinic_selectors.api_tokens_of(user=account),
            "now": timezone.now(),
        },
    )


def _account_of_clinic(request: HttpRequest, pk: int) -> User:
    account = clinic_selectors.clinic_users(clinic=clinic_of(request)).filter(pk=pk).first()
    if account is None:
        raise Http404(_("User %(id)s not found.") % {"id": pk})
    return account


@page(Action.MANAGE_CLINIC)
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account_of_clinic(request, pk)
    if lift_sign_in_lock(account=account, by=user_of(request)):
        messages.success(request, _("The sign-in lock of %(name)s is lifted.") % {"name": account.username})
    return redirect("user-edit", pk=pk)


@page(Action.MANAGE_CLINIC)
def user_reset_second_factor(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask first: a reset lets the next sign-in enrol a new authenticator and ends every token."""
    account = _account_of_clinic(request, pk)
    if request.method != "POST":
        return render(
            request,
            "web/confirm.html",
            {
                "title": _("Reset the second factor of %(name)s?") % {"name": account.username},
                "question": _(
                    "%(name)s then sets up a new authenticator app at the next sign-in, and all API "
                    "tokens of %(name)s end. Reset it only when you are sure the person asks "
                    "themselves, in person or by calling them back."
                )
                % {"name": account.username},
                "button": _("Reset the second factor"),
                "cancel_url": reverse("user-edit", args=[account.pk]),
            },
        )
    reset_second_factor(account=account, by=user_of(request))
    messages.success(
        request,
        _("The second factor of %(name)s is reset; they set up a new one at their next sign-in.")
        % {"name": account.username},
    )
    return redirect("user-edit", pk=pk)


def _confirm_password_reset(
    request: HttpRequest, account: User, *, question: str, button: str
) -> HttpResponse:
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Reset the password of %(name)s?") % {"name": account.username},
            "question": question,
            "button": button,
            "cancel_url": reverse("user-edit", args=[account.pk]),
        },
    )


def _refused(request: HttpRequest, account: User, error: ValidationError) -> HttpResponse:
    for message in error.messages:
        messages.error(request, message)
    return redirect("user-edit", pk=account.pk)


@page(Action.MANAGE_CLINIC)
def user_set_temporary_password(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask first; then show the new temporary password once, to hand over to the user."""
    account = _account_of_clinic(request, pk)
    if request.method != "POST":
        return _confirm_password_reset(
            request,
            account,
            question=_(
                "%(name)s gets a new temporary password, shown to you once, and must choose their own at "
                "the next sign-in. The old password, every open session and all API tokens of %(name)s "
                "end. Do it only when you are sure the person asks themselves."
            )
            % {"name": account.username},
            button=_("Set a temporary password"),
        )
    try:
        password = set_temporary_password(account=account, by=user_of(request))
    except ValidationError as error:
        return _refused(request, account, error)
    response = render(
        request, "web/admin/temporary_password.html", {"account": account, "temporary_password": password}
    )
    response["Cache-Control"] = "private, no-store"  # a working password: never kept by a cache
    return response


@page(Action.MANAGE_CLINIC)
def user_send_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask first; then end the password and e-mail the user a link to set a new one."""
    account = _account_of_clinic(request, pk)
    if request.method != "POST":
        return _confirm_password_reset(
            request,
            account,
            question=_(
                "The password of %(name)s stops working now, and %(email)s gets a link to set a new one. "
                "Every open session and all API tokens of %(name)s end."
            )
            % {"name": account.username, "email": account.email},
            button=_("Send the password reset e-mail"),
        )
    try:
        send_password_reset(account=account, by=user_of(request), request=request)
    except ValidationError as error:
        return _refused(request, account, error)
    messages.success(
        request,
        _("The password of %(name)s is reset; a link to set a new one went to %(email)s.")
        % {"name": account.username, "email": account.email},
    )
    return redirect("user-edit", pk=pk)


@page(Action.MANAGE_CLINIC)
@require_POST
def user_token_revoke(request: HttpRequest, pk: int, token_pk: int) -> HttpResponse:
    account = _account_of_clinic(request, pk)
    if not account.api_tokens.filter(pk=token_pk).exists():
        raise Http404(_("Token %(id)s not found.") % {"id": token_pk})
    revoke_api_token(token_id=token_pk, by=user_of(request))
    messages.success(request, _("Token revoked."))
    return redirect("user-edit", pk=pk)


@page(None)
def my_account(request: HttpRequest) -> HttpResponse:
    """The user's own account: password, second factor, API tokens."""
    user = user_of(request)
    return render(
        request,
        "web/account/account.html",
        {
            "second_factor": clinic_selectors.confirmed_totp(user=user),
            "recovery_left": clinic_selectors.unused_recovery_codes(user=user),
            "tokens": clinic_selectors.api_tokens_of(user=user),
            "now": timezone.now(),
        },
    )


@page(None)
@require_POST
def my_token_revoke(request: HttpRequest, token_pk: int) -> HttpResponse:
    user = user_of(request)
    if not user.api_tokens.filter(pk=token_pk).exists():
        raise Http404(_("Token %(id)s not found.") % {"id": token_pk})
    revoke_api_token(token_id=token_pk, by=user)
    messages.success(request, _("Token revoked."))
    return redirect("account")


@page(None)
def second_factor(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: a QR code (drawn here, no outside service) and the secret as text,
    confirmed by a first code; then the recovery codes, shown once."""
    user = user_of(request)
    if clinic_selectors.confirmed_totp(user=user) is not None:
        return redirect("account")
    device = clinic_selectors.unconfirmed_totp(user=user) or start_totp_enrolment(user=user)
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = confirm_totp_enrolment(user=user, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            return render(request, "web/account/recovery_codes.html", {"codes": codes, "first": True})
    uri = pyotp.TOTP(device.secret).provisioning_uri(name=user.username, issuer_name=settings.MFA_ISSUER)
    return render(
        request,
        "web/account/second_factor.html",
        {
            "form": form,
            "secret": " ".join(device.secret[i : i + 4] for i in range(0, len(device.secret), 4)),
            "qr": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
            "uri": uri,
            "required": user.needs_second_factor,
        },
    )


@page(None)
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    try:
        codes = new_recovery_codes(user=user_of(request))
    except ValidationError:
        return redirect("second-factor")
    return render(request, "web/account/recovery_codes.html", {"codes": codes, "first": False})


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


def _clinic_logo(request: HttpRequest, form: ClinicLogoForm) -> HttpResponse | None:
    """Upload (``form`` valid) or remove (``remove_logo`` posted) the logo; None to show the page
    again with the form's errors."""
    remove = "remove_logo" in request.POST
    if not remove and not form.is_valid():
        return None
    try:
        set_clinic_logo(
            clinic=clinic_of(request), data=None if remove else form.cleaned_data["logo"], by=user_of(request)
        )
    except ValidationError as error:
        add_errors(form, error)
        return None
    messages.success(request, _("Logo removed.") if remove else _("Logo saved."))
    return redirect("clinic-settings")


@page(Action.MANAGE_CLINIC)
def clinic_settings(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    logo_posted = request.method == "POST" and (
        "remove_logo" in request.POST or "upload_logo" in request.POST
    )
    logo_form = ClinicLogoForm(request.POST, request.FILES) if logo_posted else ClinicLogoForm()
    if logo_posted:
        done = _clinic_logo(request, logo_form)
        if done is not None:
            return done
    initial: dict[str, object] = {
        "application_window_minutes": clinic.application_window_minutes,
        "mfa_required": clinic.mfa_required,
    }
    initial |= {f"severity_{item}": clinic.severity_of(item).value for item in ScreeningItem.values}
    form = ClinicSettingsForm(None if logo_posted else request.POST or None, initial=initial)
    if request.method == "POST" and not logo_posted and form.is_valid():
        try:
            update_clinic(
                clinic=clinic,
                application_window_minutes=form.cleaned_data["application_window_minutes"],
                severities=form.severities(),
                mfa_required=form.cleaned_data["mfa_required"],
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Clinic settings saved."))
            return redirect("clinic-settings")
    logo = base64.b64encode(bytes(clinic.logo_png)).decode() if clinic.logo_png else ""
    context = {"form": form, "logo_form": logo_form, "logo": f"data:image/png;base64,{logo}" if logo else ""}
    return render(request, "web/admin/clinic.html", context, status=400 if logo_form.errors else 200)
