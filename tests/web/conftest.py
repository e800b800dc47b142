"""A clinic with something on every page: patients in courses, sessions, lots in every state."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from exoderm.courses.services import enroll
from tests import factories
from tests.signin import login_with_mfa


def wall(moment: dt.datetime, clinic) -> str:
    """``moment`` as the clinic's wall-clock time in the format of a datetime-local input."""
    return moment.astimezone(zoneinfo.ZoneInfo(clinic.time_zone)).strftime("%Y-%m-%dT%H:%M")


def logger_csv(start: dt.datetime, *, count: int, hot: set[int], hot_celsius: str = "-8.0") -> bytes:
    """A logger CSV of ``count`` readings every 15 minutes at -20 °C, ``hot_celsius`` at ``hot``."""
    lines = ["recorded_at,celsius"]
    for i in range(count):
        lines.append(
            f"{(start + dt.timedelta(minutes=15 * i)).isoformat()},{hot_celsius if i in hot else '-20.0'}"
        )
    return ("\n".join(lines) + "\n").encode()


class WebScene:
    """``size`` patients, each consented, screened, enrolled and treated once; lots of every kind."""

    def __init__(self, clinic, *, size: int = 3) -> None:
        self.clinic = clinic
        self.admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
        self.template = factories.CourseTemplateFactory(clinic=clinic)
        self.scenes = []
        now = timezone.now()
        for index in range(size):
            scene = factories.SessionScene(clinic, product=self.scenes[0].product if self.scenes else None)
            scene.record()
            enroll(
                patient=scene.patient,
                template=self.template,
                clinician=scene.clinician,
                starts_at=now - dt.timedelta(weeks=2, hours=index),
                by=scene.clinician,
            )
            factories.ExosomeApplicationFactory(
                session__patient=scene.patient, session__clinician=scene.clinician, lot=scene.lot
            )
            self.scenes.append(scene)
        self.clinician = self.scenes[0].clinician
        self.product = self.scenes[0].product
        self.lot = self.scenes[0].lot
        self.patient = self.scenes[0].patient
        self.quarantined = factories.LotFactory(product=self.product, status="quarantined")
        self.expiring = factories.LotFactory(
            product=self.product, expires_on=timezone.localdate() + dt.timedelta(days=10)
        )
        self.session = self.patient.sessions.first()


@pytest.fixture
def web_scene(clinic):
    return WebScene(clinic)


@pytest.fixture
def logged_in(client):
    """``logged_in(user)``: the test client logged in through the login form (and the second-factor
    step where the account needs one)."""

    def login(user):
        return login_with_mfa(client, user)

    return login
