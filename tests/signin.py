"""Signing in as a real user would, second factor included, for tests that need a logged-in user.

Clinic administrators (and everyone in a clinic with ``mfa_required``) sign in with an authenticator
app; these helpers really enrol one through the services and type its codes, so tests exercise the
same requirement as production instead of switching it off.
"""

from __future__ import annotations

import pyotp
from django.utils import timezone

from exoderm.clinics import selectors
from exoderm.clinics.models import User
from exoderm.clinics.services import confirm_totp_enrolment, new_recovery_codes, start_totp_enrolment
from tests.factories import PASSWORD


def totp_code(user: User) -> str:
    """A code the user's authenticator would show that has not been used yet.

    The server accepts each 30-second step once, and the steps next to the current one: a test that
    signs in more often than that within one step gets a fresh recovery code instead. The code is of
    the current step or the next, never the previous one: the server reads its clock a moment later,
    and when a step boundary falls in between, the previous step would be two steps old by then.
    """
    device = selectors.confirmed_totp(user=user) or selectors.unconfirmed_totp(user=user)
    assert device is not None, f"{user.username} has no authenticator"
    totp = pyotp.TOTP(device.secret)
    now_step = totp.timecode(timezone.now())
    for step in (now_step, now_step + 1):
        if step > device.last_step:
            return totp.generate_otp(step)
    assert device.confirmed_at is not None, "no unused step left to confirm the enrolment with"
    return new_recovery_codes(user=user)[0]


def enrol_second_factor(user: User) -> list[str]:
    """Set up an authenticator for ``user`` as the enrolment page does; returns the recovery codes."""
    start_totp_enrolment(user=user)
    return confirm_totp_enrolment(user=user, code=totp_code(user))


def ensure_second_factor(user: User) -> None:
    """Enrol ``user`` if their account requires a second factor and has none yet."""
    if user.needs_second_factor and selectors.confirmed_totp(user=user) is None:
        enrol_second_factor(user)


def login_with_mfa(client, user: User, *, password: str = PASSWORD):
    """Log ``client`` in through the login form and, where the account has one, the code step."""
    ensure_second_factor(user)
    client.logout()  # the login page sends a logged-in user on without signing in anyone else
    response = client.post("/login/", {"username": user.username, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    if response["Location"].startswith("/login/code/"):
        response = client.post("/login/code/", {"code": totp_code(user)})
        assert response.status_code == 302, response.content.decode()[:2000]
    return client


def login_in_browser(page, base_url: str, user: User, *, password: str = PASSWORD) -> None:
    """Sign ``user`` in on the login page of a Playwright ``page``, with the code step where the
    account has a second factor (enrolled first if it needs one)."""
    ensure_second_factor(user)
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.url.startswith(f"{base_url}/login/code/"):
        page.fill("#id_code", totp_code(user))
        page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
