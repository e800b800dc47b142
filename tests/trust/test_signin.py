"""Sign-in that holds (issue 14, item 3): lockout per username and address, the second factor,
password change and reset, named and revocable API tokens, the idle session timeout."""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo

import pyotp
import pytest
from django.contrib.auth.signals import user_login_failed
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from exoderm.clinics import selectors
from exoderm.clinics.middleware import LAST_SEEN
from exoderm.clinics.models import ApiToken, RecoveryCode, SignInAttempt, SignInLock
from exoderm.clinics.services import (
    SecondFactorNeeded,
    change_account,
    issue_api_token,
    reset_second_factor,
    user_for_token,
)
from tests import factories
from tests.signin import enrol_second_factor, login_with_mfa, totp_code

pytestmark = pytest.mark.django_db
TOKEN = "/api/v1/auth/token"


def post_token(client, username, password, **extra):
    return client.post(
        TOKEN, {"username": username, "password": password, **extra}, content_type="application/json"
    )


def fail_web_login(client, username, times):
    for _ in range(times):
        response = client.post("/login/", {"username": username, "password": "wrong password"})
        assert response.status_code == 200


# --- lockout -------------------------------------------------------------------------------------


def test_ten_wrong_api_passwords_lock_the_name_and_the_right_one_gets_429_with_retry_after(client, clinician):
    for _ in range(10):
        assert post_token(client, clinician.username, "wrong").status_code == 401
    response = post_token(client, clinician.username, factories.PASSWORD)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert response.json()["status"] == 429
    # other spellings of the name are the same account to the throttle
    assert post_token(client, clinician.username.upper(), factories.PASSWORD).status_code == 429
    assert ApiToken.objects.filter(user=clinician).count() == 0


def test_nine_failures_do_not_lock_and_old_failures_do_not_count(client, clinician):
    for _ in range(9):
        post_token(client, clinician.username, "wrong")
    SignInAttempt.objects.update(at=timezone.now() - dt.timedelta(minutes=16))
    for _ in range(9):
        post_token(client, clinician.username, "wrong")
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 200


def test_the_lock_ends_after_its_time_and_a_success_does_not_end_it(client, clinician):
    for _ in range(10):
        post_token(client, clinician.username, "wrong")
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 429
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 429
    SignInLock.objects.update(until=timezone.now() - dt.timedelta(seconds=1))
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 200


def test_unknown_usernames_are_throttled_the_same_way(client):
    answers = [post_token(client, "nobody-here", "wrong") for _ in range(10)]
    assert {a.status_code for a in answers} == {401}
    locked = post_token(client, "nobody-here", "wrong")
    assert locked.status_code == 429 and "Retry-After" in locked


def test_web_and_api_failures_count_together_and_the_page_says_until_when(client, clinician):
    fail_web_login(client, clinician.username, 5)
    for _ in range(5):
        post_token(client, clinician.username, "wrong")
    page = client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert page.status_code == 200 and "_auth_user_id" not in client.session
    text = page.content.decode()
    # no user yet: the page speaks the zone of the clinics (here one), and names it
    zone = zoneinfo.ZoneInfo(clinician.clinic.time_zone)
    until = SignInLock.objects.get().until.astimezone(zone)
    assert f"locked until {until:%H:%M} ({zone.key}) (15 minutes)" in text
    assert "A clinic administrator can lift the lock." in text


