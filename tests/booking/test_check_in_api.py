"""POST /api/v1/appointments/{id}/check-in and /undo-check-in: 200 with the appointment (status,
arrival), 422 problem+json saying why not (another day, already arrived, no-show after arrival),
404 for an unknown id or another clinic's appointment, which stays untouched."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.booking.models import AppointmentStatus
from tests import factories
from tests.booking._today import (
    clinic_at_noon,  # noqa: F401  (this module's clinic: noon there now)
    clinic_today,
    minutes_ago,
    on_day,
)

PROBLEM = "application/problem+json"


def _today(scene):
    start = minutes_ago(scene.clinic, 5)
    return scene.book(start, start + dt.timedelta(hours=1))


@pytest.mark.django_db
def test_check_in_and_undo_by_the_api(api_as, scene):
    api = api_as(scene.assistant)
    appointment = _today(scene)
    arrived = api.post(f"/appointments/{appointment.pk}/check-in")
    assert arrived.status_code == 200, arrived.content
    data = arrived.json()
    assert data["status"] == "arrived" and data["arrived_at"] is not None and data["session_id"] is None

    again = api.post(f"/appointments/{appointment.pk}/check-in")
    assert again.status_code == 422 and again["Content-Type"] == PROBLEM
    assert "take back the check-in first" in again.json()["detail"]
    no_show = api.post(f"/appointments/{appointment.pk}/no-show")
    assert no_show.status_code == 422 and "take back the check-in first" in no_show.json()["detail"]

    undone = api.post(f"/appointments/{appointment.pk}/undo-check-in")
    assert undone.status_code == 200 and undone.json()["status"] == "booked"
    assert undone.json()["arrived_at"] is None
    assert api.post(f"/appointments/{appointment.pk}/undo-check-in").status_code == 422


@pytest.mark.django_db
def test_an_appointment_of_another_day_is_a_422(api_as, scene):
    tomorrow = clinic_today(scene.clinic) + dt.timedelta(days=1)
    appointment = scene.book(on_day(scene.clinic, tomorrow), on_day(scene.clinic, tomorrow, 11))
    refused = api_as(scene.assistant).post(f"/appointments/{appointment.pk}/check-in")
    assert refused.status_code == 422 and refused["Content-Type"] == PROBLEM
    assert "on the day of the appointment" in refused.json()["detail"]


@pytest.mark.django_db
def test_an_unknown_or_other_clinics_appointment_is_a_404(api_as, scene, other_clinic):
    theirs = _today(scene)
    outsider = factories.UserFactory(clinic=other_clinic, role="assistant")
    api = api_as(outsider)
    for path in ("check-in", "undo-check-in"):
        assert api.post(f"/appointments/{theirs.pk}/{path}").status_code == 404
        assert api.post(f"/appointments/999999/{path}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
def test_a_researcher_cannot_check_in(api_as, scene):
    appointment = _today(scene)
    researcher = factories.UserFactory(clinic=scene.clinic, role="researcher")
    assert api_as(researcher).post(f"/appointments/{appointment.pk}/check-in").status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
