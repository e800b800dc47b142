"""Study results benchmark: the whole analysis of a 200-participant, 5-visit split-face study, as a
ratio to reading its rows from the database.

Run ``uv run python -m bench.study_results``. The script runs itself again in a child process on a
fresh SQLite file under ``var/bench/`` (or ``BENCH_DATABASE_URL``), migrates it and seeds one
study: 200 participants, a course of one session with follow-ups 1, 2, 4, 8 and 12 weeks after it,
a close-up of each cheek at baseline and each follow-up (2,400 photos, each with a skinlab record:
a real analysis of a phantom close-up with its spot count varied per photo), two raters' GAIS of
each side at each follow-up and the study unblinded, so the analysis is by arm. Rows are written
in bulk (the services would take an hour of skinlab runs for the photos).

Timed (median of 5 runs after a warm-up):

- *read*: the rows the analysis reads (photos with their analyses, visits, ratings with scores,
  participants with their slots), as lists;
- *results*: :func:`exoderm.studies.analysis.results.results_of`: reading plus comparisons, every
  endpoint at every visit, mixed model, agreement, adverse events and CONSORT flow.

It prints both and their ratio, in wall-clock and CPU seconds, writes them to
``build/bench/study_results.json`` and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._report import write_section

PARTICIPANTS = 200
FOLLOW_UPS = [1, 2, 4, 8, 12]
RUNS = 5
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench" / "study_results.json"


def _timed(function: Any) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``function`` (the database is SQLite in this process,
    so its CPU time is all of the work and does not grow when other processes share the cores)."""
    function()
    wall, cpu = [], []
    for _ in range(RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _record() -> dict[str, Any]:
    """A real skinlab record of a phantom close-up (its spot count is then varied per photo)."""
    import io

    from PIL import Image

    from exoderm.photos.engine import measure_photo
    from exoderm.skinlab.phantom import make_phantom

    phantom = make_phantom(shape=(480, 640), mm_per_px=0.05, seed=1, spots=16)
    out = io.BytesIO()
    Image.fromarray(phantom.rgb).save(out, "PNG")
    return measure_photo(out.getvalue(), view="close_up", mm_per_px=0.05).record


def _seed() -> tuple[Any, Any]:
    import copy
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from exoderm.audit import chain
    from exoderm.clinics.models import Clinic, Role, User
    from exoderm.courses.models import Course, CourseTemplate, Visit, VisitKind, VisitStatus
    from exoderm.patients.models import Patient
    from exoderm.photos.models import Analysis, Photo
    from exoderm.products.models import Product
    from exoderm.skinlab import ENGINE_VERSION
    from exoderm.studies import services
    from exoderm.studies.analysis.unblinding import UNBLINDED_AT_END
    from exoderm.studies.models import (
        AllocationSlot,
        Participant,
        Rating,
        RatingScore,
        RatingTask,
        Study,
    )

    rng = random.Random(20261206)
    clinic = Clinic.objects.create(name="Benchmark clinic")
    pi = User.objects.create(username="pi", clinic=clinic, role=Role.CLINIC_ADMIN)
    raters = [User.objects.create(username=f"rater{i}", clinic=clinic, role=Role.CLINICIAN) for i in range(2)]
    products = [
        Product.objects.create(
            clinic=clinic, name=name, source="umbilical_cord_msc", storage_form="frozen",
            storage_min_c=Decimal("-25"), storage_max_c=Decimal("-15"), use_by_minutes=120,
            volume_min_ml=Decimal("1"), volume_max_ml=Decimal("3"),
        )
        for name in ("ExoSerum", "Vehicle")
    ]  # fmt: skip
    template = CourseTemplate.objects.create(
        clinic=clinic, name="One session", session_count=1, interval_weeks=1, followup_weeks=FOLLOW_UPS
    )
    study = services.create_study(
        by=pi, title="Benchmark split-face study", design="split_face", course_template=template.pk,
        arms=[
            services.ArmInput("A", "Exosome", products[0].pk),
            services.ArmInput("B", "Vehicle", products[1].pk),
        ],
        endpoints=[
            services.EndpointInput(kind="gais", session_number=1, weeks_after_session=12, primary=True),
            services.EndpointInput(
                kind="metric", session_number=1, weeks_after_session=12,
                metric="spot_count", region="cheek_left",
            ),
        ],
        slots_per_stratum=PARTICIPANTS, block_size=4,
    )  # fmt: skip
    for rater in raters:
        services.assign_role(study=study, user=rater, role="rater", by=pi)
    coordinator = User.objects.create(username="coordinator", clinic=clinic, role=Role.ASSISTANT)
    services.assign_role(study=study, user=coordinator, role="unblinded_coordinator", by=pi)
    services.generate_allocation_list(study=study, by=coordinator)
    Study.objects.filter(pk=study.pk).update(locked_at=timezone.now())
    record = _record()
    start = timezone.now() - dt.timedelta(weeks=20)
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, code=f"B-{i:05d}", fitzpatrick=rng.randint(1, 6), glogau=2)
        for i in range(PARTICIPANTS)
    )
    courses = Course.objects.bulk_create(
        Course(patient=p, template=template, clinician=raters[0], starts_at=start) for p in patients
    )
    visits = Visit.objects.bulk_create(
        Visit(
            course=course, kind=VisitKind.FOLLOW_UP, session_number=1, weeks_after_session=weeks,
            planned_at=start + dt.timedelta(weeks=weeks), due_from=(start + dt.timedelta(weeks=weeks)).date(),
            due_until=(start + dt.timedelta(weeks=weeks, days=7)).date(), status=VisitStatus.DONE,
        )
        for course in courses
        for weeks in FOLLOW_UPS
    )  # fmt: skip
    participants = Participant.objects.bulk_create(
        Participant(
            study=study, patient=p, pseudonym=f"S-{i:04d}", course=c,
            enrolled_at=start - dt.timedelta(days=2), enrolled_by=pi,
        )
        for i, (p, c) in enumerate(zip(patients, courses, strict=True))
    )  # fmt: skip
    slots = list(AllocationSlot.objects.filter(study=study).order_by("sequence")[:PARTICIPANTS])
    for slot, participant in zip(slots, participants, strict=True):
        slot.participant, slot.allocated_at = participant, participant.enrolled_at
    AllocationSlot.objects.bulk_update(slots, ["participant", "allocated_at"])
    photos, records = [], []
    for participant, course, slot in zip(participants, courses, slots, strict=True):
        own_visits = [v for v in visits if v.course_id == course.pk]
        for area, arm in (("cheek_left", slot.arm_left), ("cheek_right", slot.arm_right)):
            base = rng.gauss(14, 2)
            for visit in [None, *own_visits]:
                step = 0 if visit is None else FOLLOW_UPS.index(visit.weeks_after_session) + 1
                count = max(0.0, round(base - step * (1.6 if arm == "A" else 0.5) + rng.gauss(0, 1)))
                data = copy.deepcopy(record)
                data["regions"]["full"]["metrics"]["spot_count"] = count
                digest = f"{participant.pk:05d}{area}{step}".ljust(64, "0")
                photos.append(
                    Photo(
                        clinic=clinic, patient=participant.patient, visit=visit, view="close_up", area=area,
                        timepoint="baseline" if visit is None else "follow_up", mm_per_px=0.05,
                        taken_at=start - dt.timedelta(days=1) if visit is None else visit.planned_at,
                        taken_at_source="client", source_format="png", source_sha256=digest, source_size=1,
                        file_name=digest, sha256=digest, content_type="image/png", size_bytes=1, width=640,
                        height=480, uploaded_by=pi, analysis_status="done",
                    )
                )  # fmt: skip
                records.append(data)
    photos = Photo.objects.bulk_create(photos)
    Analysis.objects.bulk_create(
        Analysis(photo=photo, engine_version=ENGINE_VERSION, roi="full", usable=True, data=data, seconds=0.1)
        for photo, data in zip(photos, records, strict=True)
    )
    tasks = RatingTask.objects.bulk_create(
        RatingTask(study=study, participant=p, visit=v, order_key=f"{v.pk:08d}", created_at=start)
        for p, c in zip(participants, courses, strict=True)
        for v in visits
        if v.course_id == c.pk
    )
    ratings = Rating.objects.bulk_create(
        Rating(task=task, rater=rater, rated_at=start) for task in tasks for rater in raters
    )
    gais = ["very_much_improved", "much_improved", "improved", "no_change", "worse"]
    RatingScore.objects.bulk_create(
        RatingScore(rating=rating, side=side, gais=gais[rng.randint(0, 4)])
        for rating in ratings
        for side in ("face_left", "face_right")
    )
    chain.append(
        action="update", object_type="studies.study", object_id=study.pk, clinic_id=clinic.pk,
        changes={UNBLINDED_AT_END: {"old": None, "new": timezone.now().isoformat()}},
    )  # fmt: skip
    return study, pi


