"""Issue 5's acceptance test in Chromium: capture a baseline and a week-6 phantom, a real worker
analyses them while the page watches, the check before upload warns about a mismatched photo,
the comparison marks what changed, and the patient's PDF says so.

The site runs as it is deployed (``tests/photos/_scenario.py``): the web server and a `db_worker`
are separate processes on one SQLite database file. pytest-django's live server cannot be used
here: its test database lives in the memory of the test process, out of the worker's reach.
The browser is watched as in every browser test (``browser_page``): no request to another host,
no Content-Security-Policy violation, no script error.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader

from exoderm.skinlab.phantom import Perturbation, make_phantom
from tests._browser import shot
from tests.photos import _scenario

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIDE = 900  # 45 x 60 mm at 0.05 mm per pixel: room for 80 spots
ANALYSED_WITHIN = 240  # seconds, two analyses on a busy two-core machine


@pytest.fixture
def site(tmp_path):
    """Server and database of a fresh clinic with one consented patient; the worker is the test's."""
    root = tmp_path / "site"
    root.mkdir()
    _scenario.run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
    out = _scenario.run(root, "-m", "tests.photos._scenario", "clinician", str(root))
    seeded = json.loads(out.strip().splitlines()[-1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _scenario.start_server(root, port)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/login/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, (root / "server.log").read_text()
        assert time.monotonic() < deadline, (root / "server.log").read_text()
        time.sleep(0.2)
    yield {"root": root, "url": url, **seeded}
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)


@pytest.fixture
def browser_base_url(site):
    return site["url"]


def phantom_file(path: Path, *, spots: int, **design) -> Path:
    rgb = make_phantom(
        shape=(SIDE, SIDE * 4 // 3), mm_per_px=0.05, seed=11, spots=spots, wrinkles=0, **design
    ).rgb
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    path.write_bytes(out.getvalue())
    return path


def choose(page, path: Path, **fields: str) -> None:
    """Fill the capture form and choose the file; the check before upload answers in place."""
    for name, value in fields.items():
        if page.locator(f"select#id_{name}").count():
            page.select_option(f"#id_{name}", value)
        else:
            page.fill(f"#id_{name}", value)
    with page.expect_response(lambda r: r.url.endswith("/check") and r.request.method == "POST"):
        page.set_input_files("#id_file", str(path))
    expect(page.locator("#capture-check")).not_to_contain_text("As soon as you choose")


def test_baseline_and_week_6_from_capture_to_the_patients_pdf(browser_page, site, tmp_path):
    page, url = browser_page, site["url"]
    started = time.monotonic()
    # the same skin (red patches, pores, tone), with fewer and smaller spots at week 6
    baseline = phantom_file(tmp_path / "baseline.png", spots=80)
    week6 = phantom_file(tmp_path / "week6.png", spots=6, spot_area_mm2=(0.3, 4.0))
    mismatched = phantom_file(
        tmp_path / "dim.png", spots=6, spot_area_mm2=(0.3, 4.0), perturb=Perturbation(exposure=0.5)
    )
    now = dt.datetime.now().replace(second=0, microsecond=0)

    page.goto(url + "/login/")
    page.fill("#id_username", site["username"])
    page.fill("#id_password", site["password"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    photos = f"{url}/photos/patient/{site['patient']}/"
    page.goto(photos)
    assert page.get_attribute("#id_file", "capture") is None  # a desktop chooses files

    # on a phone the file input opens the camera
    phone = page.context.browser.new_context(
        storage_state=page.context.storage_state(), is_mobile=True, has_touch=True,
        viewport={"width": 412, "height": 915},
    )  # fmt: skip
    elsewhere: list[str] = []

    def same_site_only(route):
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    phone.route("**/*", same_site_only)
    mobile = phone.new_page()
    mobile.goto(photos)
    assert mobile.get_attribute("#id_file", "capture") == "environment"
    phone.close()
    assert elsewhere == []

    # the guide follows the view; a baseline has nothing to be compared with yet
    expect(page.locator('span[data-guide="front"]')).to_be_visible()
    page.select_option("#id_view", "close_up")
    expect(page.locator('span[data-guide="close_up"]')).to_be_visible()
    expect(page.locator('span[data-guide="front"]')).to_be_hidden()
    choose(
        page, baseline, area="cheek_left", timepoint="baseline", mm_per_px="0.05",
        taken_at=(now - dt.timedelta(weeks=6)).strftime("%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    expect(page.locator("#capture-check")).to_contain_text("nothing to compare with")
    expect(page.locator("#capture-preview")).to_be_visible()  # the chosen file, as an object URL
    assert page.get_attribute("#capture-preview", "src").startswith("blob:")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(photos)
    expect(page.locator("main")).to_contain_text("Photo stored; it is being analysed.")

    # week 6, first taken too dark and at another scale: warned, in words, before anything is stored
    page.select_option("#id_view", "close_up")
    page.select_option("#id_area", "cheek_left")
    ghost = page.locator("#capture-ghost")
    expect(ghost).to_be_visible()  # the baseline under the new photo, through the login-checked view
    # (the photo list shows thumbnails: the ghost is the first to fetch the whole photo, so it may
    # still be arriving)
    deadline = time.monotonic() + 30
    while not page.evaluate("document.getElementById('capture-ghost').complete"):
        assert time.monotonic() < deadline, "the ghost did not load"
        page.wait_for_timeout(100)
    assert page.evaluate("document.getElementById('capture-ghost').naturalWidth") == SIDE * 4 // 3
    choose(page, mismatched, timepoint="follow_up", mm_per_px="0.06", taken_at=now.strftime("%Y-%m-%dT%H:%M"))
    warning = page.locator("#capture-check .capture-warning")
    expect(warning).to_contain_text("scale differs by 20 % from the baseline (limit 10 %)")
    expect(warning).to_contain_text("stops darker than the baseline")
    expect(warning).to_contain_text("you can still upload it")
    expect(page.locator("#capture-checking")).to_have_css("opacity", "0")  # the indicator faded out
    shot(page, "photo-capture")
    # retaken properly: the same check finds nothing
    choose(page, week6, mm_per_px="0.05")
    expect(page.locator("#capture-check")).to_contain_text("Pose, scale and lighting match the baseline")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(photos)
    status = _scenario.status(site["root"])
    assert len(status["photos"]) == 2 and status["analyses"] == 0  # the warned-about photo was never stored

    # a real worker analyses both; the page shows it without being reloaded
    badges = page.locator("[id^=photo-status-]")
    expect(badges).to_have_count(2)
    expect(badges.first).to_contain_text("Waiting for analysis")
    page.evaluate("window.__same_page = true")
    worker = _scenario.start_worker(site["root"], "browser")
    try:
        for badge in badges.all():
            expect(badge).to_have_text("Analysed", timeout=ANALYSED_WITHIN * 1000)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert page.evaluate("window.__same_page") is True
    assert {p["analyses"] for p in _scenario.status(site["root"])["photos"].values()} == {1}
    page.check_clean()

    # the comparison: the spots changed beyond the noise, the skin's lightness did not
    page.reload()  # the comparison link appears once there are two photos of the view
    page.locator("section[aria-labelledby=comparisons] a").first.click()
    page.wait_for_url(f"{url}/photos/compare/**")
    spots = page.locator("tr", has=page.locator("th", has_text="pigmented spots (count)"))
    expect(spots).to_contain_text("(beyond the noise)")
    expect(spots).to_contain_text("lower by")
    lightness = page.locator("tr", has=page.locator("th", has_text="lightness (L*)"))
    expect(lightness).to_contain_text("no measurable change")
    shot(page, "photo-comparison")
    # the wipe slider answers the keyboard; the overlays of what was measured replace the photos
    wipe = page.locator("#compare-wipe-range")
    expect(wipe).to_be_visible()
    start = float(wipe.input_value())
    wipe.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    moved = float(wipe.input_value())
    assert moved < start
    frame = page.locator("#compare-wipe-frame")
    assert frame.evaluate("f => f.style.getPropertyValue('--wipe')") == f"{wipe.input_value()}%"
    assert wipe.get_attribute("aria-valuetext") == f"{wipe.input_value()} %"
    page.get_by_label("Show what was measured").check()
    images = page.locator("img[data-overlay]")
    assert images.count() >= 2
    for i in range(images.count()):
        expect(images.nth(i)).to_have_attribute("src", re.compile(r"/photos/\d+/overlay\.png$"))
    loaded = "[...document.querySelectorAll('img[data-overlay]')].every(i => i.complete && i.naturalWidth)"
    page.wait_for_function(f"() => {loaded}")
    page.get_by_label("Show what was measured").uncheck()
    expect(images.first).not_to_have_attribute("src", re.compile(r"overlay\.png$"))
    page.check_clean()

    # the patient's PDF, by the page's link, read back as text
    page.goto(photos)
    with page.expect_download() as download:
        page.get_by_role("link", name="Report for the patient (PDF)").click()
    reader = PdfReader(download.value.path())
    text = " ".join(p.extract_text() or "" for p in reader.pages).replace("\n", " ")
    assert len(reader.pages) == 1 and len(reader.pages[0].images) == 2
    assert "Your skin measurements" in text
    assert "pigmented spots (count): lower by" in text
    page.check_clean()
    print(f"browser flow: {time.monotonic() - started:.0f} s")
