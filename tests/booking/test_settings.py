"""The appointment book's settings page (clinic administrators): opening hours and the state's
holidays, rooms, devices, closures and each clinician's working hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from exoderm.booking.calendar import ClinicCalendar
from exoderm.booking.models import Closure, Device, Room
from tests import factories
from tests.signin import login_with_mfa


def hours(prefix: str = "", **days: str) -> dict[str, str]:
    return {f"{prefix}day_{n}": days.get(f"d{n}", "") for n in range(7)}


@pytest.mark.django_db
def test_admin_sets_hours_state_rooms_devices_closures(client, clinic, clinic_admin, clinician):
    login_with_mfa(client, clinic_admin)
    url = reverse("booking-settings")
    assert client.get(url).status_code == 200
    saved = client.post(
        url,
        {"form": "hours", "hours-holiday_state": "BY"}
        | hours("hours-", d0="08:00-12:00, 13:00-18:00", d5="09:00-14:00"),
    )
    assert saved.status_code == 302
    clinic.refresh_from_db()
    assert clinic.holiday_state == "BY"
    calendar = ClinicCalendar.of(clinic)
    assert calendar.opening == {
        0: [(dt.time(8), dt.time(12)), (dt.time(13), dt.time(18))],
        5: [(dt.time(9), dt.time(14))],
    }
    wrong = client.post(url, {"form": "hours", "hours-holiday_state": ""} | hours("hours-", d1="8 to 5"))
    assert "Write hours as 08:00-12:00, 13:00-18:00." in wrong.content.decode()
    backwards = client.post(
        url, {"form": "hours", "hours-holiday_state": ""} | hours("hours-", d1="18:00-08:00")
    )
    assert "The end must lie after the start." in backwards.content.decode()
    assert ClinicCalendar.of(clinic).opening[0]  # a refused form changes nothing

    assert client.post(url, {"form": "room", "room-name": "Laserraum"}).status_code == 302
    assert (
        client.post(url, {"form": "device", "device-name": "Fraxel", "device-kind": "laser"}).status_code
        == 302
    )
    duplicate = client.post(url, {"form": "room", "room-name": "Laserraum"})
    assert duplicate.status_code == 200 and Room.objects.filter(clinic=clinic).count() == 1
    assert Device.objects.get(clinic=clinic).kind == "laser"
    closure = {
        "form": "closure",
        "closure-first_day": "2027-08-02",
        "closure-last_day": "2027-08-13",
        "closure-reason": "Sommerpause",
    }
    assert client.post(url, closure).status_code == 302
    assert Closure.objects.get(clinic=clinic).reason == "Sommerpause"
    assert "Sommerpause" in client.get(url).content.decode()

    working = reverse("booking-working-hours", args=[clinician.pk])
    assert client.post(working, hours(d1="10:00-19:00")).status_code == 302
    assert ClinicCalendar.of(clinic, clinicians=[clinician]).working[clinician.pk] == {
        1: [(dt.time(10), dt.time(19))]
    }


@pytest.mark.django_db
def test_only_admins_of_the_clinic(client, clinic, clinician, other_clinic):
    client.force_login(clinician)
    assert client.get(reverse("booking-settings")).status_code == 403
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
    login_with_mfa(client, admin)
    theirs = factories.UserFactory(clinic=other_clinic, role="clinician")
    assert client.get(reverse("booking-working-hours", args=[theirs.pk])).status_code == 404
