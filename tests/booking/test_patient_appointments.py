"""The patient's appointments where the clinic looks for them: on the patient's page (upcoming and
past, in the clinic's time, with a booking link prefilled with the patient, bounded queries) and in
the patient's GDPR export."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from exoderm.booking import services
from exoderm.patients.export import export_patient
from tests import factories
from tests.booking.conftest import NEXT_YEAR, berlin, weekday_of

TUESDAY = weekday_of(NEXT_YEAR, 3, 1)


def _past(scene, days: int, **changes):
    """An appointment that took place ``days`` ago, on the hour (a past time records what happened)."""
    starts = (timezone.now() - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return services.book_appointment(
        patient=scene.patient,
        kind="consultation",
        starts_at=starts,
        clinician=scene.colleague,
        by=scene.assistant,
        **changes,
    )


@pytest.fixture
def booked(scene):
    upcoming = services.book_appointment(
        patient=scene.patient,
        kind="treatment",
        starts_at=berlin(TUESDAY, "09:30"),
        clinician=scene.clinician,
        room=scene.room,
        device=scene.laser,
        by=scene.assistant,
    )
    past = _past(scene, 20)
    missed = _past(scene, 10)
    services.mark_no_show(appointment=missed, by=scene.assistant)
    # another patient's appointment is not this patient's
    services.book_appointment(
        patient=scene.other_patient,
        kind="consultation",
        starts_at=berlin(TUESDAY, "11:00"),
        clinician=scene.colleague,
        by=scene.assistant,
    )
    return upcoming, past, missed


def test_the_patient_page_lists_upcoming_and_past_appointments(client, scene, booked):
    upcoming, past, missed = booked
    client.force_login(scene.assistant)

    page = client.get(reverse("patient", args=[scene.patient.pk])).content.decode()

    section = page[page.index('id="h-appointments"') : page.index('id="h-courses"')]
    # in the clinic's time (Berlin), with kind, clinician, room, device and status
    assert "09:30" in section and "Treatment session" in section
    assert "Dana Adler" in section and "Room 1" in section and "Fraxel laser" in section
    assert "No-show" in section or "No show" in section
    for appointment in booked:
        assert reverse("booking-appointment", args=[appointment.pk]) in section
    # upcoming first, then the past ones latest first
    assert section.index(f"/{upcoming.pk}/") < section.index(f"/{missed.pk}/") < section.index(f"/{past.pk}/")
    assert f"{reverse('booking-new')}?patient={scene.patient.pk}" in section
    assert scene.other_patient.code not in section


def test_a_patient_without_appointments_says_so(client, scene):
    client.force_login(scene.assistant)
    page = client.get(reverse("patient", args=[scene.patient.pk])).content.decode()
    assert "No upcoming appointments." in page and "No past appointments." in page


def test_the_query_count_does_not_grow_with_appointments(
    client, scene, booked, django_assert_max_num_queries
):
    client.force_login(scene.assistant)
    url = reverse("patient", args=[scene.patient.pk])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for days in range(30, 45):
        _past(scene, days, room=scene.other_room, device=scene.pen)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_another_clinics_patient_page_is_not_found(client, scene, booked, other_clinic):
    client.force_login(factories.UserFactory(clinic=other_clinic, role="assistant"))
    assert client.get(reverse("patient", args=[scene.patient.pk])).status_code == 404


def test_the_export_holds_the_patients_appointments(scene, booked, clinic_admin):
    upcoming, past, missed = booked

    with zipfile.ZipFile(export_patient(patient=scene.patient, by=clinic_admin)) as archive:
        data = json.loads(archive.read("patient.json"))
        text = " ".join(
            page.extract_text() for page in PdfReader(io.BytesIO(archive.read("patient.pdf"))).pages
        )

    rows = {row["id"]: row for row in data["appointments"]}
    assert set(rows) == {upcoming.pk, past.pk, missed.pk}
    row = rows[upcoming.pk]
    assert dt.datetime.fromisoformat(row["starts_at"]) == upcoming.starts_at
    assert row["kind"] == "treatment" and row["status"] == "booked"
    assert row["clinician"] == "Dana Adler" and row["room"] == "Room 1" and row["device"] == "Fraxel laser"
    assert rows[missed.pk]["status"] == "no_show"
    # the readable copy in the patient's language, times on the clinic's clock
    berlin_time = upcoming.starts_at.astimezone(zoneinfo.ZoneInfo(scene.clinic.time_zone))
    language = scene.patient.identity.language
    assert berlin_time.strftime("%d.%m.%Y %H:%M" if language == "de" else "%Y-%m-%d %H:%M") in text
    assert "Fraxel laser" in text and "Dana Adler" in text
