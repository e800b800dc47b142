"""Photo pages: capture, polled status, comparison and course results, for the clinic only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone, translation

from exoderm.photos.models import Photo
from exoderm.web.templatetags.photos import measured
from tests import factories
from tests.photos import _corpus
from tests.photos._helpers import stored_files
from tests.photos._images import phantom_jpeg, phantom_png


@pytest.fixture
def logged_in(client, clinician):
    client.force_login(clinician)
    return client


def _capture(client, patient, data: bytes, headers=None, **fields):
    form = {"view": "close_up", "timepoint": "baseline", "area": "cheek_left", "mm_per_px": "0.05", **fields}
    form["file"] = SimpleUploadedFile("upload.bin", data)
    return client.post(f"/photos/patient/{patient.pk}/", form, headers=headers)


@pytest.mark.django_db(transaction=True)
def test_capture_stores_polls_and_compares(
    logged_in, patient, photo_consent, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    page = logged_in.get(f"/photos/patient/{patient.pk}/")
    assert page.status_code == 200 and b"No photos yet." in page.content

    now = timezone.now()
    for spots, days in ((30, 60), (4, 0)):
        taken = (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
        with django_capture_on_commit_callbacks(execute=True):
            response = _capture(logged_in, patient, phantom_png(1, spots=spots), taken_at=taken)
        assert response.status_code == 302
    before, after = Photo.objects.order_by("taken_at")

    status = logged_in.get(f"/photos/{before.pk}/status")
    assert b"hx-get" in status.content and b"Waiting for analysis" in status.content
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    status = logged_in.get(f"/photos/{before.pk}/status")
    assert b"hx-get" not in status.content and b"Analysed" in status.content

    page = logged_in.get(f"/photos/patient/{patient.pk}/")
    assert f"/photos/compare/{before.pk}/{after.pk}".encode() in page.content
    compared = logged_in.get(f"/photos/compare/{before.pk}/{after.pk}")
    assert compared.status_code == 200
    assert b"pigmented spots (count)" in compared.content
    assert b"(beyond the noise)" in compared.content or b"no measurable change" in compared.content
    html = compared.content.decode()
    rows = re.findall(
        r"<td>([^<]*)</td><td>([^<]*)</td>\s*<td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td>", html
    )
    values = [cell for before_, after_, _change, mdc, _words in rows for cell in (before_, after_, mdc)]
    decimals = [c for c in values if re.fullmatch(r"-?\d+\.\d+", c)]
    assert decimals and all(len(c.lstrip("-").replace(".", "").lstrip("0")) <= 3 for c in decimals)
    # the change column and the words beside it say the same number
    beyond = [(change, words) for *_values, change, _mdc, words in rows if " by " in words]
    assert beyond and all(f"by {change.lstrip('-')}</strong>" in words for change, words in beyond)
    assert "<h2>Whole photo</h2>" in html and "<h2>full</h2>" not in html
    assert 'type="range" id="compare-wipe-range"' in html and 'for="compare-wipe-range"' in html
    assert f"/photos/{after.pk}/overlay.png" in html and "Show what was measured" in html
    assert "<script>" not in html and "style=" not in html  # CSP: nonce'd static script, no inline styles
    german = logged_in.get(f"/photos/compare/{before.pk}/{after.pk}", HTTP_ACCEPT_LANGUAGE="de")
    assert "Ganzes Foto" in german.content.decode()
    # sessions, photos, analyses: not one query per metric; + 3 for the audit trail's read event
    # (on SQLite BEGIN, the chain's last link, the insert; on PostgreSQL one call of audit_append)
    with django_assert_max_num_queries(15 + 3):
        results = logged_in.get(f"/photos/patient/{patient.pk}/results?view=close_up&area=cheek_left")
    assert results.status_code == 200 and b"red area (%)" in results.content
    # without a choice, the page shows the close-ups, the only photos this patient has
    results = logged_in.get(
        f"/photos/patient/{patient.pk}/results", HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert '<option value="close_up" selected>' in results
    assert '<option value="cheek_left" selected>Wange, links</option>' in results
    assert "Noch keine analysierten Fotos" not in results
    cells = re.findall(r"<td>([^<]*)</td>", results.split("<tbody>", 1)[1].split("</tbody>", 1)[0])
    assert cells and all(re.fullmatch(r"-?\d+(,\d{1,2})?", cell) for cell in cells), cells
    close_ups_only_of_the_chosen_area = logged_in.get(f"/photos/patient/{patient.pk}/results?view=close_up")
    assert b'<option value="cheek_left" selected>' in close_ups_only_of_the_chosen_area.content
    front = logged_in.get(f"/photos/patient/{patient.pk}/results?view=front&area=cheek_left").content.decode()
    assert '<option value="front" selected>' in front and "No analysed photos of this view yet." in front


@pytest.mark.django_db(transaction=True)
def test_the_comparison_says_why_in_the_users_language(
    logged_in, patient, photo_consent, django_capture_on_commit_callbacks
):
    now = timezone.now()
    for data, days, scale in ((phantom_png(1), 60, "0.05"), (phantom_jpeg(1, quality=90), 0, "0.06")):
        taken = (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
        with django_capture_on_commit_callbacks(execute=True):
            assert _capture(logged_in, patient, data, taken_at=taken, mm_per_px=scale).status_code == 302
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    before, after = Photo.objects.order_by("taken_at")
    url = f"/photos/compare/{before.pk}/{after.pk}"

    english = logged_in.get(url).content.decode()
    assert "These photos are not comparable" in english
    assert "<li>scale differs by 20 % from the baseline (limit 10 %)</li>" in english
    assert "The after photo is lossy (JPEG or HEIC) and the before photo lossless" in english
    assert "red area (%)" in english.split("The after photo is lossy", 1)[1].split("</p>", 1)[0]
    german = logged_in.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<li>Maßstab weicht um 20 % vom Ausgangsbefund ab (Grenze 10 %)</li>" in german
    assert "Das Nachher-Foto ist verlustbehaftet komprimiert (JPEG oder HEIC)" in german
    assert "scale differs" not in german and "lossy" not in german


@pytest.mark.django_db(transaction=True)
def test_capture_refusals_are_shown_and_leave_nothing(logged_in, patient, photo_consent):
    response = _capture(logged_in, patient, _corpus.pdf())
    assert response.status_code == 422 and b"not a JPEG, PNG, TIFF or HEIC" in response.content
    assert Photo.objects.count() == 0 and stored_files() == []


@pytest.mark.django_db(transaction=True)
def test_capture_refuses_a_time_in_the_future_and_a_scale_out_of_range_in_german(
    logged_in, patient, photo_consent
):
    german = {"accept-language": "de"}
    response = _capture(logged_in, patient, _corpus.jpeg(), german, taken_at="2099-01-01T10:00")
    html = response.content.decode()
    assert response.status_code == 422
    assert '_error"><li>Das Foto kann nicht in der Zukunft aufgenommen worden sein' in html
    response = _capture(logged_in, patient, _corpus.jpeg(), german, mm_per_px="0.0001")
    html = response.content.decode()
    assert response.status_code == 422 and "0.001" not in html
    assert '_error"><li>Der Maßstab muss zwischen 0,001 und 5 mm pro Pixel liegen.</li>' in html
    assert 'class="field has-error"' in html  # marked like an error in any form of the site
    check = logged_in.post(
        f"/photos/patient/{patient.pk}/check",
        {"view": "close_up", "timepoint": "baseline", "area": "cheek_left", "mm_per_px": "9",
         "file": SimpleUploadedFile("upload.bin", _corpus.jpeg())},
        headers=german,
    )  # fmt: skip
    assert check.status_code == 422 and "zwischen 0,001 und 5 mm pro Pixel" in check.content.decode()
    assert Photo.objects.count() == 0 and stored_files() == []


@pytest.mark.django_db(transaction=True)
def test_capture_without_photo_consent_is_refused(logged_in, patient):
    response = _capture(logged_in, patient, _corpus.jpeg())
    assert response.status_code == 422 and b"photography consent" in response.content


@pytest.mark.django_db(transaction=True)
def test_pages_belong_to_the_clinic(client, patient, photo_consent, clinician, researcher, other_clinic):
    from exoderm.photos.services import upload_photo

    photo, _ = upload_photo(
        patient=patient, chunks=[_corpus.jpeg()], view="front", timepoint="baseline", by=clinician
    )
    urls = [
        f"/photos/patient/{patient.pk}/",
        f"/photos/{photo.pk}/status",
        f"/photos/compare/{photo.pk}/{photo.pk}",
    ]
    client.force_login(factories.UserFactory(clinic=other_clinic))
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    client.force_login(researcher)
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]


@pytest.mark.django_db(transaction=True)
def test_capture_links_the_photo_to_a_visit_of_the_patient(logged_in, patient, photo_consent, clinician):
    from exoderm.courses.models import Course, Visit

    now = timezone.now()
    course = Course.objects.create(
        patient=patient, template=factories.CourseTemplateFactory(clinic=patient.clinic), clinician=clinician,
        starts_at=now,
    )  # fmt: skip
    visit = Visit.objects.create(
        course=course,
        kind="session",
        session_number=1,
        planned_at=now,
        due_from=now.date(),
        due_until=now.date(),
    )
    other = factories.PatientFactory(clinic=patient.clinic)
    other_course = Course.objects.create(
        patient=other, template=course.template, clinician=clinician, starts_at=now
    )
    foreign = Visit.objects.create(
        course=other_course, kind="session", session_number=1, planned_at=now, due_from=now.date(),
        due_until=now.date(),
    )  # fmt: skip
    assert _capture(logged_in, patient, _corpus.jpeg(seed=41), visit=str(foreign.pk)).status_code == 422
    assert _capture(logged_in, patient, _corpus.jpeg(seed=41), visit=str(visit.pk)).status_code == 302
    assert Photo.objects.get().visit == visit


def test_measured_numbers_are_rounded_and_localised():
    assert [measured(v, "L_median") for v in (6.474204, 38.9068, 0.0123456, 0.0, -1.23456, 9.998)] == [
        "6.47", "38.9", "0.0123", "0", "-1.23", "10.0",
    ]  # fmt: skip
    assert measured(12.0, "spot_count") == "12" and measured(None, "spot_count") == "–"
    with translation.override("de"):
        assert measured(6.474204, "L_median") == "6,47"


@pytest.mark.django_db(transaction=True)
def test_overlay_is_a_private_png_of_the_clinic(client, patient, photo_consent, clinician, other_clinic):
    import cv2
    import numpy as np

    from exoderm.photos.services import upload_photo

    photo, _ = upload_photo(
        patient=patient, chunks=[phantom_png(3, spots=12)], view="close_up", timepoint="baseline",
        area="cheek_left", mm_per_px=0.05, by=clinician,
    )  # fmt: skip
    url = f"/photos/{photo.pk}/overlay.png"
    logged_out = client.get(url)
    assert logged_out.status_code == 302 and "/login" in logged_out["Location"]

    client.force_login(clinician)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    assert abs(width / height - photo.width / photo.height) < 0.01

    client.force_login(factories.UserFactory(clinic=other_clinic))
    assert client.get(url).status_code == 404