def child() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from exoderm.courses.models import Visit
    from exoderm.photos.models import Photo
    from exoderm.studies.analysis.results import results_of
    from exoderm.studies.models import Participant, Rating

    call_command("migrate", interactive=False, verbosity=0)
    seeded = time.perf_counter()
    study, pi = _seed()
    seed_seconds = time.perf_counter() - seeded

    def read() -> None:
        patients = list(study.participants.values_list("patient_id", flat=True))
        list(Photo.objects.filter(patient_id__in=patients).prefetch_related("analyses"))
        list(Visit.objects.filter(course__study_participant__study=study))
        list(
            Rating.objects.filter(task__study=study).select_related("task__visit").prefetch_related("scores")
        )
        list(Participant.objects.filter(study=study).select_related("patient", "course", "slot"))

    def analyse() -> None:
        results = results_of(study=study, user=pi)
        assert results.by_arm and len(results.endpoints) == 2 * len(FOLLOW_UPS)
        # every participant analysed at every visit, for both endpoints and the mixed model
        assert all(e.result.n == PARTICIPANTS for e in results.endpoints)
        assert [m.result.n for m in results.mixed_models] == [PARTICIPANTS] * len(FOLLOW_UPS)

    read_seconds, read_cpu = _timed(read)
    results_seconds, results_cpu = _timed(analyse)
    found = {
        "participants": PARTICIPANTS,
        "visits": len(FOLLOW_UPS),
        "photos": Photo.objects.count(),
        "seed_seconds": round(seed_seconds, 1),
        "read_seconds": round(read_seconds, 3),
        "results_seconds": round(results_seconds, 3),
        "ratio": round(results_seconds / read_seconds, 1),
        "read_cpu_seconds": round(read_cpu, 3),
        "results_cpu_seconds": round(results_cpu, 3),
        "cpu_ratio": round(results_cpu / read_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(found))


def main() -> None:
    database = ROOT / "var" / "bench" / "study_results.sqlite3"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    url = os.getenv("BENCH_DATABASE_URL", f"sqlite:///{database}")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "exoderm.settings"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.study_results", "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(found, indent=2))
    print(
        f"{found['participants']} participants x {found['visits']} visits ({found['photos']} photos): "
        f"results {found['results_seconds']} s, reading the rows {found['read_seconds']} s, "
        f"ratio {found['ratio']} (CPU: {found['results_cpu_seconds']} s / {found['read_cpu_seconds']} s, "
        f"ratio {found['cpu_ratio']})"
    )
    write_section("study-results", _section(found, url))


