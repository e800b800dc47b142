"""The photo gallery on the patient page (thumbnails, served like the photos and cached), and
"results over the course" as trend charts with the noise band; in Chromium at desktop and tablet
width with the comparison's summary."""

from __future__ import annotations

import datetime as dt
import io
import re
import time

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from exoderm.photos import storage
from exoderm.photos.models import Photo
from exoderm.photos.services import THUMBNAIL_SIDE, trash_photo, upload_photo
from tests import factories
from tests._browser import shot
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_in_browser

SPOTS_OVER_THE_COURSE = ((30, 70, "baseline"), (18, 40, "follow_up"), (4, 1, "follow_up"))


@pytest.fixture
def course(patient, photo_consent, clinician, django_capture_on_commit_callbacks):
    """Three close-ups of the left cheek over ten weeks (30, 18 and 4 spots) and one of the
    forehead on the first day, analysed by the worker."""
    now = timezone.now()
    shots = [("cheek_left", spots, days, timepoint) for spots, days, timepoint in SPOTS_OVER_THE_COURSE]
    shots.append(("forehead", 12, 70, "baseline"))
    for area, spots, days_ago, timepoint in shots:
        with django_capture_on_commit_callbacks(execute=True):
            upload_photo(
                patient=patient, chunks=[phantom_png(1 if area == "cheek_left" else 5, spots=spots)],
                view="close_up", area=area, timepoint=timepoint, mm_per_px=MM_PER_PX,
                taken_at=now - dt.timedelta(days=days_ago, minutes=1 if area == "forehead" else 0),
                by=clinician,
            )  # fmt: skip
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    return list(Photo.objects.filter(area="cheek_left").order_by("taken_at"))


@pytest.mark.django_db(transaction=True)
def test_the_patient_page_shows_every_photo_by_day_as_thumbnails(client, patient, clinician, course):
    client.force_login(clinician)
    html = client.get(reverse("patient", args=[patient.pk])).content.decode()
    gallery = html.split('id="photo-gallery"', 1)[1].split("</section>\n</section>", 1)[0]
    days = re.findall(r'<h3 id="gallery-(\d{8})">', gallery)
    assert len(days) == 3 and days == sorted(days, reverse=True)  # newest day first
    thumbs = re.findall(r'<img src="/photos/(\d+)/thumb.jpg" width="(\d+)" height="(\d+)"', gallery)
    assert len(thumbs) == 4 and all(max(int(w), int(h)) == 160 for _pk, w, h in thumbs)
    # the first day holds the forehead and the cheek, in view (then area) order
    first_day = gallery.rsplit("<h3", 1)[1]
    assert first_day.index("Cheek, left") < first_day.index("Forehead")
    assert "/file" in gallery and reverse("photos:results", args=[patient.pk]) in gallery


@pytest.mark.django_db
def test_a_patient_without_photos_is_offered_the_capture(client, patient, clinician):
    client.force_login(clinician)
    html = client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "No photos yet." in html and reverse("photos:patient", args=[patient.pk]) in html


@pytest.mark.django_db(transaction=True)
def test_thumbnails_are_small_made_once_and_kept_encrypted(client, clinician, course, other_clinic):
    photo = course[0]
    client.force_login(clinician)
    url = reverse("photos:thumb", args=[photo.pk])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"  # like the photo: no cache keeps it
    with Image.open(io.BytesIO(response.content)) as image:
        assert max(image.size) == THUMBNAIL_SIDE and image.format == "JPEG"
    assert len(response.content) < 60_000
    kept = storage.derived_path(photo.file_name, f"thumb-{THUMBNAIL_SIDE}.jpg")
    assert kept.exists() and response.content not in kept.read_bytes()  # sealed on disk
    assert storage.read_derived(kept) == response.content
    # made once: the next request is answered from the kept file
    storage.write_derived(b"kept", kept)
    assert client.get(url).content == b"kept"
    client.force_login(factories.UserFactory(clinic=other_clinic))
    assert client.get(url).status_code == 404
    trash_photo(photo=photo, reason="failed_capture", by=clinician)
    client.force_login(clinician)
    assert client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_results_over_the_course_chart_each_metric_with_the_noise_band(
    client, patient, clinician, course, repeatability
):
    client.force_login(clinician)
    html = client.get(
        reverse("photos:results", args=[patient.pk]), {"view": "close_up", "area": "cheek_left"}
    ).content.decode()
    charts = re.findall(r'<svg class="chart trend".*?</svg>', html, re.S)
    assert charts and "<script" not in html.split('id="h-trend"', 1)[1]
    spots = next(chart for chart in charts if "pigmented spots (count)" in chart)
    assert '<polygon class="noise"' in spots  # the study's mdc of 3 spots around the baseline
    # week 6 lies beyond the noise, the few spots fewer of week 4 inside it
    points = re.findall(r'<circle class="(\w+)".*?<title>(.*?)</title>', spots)
    assert [kind for kind, _title in points] == ["baseline", "within", "beyond"], points
    assert points[1][1].endswith("(no measurable change)") and points[2][1].endswith("(beyond the noise)")
    assert "1 of the later photos differ from the baseline beyond the measurement noise" in spots
    assert "-0<" not in html and "−0<" not in html


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 820])
def test_gallery_trend_and_comparison_in_the_browser(
    browser_page, live_server, patient, clinician, course, repeatability, width
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 1000})
    login_in_browser(page, live_server.url, clinician)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"

    page.goto(live_server.url + reverse("patient", args=[patient.pk]))
    thumbs = page.locator("#photo-gallery img")
    assert thumbs.count() == 4
    page.locator("#photo-gallery").scroll_into_view_if_needed()
    loaded = (
        "[...document.querySelectorAll('#photo-gallery img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    deadline = time.monotonic() + 30  # (wait_for_function would evaluate a string: the CSP refuses)
    while not page.evaluate(loaded):
        assert time.monotonic() < deadline, "the thumbnails did not load"
        page.wait_for_timeout(200)
    assert page.evaluate(fits)
    if width == 1280:
        page.locator("#h-photos").locator("..").screenshot(path=str(_shot_path("photo-gallery")))

    results = reverse("photos:results", args=[patient.pk])
    page.goto(f"{live_server.url}{results}?view=close_up&area=cheek_left")
    assert page.locator("svg.chart.trend").count() >= 10 and page.evaluate(fits)
    if width == 1280:
        shot(page, "photo-trend")

    before, _middle, after = course
    page.goto(live_server.url + reverse("photos:compare", args=[before.pk, after.pk]))
    summary = page.locator("#h-summary + ul").inner_text()
    assert summary.startswith("pigmented spots (count): lower by") and page.evaluate(fits)
    page.check_clean()


def _shot_path(name: str):
    from tests._browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"
