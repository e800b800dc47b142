"""Page response times on the demo data: median and p95 per page, and the SQL queries each makes.

Seeds the demo clinic into a fresh SQLite file, logs in as the demo clinician with Django's
test client (the whole middleware stack, templates included; no network) and fetches every
page repeatedly. Each median is also given as a ratio to the baseline measured in the same run:
the login page fetched without a session (the same stack and base template, no clinic data), so
the ratios hold across machines where the milliseconds do not. Run: ``uv run python -m
bench.pages`` (writes the "pages" section of docs/benchmarks.md).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 30


class QueryCounter(list):
    """An execute wrapper that keeps the SQL of every query."""

    def __call__(self, execute, sql, params, many, context):
        self.append(sql)
        return execute(sql, params, many, context)


BUDGET_MS = 150


CLINICIANS = 40


def _forty_clinicians_booked():
    """The demo clinic with :data:`CLINICIANS` clinicians, each with a week of appointments (the
    demo's own two and more added here); returns the day with the most appointments."""
    import datetime as dt
    import zoneinfo

    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from exoderm.booking import services
    from exoderm.booking.demo import seed_week
    from exoderm.booking.models import Appointment
    from exoderm.clinics.models import Role, User
    from exoderm.clinics.services import create_user

    admin = User.objects.get(username="admin")
    clinic = admin.clinic
    extra = [
        create_user(
            clinic=clinic,
            username=f"bench-clinician-{n}",
            password="bench-clinician-password",
            role=Role.CLINICIAN,
            first_name="Bench",
            last_name=f"Clinician {n:02d}",
        )
        for n in range(CLINICIANS - User.objects.filter(clinic=clinic, role=Role.CLINICIAN).count())
    ]
    # a room and a device for every two clinicians, as a clinic of this size would have
    for n in range(CLINICIANS // 2):
        services.add_room(clinic=clinic, name=f"Bench room {n:02d}", by=admin)
        services.add_device(clinic=clinic, name=f"Bench device {n:02d}", kind="microneedling", by=admin)
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    seed_week(
        clinic=clinic,
        by=User.objects.get(username="assistant"),
        admin=admin,
        first_day=monday,
        clinicians=extra,
    )
    busiest = (
        Appointment.objects.filter(clinic=clinic)
        .annotate(day=TruncDate("starts_at", tzinfo=zoneinfo.ZoneInfo(clinic.time_zone)))
        .values("day")
        .annotate(count=Count("pk"))
        .order_by("-count")
        .first()
    )
    assert busiest is not None
    print(
        f"appointments: {Appointment.objects.count()}, busiest day {busiest['day']} with {busiest['count']}"
    )
    return busiest["day"]


def _first_room(user) -> int:
    from exoderm.booking.models import Room

    room = Room.objects.filter(clinic=user.clinic).order_by("pk").first()
    assert room is not None
    return room.pk


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="exoderm-bench-pages-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["EXODERM_DATA_DIR"] = str(workdir)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from bench._report import write_section
    from exoderm.clinics.models import User
    from exoderm.demo import seed_demo
    from exoderm.patients.models import Patient
    from exoderm.products.models import Lot
    from exoderm.treatments.models import ExosomeApplication, TreatmentSession

    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    seed_demo()
    seeded_s = time.perf_counter() - started
    busiest_day = _forty_clinicians_booked()

    clinician = User.objects.get(username="clinician")
    patient = Patient.objects.filter(clinic=clinician.clinic).order_by("pk").first()
    lot = Lot.objects.filter(product__clinic=clinician.clinic).order_by("-temperatures__recorded_at").first()
    applied = ExosomeApplication.objects.filter(session__patient__clinic=clinician.clinic).first()
    session = TreatmentSession.objects.filter(patient__clinic=clinician.clinic).order_by("-pk").first()
    assert patient and lot and session and applied
    pages = {
        "Today": reverse("today"),
        "Patients": reverse("patients"),
        "Patient search": reverse("patients") + "?q=" + patient.identity.family_name[:3],
        "Patient": reverse("patient", args=[patient.pk]),
        "Sessions": reverse("sessions"),
        "Session": reverse("session", args=[session.pk]),
        "Chart a session": reverse("session-new") + f"?patient={patient.pk}",
        "Lots": reverse("lots"),
        "Lot (with temperature chart)": reverse("lot", args=[lot.pk]),
        "Recall: affected patients": reverse("lot-affected", args=[applied.lot_id]),
        "Products": reverse("products"),
        "Courses": reverse("courses"),
        "Visit calendar": reverse("calendar"),
        "Appointments: day, 40 clinicians": reverse("booking-day") + f"?date={busiest_day}",
        "Appointments: day by room": reverse("booking-day") + f"?date={busiest_day}&by=room",
        "Appointments: week of a clinician": reverse("booking-week") + f"?date={busiest_day}",
        "Appointments: week of a room": reverse("booking-week")
        + f"?date={busiest_day}&room={_first_room(clinician)}",
    }

    def timed(client: Client, url: str) -> list[float]:
        response = client.get(url)  # warm-up (template loading, first queries)
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _round in range(ROUNDS):
            begin = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - begin) * 1000)
        return timings

    baseline = statistics.median(timed(Client(), reverse("login")))
    client = Client()
    client.force_login(clinician)
    rows = []
    medians = []
    for name, url in pages.items():
        timings = timed(client, url)
        queries = QueryCounter()
        # Requests close the connection (CONN_MAX_AGE=0); the wrapper sits on the connection object.
        with connection.execute_wrapper(queries):
            client.get(url)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        medians.append(median)
        rows.append(f"| {name} | {median:.1f} | {p95:.1f} | {median / baseline:.1f}x | {len(queries)} |")
        print(f"{name:32} median {median:6.1f} ms  p95 {p95:6.1f} ms  {len(queries):3d} queries")
    overall = statistics.median(medians)
    slowest = max(medians)
    verdict = "within" if slowest < BUDGET_MS else "OVER"
    body = "\n".join(
        [
            "## Page views (bench/pages.py)",
            "",
            f"The demo clinic ({Patient.objects.count()} patients, "
            f"{TreatmentSession.objects.count()} sessions, "
            f"{Lot.objects.count()} lots; seeded in {seeded_s:.1f} s) on SQLite, logged in as the clinician, "
            f"Django's test client through the whole middleware stack, {ROUNDS} rounds per page after one "
            f"warm-up. Baseline: the login page without a session, median {baseline:.1f} ms in the same run.",
            "",
            "| page | median ms | p95 ms | median x baseline | SQL queries |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Median over the pages: **{overall:.1f} ms** ({overall / baseline:.1f}x the baseline); the "
            f"slowest page's median is {slowest:.1f} ms ({slowest / baseline:.1f}x), "
            f"{verdict} the budget of {BUDGET_MS} ms. Query counts are bounded in tests/web/test_pages.py "
            "(the same for 2 and 6 patients, at most 17 per page there). "
            f"Load average during the run: {os.getloadavg()[0]:.1f}.",
        ]
    )
    write_section("pages", body)
    print(f"median over pages {overall:.1f} ms, slowest {slowest:.1f} ms")
    return 0 if slowest < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