def _section(found: dict[str, Any], url: str) -> str:
    database = url.split(":", 1)[0]
    return "\n".join(
        [
            "## Study results of a 200-participant, 5-visit study (bench/study_results.py)",
            "",
            f"Reproduce: `uv run python -m bench.study_results` ({database}). One split-face study, "
            f"{found['participants']} participants, a baseline and {found['visits']} follow-ups "
            f"({', '.join(str(w) for w in FOLLOW_UPS)} weeks after the session): {found['photos']} close-ups "
            "each with a skinlab record (a real analysis of a phantom, its spot count varied per photo), "
            "two raters' GAIS of each side at each follow-up, unblinded, so analysed by arm. Median of "
            f"{RUNS} runs after a warm-up. *Reading the rows*: the photos with their analyses, the visits, "
            "the ratings with their scores and the participants with their slots, as lists. *Results*: "
            "`results_of`, i.e. that reading plus every endpoint (spot count, GAIS) at every visit, "
            "the mixed model, weighted kappa (2,000 bootstrap resamples per visit), adverse events "
            "and the CONSORT flow; the script checks that all participants are analysed at every visit.",
            "",
            "| time | reading the rows (s) | results (s) | ratio |",
            "| --- | --- | --- | --- |",
            f"| wall clock | {found['read_seconds']} | {found['results_seconds']} | {found['ratio']} |",
            f"| CPU (this process) | {found['read_cpu_seconds']} | {found['results_cpu_seconds']} "
            f"| {found['cpu_ratio']} |",
            "",
            "SQLite runs in the benchmark's process, so its CPU time is all the work; it does not grow "
            "when other processes share the cores, as the wall clock does (load average "
            f"{found['load_average']} at the end of this run, on {os.cpu_count()} cores).",
            "",
            f"Seeding the study took {found['seed_seconds']} s (bulk inserts, not timed above).",
        ]
    )


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
