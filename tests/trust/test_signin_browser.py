"""Lockout and the second factor in a real browser (Chromium through Playwright)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pyotp
import pytest

from exoderm.clinics.models import SignInLock
from tests import factories
from tests.signin import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, url, username, password):
    page.goto(url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()


def test_ten_wrong_passwords_lock_the_login_even_for_the_right_one(browser_page, live_server):
    page, url = browser_page, live_server.url
    clinician = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinician")
    for _ in range(10):
        log_in(page, url, clinician.username, "not the password")
        assert "Please enter a correct username and password" in page.inner_text(".notice-error")
    log_in(page, url, clinician.username, factories.PASSWORD)
    message = page.inner_text(".notice-error")
    # on the clinics' clock, the zone named (the page knows no clinic before the sign-in)
    until = SignInLock.objects.get().until.astimezone(ZoneInfo(clinician.clinic.time_zone))
    assert "locked until" in message and "A clinic administrator can lift the lock." in message
    assert f"{until:%H:%M} ({clinician.clinic.time_zone})" in message
    assert "/login/" in page.url
    page.check_clean()


def test_an_admin_enrols_an_authenticator_then_signs_in_with_its_code(browser_page, live_server):
    page, url = browser_page, live_server.url
    admin = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinic_admin")

    log_in(page, url, admin.username, factories.PASSWORD)
    assert page.url == url + "/account/second-factor/"
    page.goto(url + "/patients/")  # nothing else until enrolled
    assert page.url == url + "/account/second-factor/"
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.fill("#id_code", totp.now())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them").click()
    page.wait_for_url(url + "/")
    page.check_clean()

    # log out; the password alone now leads to the code step
    page.click(".usermenu summary")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    log_in(page, url, admin.username, factories.PASSWORD)
    assert page.url == url + "/login/code/"
    page.goto(url + "/patients/")
    assert "/login/" in page.url  # not logged in yet
    page.go_back()
    log_in(page, url, admin.username, factories.PASSWORD)
    page.fill("#id_code", "000000")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert "This code is not right" in page.content()
    page.fill("#id_code", totp_code(admin))  # the enrolment used a step: the next unused one
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(url + "/")
    page.goto(url + "/manage/users/")
    assert page.locator("main h1").inner_text() == "Users and roles"
    page.check_clean()
