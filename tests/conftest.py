"""Shared fixtures. Tests that CI must run may not be skipped there (see pytest_terminal_summary)."""

from __future__ import annotations

import os

import pytest

from tests import factories


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Django empties every table with one TRUNCATE after each transactional test; on PostgreSQL
    the audit table refuses TRUNCATE unless the session allows it (audit migration 0002). Only the
    tests' connections do, as a startup option (a SET per connection would count as a query).

    On SQLite the test database is a file, as in production, not Django's in-memory default: the
    browser tests' live server answers a page's parallel requests in threads, and in-memory SQLite
    (shared cache) refuses a concurrent write at once ("database table is locked") where a file in
    WAL mode waits for its busy timeout (settings.py) like the real installation."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.getbasetemp() / "test.sqlite3")
    if database["ENGINE"] == "django.db.backends.postgresql":
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c exoderm.audit_allow_truncate=on".strip()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher.

    tests/test_smoke.py checks that the real settings hash with Argon2.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def default_language():
    """Every test starts in the default language: a page a test fetched in German leaves German
    active in the thread (LocaleMiddleware activates it and nothing resets it), and a later test
    that calls a selector directly would word its results in German."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory()


@pytest.fixture
def other_clinic(db):
    return factories.ClinicFactory(name="Other clinic")


@pytest.fixture
def clinician(clinic):
    return factories.UserFactory(clinic=clinic, role="clinician")


@pytest.fixture
def assistant(clinic):
    return factories.UserFactory(clinic=clinic, role="assistant")


@pytest.fixture
def clinic_admin(clinic):
    return factories.UserFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def researcher(clinic):
    return factories.UserFactory(clinic=clinic, role="researcher")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """With EXODERM_FORBID_SKIPS=1 (set by .ci/run), a skipped test fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("EXODERM_FORBID_SKIPS") == "1" and skipped:
        reporter.write_line(
            f"EXODERM_FORBID_SKIPS: {len(skipped)} test(s) skipped; CI must run them all.", red=True
        )
        session.exitstatus = 1


class ApiClient:
    """Django's test client speaking to /api/v1 with a real bearer token of ``user`` (issued with a
    second-factor code where the account needs one, see tests/signin.py)."""

    def __init__(self, client, user):
        from exoderm.clinics.selectors import confirmed_totp
        from exoderm.clinics.services import issue_api_token
        from tests.signin import ensure_second_factor, totp_code

        self.client = client
        self.user = user
        ensure_second_factor(user)
        otp = totp_code(user) if confirmed_totp(user=user) is not None else ""
        token = issue_api_token(username=user.username, password=factories.PASSWORD, otp=otp)
        assert token, "the factory user's password must be accepted"
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method, path, data=None, **extra):
        url = path if path.startswith("/api/") else f"/api/v1{path}"
        kwargs = {"headers": {**self.headers, **extra.pop("headers", {})}, **extra}
        if data is not None and method != "get":
            kwargs.setdefault("content_type", "application/json")
        return (
            getattr(self.client, method)(url, data, **kwargs)
            if data is not None
            else getattr(self.client, method)(url, **kwargs)
        )

    def get(self, path, data=None, **extra):
        return self._call("get", path, data, **extra)

    def post(self, path, data=None, **extra):
        return self._call("post", path, data, **extra)

    def put(self, path, data=None, **extra):
        return self._call("put", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._call("patch", path, data, **extra)

    def delete(self, path, **extra):
        return self._call("delete", path, **extra)


@pytest.fixture
def api_as(client):
    """``api_as(user)`` gives an API client authenticated as ``user``."""
    return lambda user: ApiClient(client, user)


@pytest.fixture
def browser_base_url(live_server):
    """The site the browser tests drive: pytest-django's live server unless a test module overrides it."""
    return live_server.url


@pytest.fixture
def browser_page(browser_base_url, monkeypatch):
    """A Chromium page that fails the test on a request to another host (blocked) and on any
    Content-Security-Policy violation or script error; ``page.check_clean()`` checks on the way."""
    from urllib.parse import urlparse

    from tests._browser import ARGS, CHROMIUM, CSP_LISTENER

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are
    # still plain synchronous calls between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    server = urlparse(browser_base_url)

    def guard(route):
        url = urlparse(route.request.url)
        if url.scheme in {"data", "blob"} or (url.hostname, url.port) == (server.hostname, server.port):
            route.continue_()
        else:
            problems.append(f"request to another host: {route.request.url}")
            route.abort()

    def on_console(message):
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(f"CSP: {message.text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.route("**/*", guard)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))

        def check():
            problems.extend(f"CSP violation: {v}" for v in page.evaluate("window.__csp || []"))
            assert not problems, problems

        page.check_clean = check  # type: ignore[attr-defined]
        yield page
        check()
        context.close()
        browser.close()


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on other databases; `make test` deselects them on SQLite instead."""
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return
    skip = pytest.mark.skip(reason="needs DATABASE_URL pointing at PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
