"""The check-in on the pages: the appointment's page offers "Patient has arrived" on its day
(and not on another), then "Take back the check-in"; the Today page checks a patient in from its
list of today's appointments, shows "waiting since HH:MM", "done" and the waiting count, and the
day's book marks arrived and completed appointments."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from exoderm.booking.models import AppointmentStatus
from tests import factories
from tests.booking._today import (
    clinic_at_noon,  # noqa: F401  (this module's clinic: noon there now)
    clinic_today,
    minutes_ago,
    on_day,
)


def _today(scene, minutes=5, patient=None):
    start = minutes_ago(scene.clinic, minutes)
    return scene.book(start, start + dt.timedelta(minutes=4), patient=patient)


@pytest.mark.django_db
def test_the_appointment_page_checks_in_and_takes_it_back(client, scene):
    appointment = _today(scene)
    page = reverse("booking-appointment", args=[appointment.pk])
    client.force_login(scene.assistant)
    shown = client.get(page).content.decode()
    check_in = reverse("booking-check-in", args=[appointment.pk])
    assert f'action="{check_in}"' in shown and "Patient has arrived" in shown

    response = client.post(check_in)
    assert response.status_code == 302 and response["Location"] == page
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED
    shown = client.get(page).content.decode()
    arrived_at = appointment.arrived_at.astimezone(ZoneInfo(scene.clinic.time_zone))
    assert f"waiting since {arrived_at:%H:%M}" in shown and "Take back the check-in" in shown
    assert "Cancel the appointment…" not in shown and "Patient has arrived" not in shown

    client.post(reverse("booking-undo-check-in", args=[appointment.pk]))
    appointment.refresh_from_db()
    assert (appointment.status, appointment.arrived_at) == (AppointmentStatus.BOOKED, None)


@pytest.mark.django_db
def test_no_check_in_button_on_another_day_and_the_refusal_is_said(client, scene):
    tomorrow = clinic_today(scene.clinic) + dt.timedelta(days=1)
    appointment = scene.book(on_day(scene.clinic, tomorrow), on_day(scene.clinic, tomorrow, 11))
    client.force_login(scene.assistant)
    page = reverse("booking-appointment", args=[appointment.pk])
    assert "Patient has arrived" not in client.get(page).content.decode()
    followed = client.post(reverse("booking-check-in", args=[appointment.pk]), follow=True)
    assert "on the day of the appointment" in followed.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
def test_the_today_page_checks_in_and_shows_who_waits_and_what_is_done(client, scene):
    charting = factories.SessionScene(scene.clinic)
    charting.at = minutes_ago(scene.clinic, 30)
    charting.vial = factories.ThawedVialFactory(
        lot=charting.lot, thawed_at=charting.at + dt.timedelta(minutes=10)
    )
    waiting = _today(scene, minutes=20)
    done = _today(scene, minutes=10, patient=charting.patient)
    booked = _today(scene, minutes=5, patient=scene.other_patient)
    client.force_login(scene.assistant)
    today = reverse("today")
    shown = client.get(today).content.decode()
    assert shown.count("Patient has arrived") == 3 and 'id="waiting-count"' not in shown

    response = client.post(reverse("booking-check-in", args=[waiting.pk]), {"next": today})
    assert response.status_code == 302 and response["Location"] == today
    charting.record()  # completes the patient's appointment of today

    shown = client.get(today).content.decode()
    waiting.refresh_from_db()
    since = waiting.arrived_at.astimezone(ZoneInfo(scene.clinic.time_zone))
    assert f"waiting since {since:%H:%M}" in shown and ">done<" in shown
    assert '<span class="badge badge-arrived" id="waiting-count">1 waiting</span>' in shown
    assert shown.count("Patient has arrived") == 1  # only the one still booked
    done.refresh_from_db()
    assert (done.status, booked.status) == (AppointmentStatus.COMPLETED, AppointmentStatus.BOOKED)

    grid = client.get(
        reverse("booking-day"), {"date": clinic_today(scene.clinic).isoformat()}
    ).content.decode()
    assert "bk-arrived" in grid and "bk-completed" in grid and f"waiting since {since:%H:%M}" in grid
