"""Shared fixtures. Tests that CI must run may not be skipped there (see pytest_terminal_summary)."""

from __future__ import annotations

import os

import pytest

from tests import factories


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
