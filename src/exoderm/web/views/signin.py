"""Signing in: the password step (throttled), the second-factor step, password change and reset
(both through ``choose_password``, which also ends a temporary password).

A correct password alone does not log a user with an authenticator in: the session only holds the
pending user until the code is right, and Django's ``login()`` runs after it.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from exoderm.clinics import selectors as clinic_selectors
from exoderm.clinics.middleware import IDLE_SIGN_OUT, client_address
from exoderm.clinics.models import User
from exoderm.clinics.services import SignInLocked, choose_password, verify_second_factor
from exoderm.web.forms import SecondFactorForm, SignInForm, locked_error
from exoderm.web.views.common import add_errors, user_of

PENDING = "signin_pending"


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["idle_sign_out"] = self.request.session.pop(IDLE_SIGN_OUT, False)
        context["idle_minutes"] = settings.SESSION_IDLE_MINUTES
        return context

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if clinic_selectors.confirmed_totp(user=user) is None:
            # no authenticator yet: logged in now; one who must have one is sent to enrolment
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING] = {
            "user": user.pk,
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
            "since": time.time(),
            "next": self.get_success_url(),
        }
        return redirect("login-code")


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["since"] > settings.MFA_STEP_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    return (user, pending) if user is not None else None


@login_not_required
def login_code(request: HttpRequest) -> HttpResponseBase:
    """The second step: a TOTP or recovery code for the user whose password was right."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        return redirect("login")
    user, pending = found
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            accepted = verify_second_factor(
                user=user, code=form.cleaned_data["code"], address=client_address(request), request=request
            )
        except SignInLocked as locked:
            request.session.pop(PENDING, None)
            form.add_error(None, locked_error(locked))
            return render(request, "registration/login_code.html", {"form": form, "locked": True})
        if accepted:
            del request.session[PENDING]
            login(request, user, backend=pending["backend"])
            return redirect(pending["next"])
        form.add_error("code", _("This code is not right."))
    return render(request, "registration/login_code.html", {"form": form})


def _choose_password(form: Any) -> int | None:
    """The form's new password through ``choose_password``; ``None`` (the reason on the form) if refused."""
    try:
        return choose_password(user=form.user, password=form.cleaned_data["new_password1"])
    except ValidationError as error:
        add_errors(form, error, fields={"password": "new_password1"})
        return None


class PasswordChangeView(auth_views.PasswordChangeView):
    """The user's own password change; also the page a user with a temporary password is held on
    (``TemporaryPasswordMiddleware``) until they have chosen their own."""

    template_name = "web/account/password_change.html"
    success_url = reverse_lazy("account")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["temporary"] = user_of(self.request).must_change_password
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        was_temporary = form.user.must_change_password
        ended = _choose_password(form)
        if ended is None:
            return self.form_invalid(form)
        update_session_auth_hash(self.request, form.user)  # this session goes on; the others end
        if was_temporary:
            messages.success(self.request, _("Password changed. Welcome!"))
            return redirect(settings.LOGIN_REDIRECT_URL)
        messages.success(
            self.request,
            _("Password changed. %(count)s API token(s) ended; sign in to the API again.") % {"count": ended},
        )
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetView(auth_views.PasswordResetView):
    """Always the same answer, whether or not the address belongs to a user (no account discovery)."""

    template_name = "web/account/password_reset_form.html"
    email_template_name = "web/account/password_reset_email.txt"
    subject_template_name = "web/account/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/account/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/account/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form: Any) -> HttpResponse:
        if _choose_password(form) is None:
            return self.form_invalid(form)
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]  # the link is used up
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/account/password_reset_complete.html"