def test_an_address_is_locked_after_its_limit_across_usernames(client, clinician, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for index in range(6):
        post_token(client, f"guess{index}", "wrong")
    response = post_token(client, clinician.username, factories.PASSWORD)
    assert response.status_code == 429 and "from this address" in response.json()["detail"]
    page = client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert "Too many failed sign-ins from this network" in page.content.decode()
    # from another address the user still gets in
    other = client.post(
        TOKEN,
        {"username": clinician.username, "password": factories.PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.1.2.3",
    )
    assert other.status_code == 200


def test_a_lock_ends_the_accounts_api_tokens(client, clinician):
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    assert user_for_token(token) == clinician
    for _ in range(10):
        post_token(client, clinician.username, "wrong")
    assert user_for_token(token) is None
    assert ApiToken.objects.get(user=clinician).revoked_because == "sign_in_lock"


def test_the_clinic_admin_lifts_a_lock_on_the_user_page(client, clinician, clinic_admin):
    fail_web_login(client, clinician.username, 10)
    login_with_mfa(client, clinic_admin)
    assert "sign-in locked after failures" in client.get(reverse("users")).content.decode()
    page = client.get(reverse("user-edit", args=[clinician.pk]))
    assert "Lift the lock" in page.content.decode()
    assert client.post(reverse("user-unlock", args=[clinician.pk])).status_code == 302
    assert selectors.active_sign_in_lock(username=clinician.username, address=None) is None
    lock = SignInLock.objects.get()
    assert lock.lifted_by == clinic_admin
    client.logout()
    # the earlier failures no longer count: one more wrong password does not lock again
    fail_web_login(client, clinician.username, 1)
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 200


def test_an_admin_of_another_clinic_cannot_lift_the_lock(client, clinician, other_clinic):
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    fail_web_login(client, clinician.username, 10)
    login_with_mfa(client, stranger)
    assert client.post(reverse("user-unlock", args=[clinician.pk])).status_code == 404
    assert selectors.active_sign_in_lock(username=clinician.username, address=None) is not None


def test_a_hostile_username_is_counted_without_a_server_error(client):
    for name in ["\ud800", "x" * 5000, "a\x00b"]:
        response = post_token(client, name, "wrong")
        assert response.status_code in {401, 422}, response.content


def test_the_django_admin_signs_in_through_the_throttled_login(client):
    superuser = factories.UserFactory(clinic=None, is_superuser=True, is_staff=True)
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert client.get("/admin/login/?next=/admin/")["Location"] == "/login/?next=/admin/"
    client.post("/admin/login/", {"username": superuser.username, "password": factories.PASSWORD})
    assert "_auth_user_id" not in client.session
    response = client.post(
        "/login/", {"username": superuser.username, "password": factories.PASSWORD, "next": "/admin/"}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


# --- second factor -------------------------------------------------------------------------------


def test_an_admin_without_a_second_factor_is_sent_to_enrolment_and_can_do_nothing_else(client, clinic_admin):
    response = client.post("/login/", {"username": clinic_admin.username, "password": factories.PASSWORD})
    assert response.status_code == 302
    for path in ["/", "/patients/", "/manage/users/", "/account/"]:
        assert client.get(path)["Location"] == "/account/second-factor/", path
    page = client.get("/account/second-factor/").content.decode()
    assert 'src="data:image/svg+xml' in page
    secret = selectors.unconfirmed_totp(user=clinic_admin).secret
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in page
    wrong = client.post("/account/second-factor/", {"code": "000000"})
    assert "This code is not right" in wrong.content.decode()
    done = client.post("/account/second-factor/", {"code": pyotp.TOTP(secret).now()})
    codes = re.findall(
        r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", done.content.decode()
    )
    assert len(codes) == 10
    assert RecoveryCode.objects.filter(user=clinic_admin).count() == 10
    assert not RecoveryCode.objects.filter(digest__in=codes).exists()  # stored as digests only
    assert client.get("/manage/users/").status_code == 200


def test_everyone_needs_a_second_factor_when_the_clinic_turns_it_on(client, clinic, clinic_admin, clinician):
    login_with_mfa(client, clinic_admin)
    form = {"application_window_minutes": 30, "mfa_required": "on"}
    form |= {f"severity_{item}": clinic.severity_of(item).value for item in clinic.contraindication_policy}
    assert client.post(reverse("clinic-settings"), form).status_code == 302
    clinic.refresh_from_db()
    assert clinic.mfa_required
    client.logout()
    client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert client.get("/patients/")["Location"] == "/account/second-factor/"
    with pytest.raises(SecondFactorNeeded):
        issue_api_token(username=clinician.username, password=factories.PASSWORD)


def test_the_password_alone_does_not_log_an_enrolled_user_in(client, clinician):
    enrol_second_factor(clinician)
    response = client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert response["Location"] == "/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/patients/").status_code == 302
    wrong = client.post("/login/code/", {"code": "123456"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    assert client.post("/login/code/", {"code": totp_code(clinician)})["Location"] == "/"
    assert client.get("/patients/").status_code == 200


def test_a_totp_code_works_once(client, clinician):
    enrol_second_factor(clinician)
    code = totp_code(clinician)
    client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert client.post("/login/code/", {"code": code}).status_code == 302
    client.logout()
    client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert client.post("/login/code/", {"code": code}).status_code == 200


def test_a_recovery_code_works_once_on_the_web_and_the_api(client, clinician):
    codes = enrol_second_factor(clinician)
    client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    assert client.post("/login/code/", {"code": codes[0].upper()}).status_code == 302
    assert post_token(client, clinician.username, factories.PASSWORD, otp=codes[0]).status_code == 401
    assert post_token(client, clinician.username, factories.PASSWORD, otp=codes[1]).status_code == 200


def test_wrong_codes_count_towards_the_lockout(client, clinician):
    enrol_second_factor(clinician)
    client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
    for _ in range(10):
        client.post("/login/code/", {"code": "000000"})
    page = client.post("/login/code/", {"code": totp_code(clinician)})
    assert "locked until" in page.content.decode() and "_auth_user_id" not in client.session
    assert (
        post_token(client, clinician.username, factories.PASSWORD, otp=totp_code(clinician)).status_code
        == 429
    )


def test_a_wrong_code_is_announced_like_a_wrong_password_for_the_audit_trail(client, clinician):
    enrol_second_factor(clinician)
    heard = []

    def listener(sender, credentials, request, **kwargs):
        heard.append((credentials, request is not None and request.path))

    user_login_failed.connect(listener)
    try:
        client.post("/login/", {"username": clinician.username, "password": factories.PASSWORD})
        client.post("/login/code/", {"code": "000000"})
        post_token(client, clinician.username, factories.PASSWORD, otp="000000")
    finally:
        user_login_failed.disconnect(listener)
    masked = {"username": clinician.username, "otp": "********"}
    assert heard == [(masked, "/login/code/"), (masked, TOKEN)]


def test_the_api_asks_an_enrolled_user_for_the_code(client, clinician):
    enrol_second_factor(clinician)
    missing = post_token(client, clinician.username, factories.PASSWORD)
    assert missing.status_code == 401 and "second-factor code" in missing.json()["title"]
    assert post_token(client, clinician.username, factories.PASSWORD, otp="000000").status_code == 401
    assert (
        post_token(client, clinician.username, factories.PASSWORD, otp=totp_code(clinician)).status_code
        == 200
    )


def test_an_admin_without_a_second_factor_gets_no_api_token(client, clinic_admin):
    response = post_token(client, clinic_admin.username, factories.PASSWORD)
    assert response.status_code == 401 and "log in on the web first" in response.json()["detail"]


def test_the_admin_resets_a_second_factor_and_the_user_enrols_again(client, clinic, clinic_admin):
    clinician = factories.UserFactory(clinic=clinic, role="clinician")
    enrol_second_factor(clinician)
    token = issue_api_token(
        username=clinician.username, password=factories.PASSWORD, otp=totp_code(clinician)
    )
    login_with_mfa(client, clinic_admin)
    # the user's page asks first: the link opens a confirmation, which resets nothing yet
    edit = client.get(reverse("user-edit", args=[clinician.pk])).content.decode()
    assert f'href="{reverse("user-reset-second-factor", args=[clinician.pk])}"' in edit
    question = client.get(reverse("user-reset-second-factor", args=[clinician.pk]))
    assert question.status_code == 200 and "all API tokens of" in question.content.decode()
    assert selectors.confirmed_totp(user=clinician) is not None and user_for_token(token) is not None
    assert client.post(reverse("user-reset-second-factor", args=[clinician.pk])).status_code == 302
    assert selectors.confirmed_totp(user=clinician) is None
    assert not RecoveryCode.objects.filter(user=clinician).exists()
    assert user_for_token(token) is None
    # not required for a clinician in this clinic: the password alone logs in again
    assert post_token(client, clinician.username, factories.PASSWORD).status_code == 200


def test_only_an_admin_of_the_clinic_resets_a_second_factor(clinician, other_clinic):
    enrol_second_factor(clinician)
    from django.core.exceptions import PermissionDenied

    from exoderm.core.access import NotFound

    with pytest.raises(PermissionDenied):
        reset_second_factor(account=clinician, by=factories.UserFactory(clinic=clinician.clinic))
    with pytest.raises(NotFound):
        reset_second_factor(
            account=clinician, by=factories.UserFactory(clinic=other_clinic, role="clinic_admin")
        )
    assert selectors.confirmed_totp(user=clinician) is not None


def test_new_recovery_codes_replace_the_old_ones(client, clinician):
    old = enrol_second_factor(clinician)
    login_with_mfa(client, clinician)
    page = client.post(reverse("recovery-codes")).content.decode()
    new = re.findall(r"<code>([a-z2-7-]{19})</code>", page)
    assert len(new) == 10 and not set(new) & set(old)
    assert post_token(client, clinician.username, factories.PASSWORD, otp=old[0]).status_code == 401
    assert post_token(client, clinician.username, factories.PASSWORD, otp=new[0]).status_code == 200


# --- password change and reset -------------------------------------------------------------------


def test_changing_the_password_ends_every_api_token(client, clinician):
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    login_with_mfa(client, clinician)
    assert client.get(reverse("password-change")).status_code == 200
    response = client.post(
        reverse("password-change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": "a new Pa55word!",
            "new_password2": "a new Pa55word!",
        },
    )
    assert response["Location"] == reverse("account")
    assert user_for_token(token) is None
    assert client.get("/patients/").status_code == 200  # this session stays
    assert post_token(client, clinician.username, "a new Pa55word!").status_code == 200


def test_a_reset_link_works_once_and_ends_the_tokens(client, clinician):
    clinician.email = "dana@clinic.example"
    clinician.save()
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    response = client.post(reverse("password-reset"), {"email": "dana@clinic.example"})
    assert response["Location"] == reverse("password-reset-done")
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/password/reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "fresh Pa55word!", "new_password2": "fresh Pa55word!"}
    )
    assert done["Location"] == reverse("password-reset-complete")
    assert user_for_token(token) is None
    assert post_token(client, clinician.username, "fresh Pa55word!").status_code == 200
    again = client.get(link, follow=True)
    assert b"This link is not valid" in again.content


def test_the_reset_does_not_reveal_whether_an_address_exists(client, clinician):
    clinician.email = "dana@clinic.example"
    clinician.save()
    known = client.post(reverse("password-reset"), {"email": "dana@clinic.example"})
    unknown = client.post(reverse("password-reset"), {"email": "nobody@clinic.example"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mail.outbox) == 1


# --- API tokens ----------------------------------------------------------------------------------


def test_tokens_are_named_listed_without_the_secret_and_revoked_by_their_owner(client, clinician, api_as):
    named = post_token(client, clinician.username, factories.PASSWORD, name="lab laptop").json()["token"]
    api = api_as(clinician)
    listed = api.get("/auth/tokens").json()
    assert listed["count"] == 2
    assert {item["name"] for item in listed["items"]} == {"lab laptop", ""}
    assert named not in str(listed) and "digest" not in str(listed)
    lab = next(item for item in listed["items"] if item["name"] == "lab laptop")
    assert api.delete(f"/auth/tokens/{lab['id']}").status_code == 204
    assert user_for_token(named) is None
    assert client.get("/api/v1/auth/tokens", headers={"Authorization": f"Bearer {named}"}).status_code == 401


def test_the_admin_lists_and_revokes_a_users_tokens_but_no_one_elses(
    clinic, clinic_admin, clinician, other_clinic, api_as
):
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    mine = clinician.api_tokens.get()
    admin = api_as(clinic_admin)
    assert admin.get(f"/auth/tokens?user={clinician.pk}").json()["count"] == 1
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    outsider = api_as(stranger)
    assert outsider.get(f"/auth/tokens?user={clinician.pk}").status_code == 404
    assert outsider.delete(f"/auth/tokens/{mine.pk}").status_code == 404
    assert api_as(factories.UserFactory(clinic=clinic)).delete(f"/auth/tokens/{mine.pk}").status_code == 404
    assert (
        api_as(factories.UserFactory(clinic=clinic)).get(f"/auth/tokens?user={clinician.pk}").status_code
        == 403
    )
    assert user_for_token(token) == clinician
    assert admin.delete(f"/auth/tokens/{mine.pk}").status_code == 204
    assert user_for_token(token) is None


def test_a_role_change_or_deactivation_ends_the_tokens(clinic_admin, clinician):
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    change_account(account=clinician, role="assistant", is_active=True, by=clinic_admin)
    assert user_for_token(token) is None
    second = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    change_account(account=clinician, role="assistant", is_active=False, by=clinic_admin)
    assert ApiToken.objects.get(digest__isnull=False, revoked_because="deactivated") is not None
    assert user_for_token(second) is None


def test_my_account_page_lists_and_revokes_my_tokens(client, clinician):
    issue_api_token(username=clinician.username, password=factories.PASSWORD, name="research script")
    login_with_mfa(client, clinician)
    page = client.get(reverse("account")).content.decode()
    assert "research script" in page and "API tokens stay valid" in page
    token = clinician.api_tokens.get()
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_admin_revokes_a_token_on_the_user_page(client, clinician, clinic_admin):
    issue_api_token(username=clinician.username, password=factories.PASSWORD, name="tablet")
    login_with_mfa(client, clinic_admin)
    assert "tablet" in client.get(reverse("user-edit", args=[clinician.pk])).content.decode()
    token = clinician.api_tokens.get()
    assert client.post(reverse("user-token-revoke", args=[clinician.pk, token.pk])).status_code == 302
    token.refresh_from_db()
    assert token.revoked_because == "revoked_by_admin"


def test_logging_out_ends_the_session_but_not_the_tokens(client, clinician):
    token = issue_api_token(username=clinician.username, password=factories.PASSWORD)
    login_with_mfa(client, clinician)
    client.post(reverse("logout"))
    assert client.get("/patients/").status_code == 302
    assert user_for_token(token) == clinician


# --- idle sessions -------------------------------------------------------------------------------


def test_an_idle_session_ends_and_the_login_page_says_why(client, clinician, settings):
    login_with_mfa(client, clinician)
    assert client.get("/patients/").status_code == 200
    session = client.session
    session[LAST_SEEN] = time.time() - settings.SESSION_IDLE_MINUTES * 60 - 5
    session.save()
    response = client.get("/patients/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/")
    assert "You were signed out after 30 minutes without activity." in response.content.decode()


def test_activity_keeps_the_session_alive(client, clinician, settings):
    login_with_mfa(client, clinician)
    session = client.session
    session[LAST_SEEN] = time.time() - settings.SESSION_IDLE_MINUTES * 60 + 60
    session.save()
    assert client.get("/patients/", headers={"HX-Request": "true"}).status_code == 200
    assert time.time() - client.session[LAST_SEEN] < 5
