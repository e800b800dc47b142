"""The upload form names a course's visits as the patient page does (a QA walk met "follow_up
2026-11-17" beside "…-11-18" and could not tell week 2 from week 6), and says so when a photo's day
lies outside the window of the visit it was filed under."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from exoderm.courses.models import Course, Visit, VisitKind, VisitStatus
from exoderm.photos.models import Photo
from tests import factories
from tests.photos import _corpus


@pytest.fixture
def visits(patient, clinician):
    now = timezone.now()
    course = Course.objects.create(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=patient.clinic),
        clinician=clinician,
        starts_at=now - dt.timedelta(weeks=6),
    )

    def visit(kind, weeks_ago, *, weeks_after=None, status=VisitStatus.PLANNED):
        at = now - dt.timedelta(weeks=weeks_ago)
        window = dt.timedelta(days=3)
        return Visit.objects.create(
            course=course, kind=kind, session_number=1, weeks_after_session=weeks_after, planned_at=at,
            due_from=at.date() - window, due_until=at.date() + window, status=status,
        )  # fmt: skip

    return {
        "session": visit(VisitKind.SESSION, 6, status=VisitStatus.DONE),
        "week2": visit(VisitKind.FOLLOW_UP, 4, weeks_after=2),
        "week6": visit(VisitKind.FOLLOW_UP, 0, weeks_after=6),
    }


def _upload(client, patient, visit, **fields):
    taken = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    form = {
        "view": "close_up",
        "timepoint": "follow_up",
        "area": "cheek_left",
        "mm_per_px": "0.05",
        "taken_at": taken,
    }
    form.update(fields, visit=str(visit.pk), file=SimpleUploadedFile("up.jpg", _corpus.jpeg(seed=visit.pk)))
    return client.post(f"/photos/patient/{patient.pk}/", form)


@pytest.mark.django_db
def test_the_visits_read_by_name_day_and_status_in_the_readers_language(client, clinician, patient, visits):
    clinician.language = "de"
    clinician.save(update_fields=["language"])
    client.force_login(clinician)
    page = client.get(f"/photos/patient/{patient.pk}/").content.decode()
    with translation.override("de"):
        day = visits["week2"].planned_at.astimezone(timezone.get_default_timezone()).strftime("%d.%m.%Y")
    assert f"Nachkontrolle Woche 2 nach Sitzung 1 · {day}" in page
    assert "Nachkontrolle Woche 6 nach Sitzung 1 · " in page
    assert "Sitzung 1 · " in page and "(Erledigt)" in page
    assert "follow_up 20" not in page


@pytest.mark.django_db(transaction=True)
def test_a_photo_outside_its_visits_window_is_stored_with_a_warning(
    client, clinician, patient, photo_consent, visits
):
    client.force_login(clinician)
    response = _upload(client, patient, visits["week2"])  # taken now: weeks after that window
    assert response.status_code == 302
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert len(warnings) == 1 and "outside the window of Follow-up week 2 after session 1" in warnings[0]
    assert Photo.objects.get().visit == visits["week2"]  # stored as filed: the clinician decides
    client.get(f"/photos/patient/{patient.pk}/")  # the page shows the warning (and uses it up)

    response = _upload(client, patient, visits["week6"])  # its window is open
    assert response.status_code == 302
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
