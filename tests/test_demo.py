"""The demo: seeded once through the services, and `exoderm demo` serves pages, API and a worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pyotp
import pytest
from django.db.models import Min
from django.utils import timezone

from exoderm.clinics.models import Role, User
from exoderm.clinics.services import issue_api_token
from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.courses.models import Course, Visit, VisitStatus
from exoderm.demo import DEMO_ADMIN_TOTP_SECRET, FAMILY, GIVEN, PATIENTS, seed_demo
from exoderm.patients.models import Patient
from exoderm.photos.models import Photo
from exoderm.photos.tasks import run_analysis
from exoderm.products.models import Lot, LotStatus
from exoderm.studies.analysis.results import results_of
from exoderm.studies.analysis.unblinding import by_arm_allowed
from exoderm.studies.demo import FINISHED_PATIENTS, FINISHED_TITLE
from exoderm.studies.demo import PATIENTS as STUDY_PATIENTS
from exoderm.studies.models import Study
from exoderm.treatments.models import TreatmentSession


@pytest.mark.slow
@pytest.mark.django_db
def test_seed_demo_once(client):
    credentials = seed_demo()
    assert {role for _, _, role in credentials} == set(Role.values)
    assert Patient.objects.count() == PATIENTS + len(STUDY_PATIENTS) + len(FINISHED_PATIENTS)
    assert TreatmentSession.objects.count() > PATIENTS  # most patients had more than one session
    assert Lot.objects.filter(status=LotStatus.QUARANTINED, status_reason__icontains="°C").count() == 1
    # every lot was released before its first use, and the broken cold chain quarantined one after that
    for lot in Lot.objects.all():
        released = lot.events.get(to_status=LotStatus.RELEASED).at
        first_use = lot.vials.aggregate(first=Min("thawed_at"))["first"]
        assert first_use is None or released < first_use, lot.number
        in_order = [e.to_status for e in lot.events.order_by("at", "id")]
        assert in_order[:2] == [LotStatus.QUARANTINED, LotStatus.RELEASED], (lot.number, in_order)
    assert Visit.objects.filter(status=VisitStatus.DONE).exists()
    assert Visit.objects.filter(status=VisitStatus.PLANNED).exists()
    # Through the services the seed keeps their rules: no session ahead of time, no course without consent.
    assert not TreatmentSession.objects.filter(performed_at__gt=timezone.now()).exists()
    for course in Course.objects.select_related("patient"):
        assert active_consent(patient=course.patient, kind=ConsentKind.TREATMENT, at=course.created_at)

    # the finished pilot study: unblinded at its end, its results by arm, with figures and a report
    finished = Study.objects.get(title=FINISHED_TITLE)
    assert by_arm_allowed(finished)
    photos = Photo.objects.filter(patient__study_participations__study=finished)
    assert photos.count() == 4 * len(FINISHED_PATIENTS)  # a baseline and an endpoint close-up per cheek
    for photo in photos:  # what the demo's worker does
        assert run_analysis(photo.pk) == "analysed"
    investigator = User.objects.get(username="clinician")
    results = {
        (r.metric or r.rating, r.visit): r for r in results_of(study=finished, user=investigator).endpoints
    }
    assert results[("gais", "s3w6")].comparison == "A - B"
    # the exosome cheeks lost more spots than the vehicle cheeks, beyond the interval's doubt
    spots = results[("spot_count", "s3w6")].result
    assert spots.n == len(FINISHED_PATIENTS)
    assert spots.estimate < 0 and spots.ci_high is not None and spots.ci_high < 0
    client.force_login(investigator)
    page = client.get(f"/studies/{finished.pk}/results/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "A - B" in html and html.count('class="figure"') == 4
    report = client.get(f"/studies/{finished.pk}/results/report.pdf")
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    # the demo's researcher is the statistician of the demo studies: their results, not their pages
    client.force_login(User.objects.get(username="researcher"))
    assert f'href="/studies/{finished.pk}/results/"' in client.get("/studies/").content.decode()
    assert client.get(f"/studies/{finished.pk}/results/").status_code == 200
    assert client.get(f"/studies/{finished.pk}/").status_code == 404

    seed_demo()
    assert Patient.objects.count() == PATIENTS + len(STUDY_PATIENTS) + len(FINISHED_PATIENTS)
    assert User.objects.count() == len(credentials)
    # the administrator signs in with the authenticator secret the demo prints (the seed used the
    # current step to confirm it, so the next one)
    admin_password = next(password for name, password, _role in credentials if name == "admin")
    otp = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(timezone.now() + dt.timedelta(seconds=30))
    assert issue_api_token(username="admin", password=admin_password, otp=otp)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_exoderm_demo_serves_site_and_api(tmp_path):
    port = _free_port()
    env = {**os.environ, "EXODERM_DATA_DIR": str(tmp_path), "EXODERM_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen(
        [sys.executable, "-m", "exoderm.cli", "demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/login/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
                assert time.monotonic() < deadline, "the demo did not come up in 3 minutes"
                time.sleep(1)
        request = urllib.request.Request(
            f"{base}/api/v1/auth/token",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": "clinician", "password": "Demo-Clinician-2026!"}).encode(),
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["token"]

        def get(path: str) -> dict:
            auth = {"Authorization": f"Bearer {token}"}
            with urllib.request.urlopen(
                urllib.request.Request(f"{base}/api/v1{path}", headers=auth), timeout=10
            ) as response:
                return json.load(response)

        assert get("/patients")["count"] == PATIENTS + len(STUDY_PATIENTS) + len(FINISHED_PATIENTS)
        # the first patient's close-ups, analysed by the demo's own worker
        (patient,) = get("/patients?" + urllib.parse.urlencode({"q": f"{GIVEN[0]} {FAMILY[0]}"}))["items"]
        before, after = get(f"/photos?patient={patient['id']}")["items"]
        while (progress := get(f"/photos/progress?patient={patient['id']}"))[
            "analysed_by_current_engine"
        ] < 2:
            assert progress["by_status"].get("failed", 0) == 0, progress
            assert time.monotonic() < deadline + 120, f"the worker did not analyse the photos: {progress}"
            time.sleep(1)
        comparison = get(f"/photos/compare?before={before['id']}&after={after['id']}")
        assert comparison["comparable"], comparison["reasons"]
        rows = {row["key"]: row for row in comparison["regions"]["full"]}
        assert rows["spot_count"]["verdict"] == "beyond_noise" and rows["spot_count"]["better"] is True
        assert rows["L_median"]["verdict"] == "beyond_noise" and rows["L_median"]["delta"] > 1.0
        assert len(comparison["notes"]) == 1  # the colour chart's note (in the request's language)
    finally:
        demo.terminate()  # `kill <pid>`: the demo alone gets SIGTERM, as Ctrl-C sends it SIGINT
        # an impatient second Ctrl-C while the server and worker drain (Granian asks for one)
        time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        # The demo stops its children within 10 s; the rest is slack for a busy CI machine.
        output, _ = demo.communicate(timeout=60)
    assert "Traceback" not in output, output[-3000:]
    assert "clinician" in output and "Demo-Clinician-2026!" in output
    assert DEMO_ADMIN_TOTP_SECRET in output
    assert "Starting worker" in output  # the task worker ran beside the web server
    assert "messaging housekeeping: queued" in output
    # what would bury the sign-ins: a line per analysed photo, Granian's warning about its threads
    assert "state=SUCCESSFUL" not in output
    assert "Python threads" not in output
    # Nothing the demo started outlives it: an orphaned server process would keep the port.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
