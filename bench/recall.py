"""Recall benchmark: 100,000 sessions on SQLite and on PostgreSQL, recall of one lot in under 100 ms.

Run ``uv run python -m bench.recall`` (``make bench``). For each database the script runs itself
again in a child process with its own ``DATABASE_URL`` (a fresh SQLite file under ``var/bench/``;
a fresh PostgreSQL database ``exoderm_bench``, by default on postgres://postgres@127.0.0.1:5432,
override with ``BENCH_POSTGRES_URL``), migrates it, seeds one clinic with 20,000 patients with
identities, 3,000 lots of 3 products and 100,000 sessions with one exosome application each, and
times the recall of the lot with the most applications:

- *list*: :func:`exoderm.treatments.recall.affected_by_lot` (the one query);
- *recall action*: ``recall_lot`` + the list + the CSV, as ``POST /lots/{id}/recall`` does,
  rolled back after each run so that every run marks the lot again.

Medians of 25 runs after a warm-up, next to the median of a ``SELECT 1`` round trip on the same
connection. The result goes into docs/benchmarks.md, section ``recall``.
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

SESSIONS = 100_000
PATIENTS = 20_000
LOTS = 3_000
RUNS = 25
LIMIT_MS = 100.0
ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.getenv("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/exoderm_bench")


def _timed(function: Any, runs: int = RUNS) -> list[float]:
    function()  # warm-up: connection, statement and page caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _seed() -> int:
    """Fill the empty database; returns the id of the lot with the most applications."""
    import datetime as dt
    from decimal import Decimal

    from exoderm.clinics.models import Clinic, Role, User
    from exoderm.patients.models import Patient, PatientIdentity
    from exoderm.products.models import Lot, LotStatus, Product, Vial, VialState
    from exoderm.treatments.models import ExosomeApplication, TreatmentSession

    rng = random.Random(20261127)
    clinic = Clinic.objects.create(name="Benchmark clinic")
    users = User.objects.bulk_create(
        User(
            username=f"doc{i}", first_name="Dana", last_name=f"Doctor{i}", clinic=clinic, role=Role.CLINICIAN
        )
        for i in range(20)
    )
    products = [
        Product.objects.create(
            clinic=clinic,
            name=f"ExoGel {i}",
            source="umbilical_cord_msc",
            storage_form="frozen",
            storage_min_c=Decimal("-25"),
            storage_max_c=Decimal("-15"),
            use_by_minutes=120,
            volume_min_ml=Decimal("1"),
            volume_max_ml=Decimal("3"),
        )
        for i in range(3)
    ]
    patients = Patient.objects.bulk_create(
        (
            Patient(clinic=clinic, code=f"P-{i:06d}", fitzpatrick=rng.randint(1, 6), glogau=rng.randint(1, 4))
            for i in range(PATIENTS)
        ),
        batch_size=2000,
    )
    PatientIdentity.objects.bulk_create(
        (
            PatientIdentity(
                patient=p,
                given_name="Erika",
                family_name=f"Mustermann{i}",
                date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000)),
                email=f"patient{i}@example.org",
                phone=f"+49 30 {i:07d}",
            )
            for i, p in enumerate(patients)
        ),
        batch_size=2000,
    )
    start = dt.datetime(2023, 1, 1, 8, tzinfo=dt.UTC)
    lot_of_session = [rng.randrange(LOTS) for _ in range(SESSIONS)]
    per_lot = [0] * LOTS
    for index in lot_of_session:
        per_lot[index] += 1
    lots = Lot.objects.bulk_create(
        (
            Lot(
                product=products[i % 3],
                number=f"L{i:05d}",
                expires_on=dt.date(2028, 1, 1),
                vials_received=per_lot[i] + 5,
                received_at=start,
                status=LotStatus.RELEASED,
            )
            for i in range(LOTS)
        ),
        batch_size=1000,
    )
    vials = Vial.objects.bulk_create(
        (
            Vial(lot=lots[i], serial=serial, state=VialState.USED)
            for i in range(LOTS)
            for serial in range(1, per_lot[i] + 1)
        ),
        batch_size=2000,
    )
    # bulk_create keeps the order: each lot's vials follow each other
    free_vials, offset = [], 0
    for count in per_lot:
        free_vials.append(vials[offset : offset + count])
        offset += count
    sessions = TreatmentSession.objects.bulk_create(
        (
            TreatmentSession(
                patient=patients[rng.randrange(PATIENTS)],
                clinician=users[rng.randrange(len(users))],
                performed_at=start + dt.timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)),
            )
            for _ in range(SESSIONS)
        ),
        batch_size=2000,
    )
    ExosomeApplication.objects.bulk_create(
        (
            ExosomeApplication(
                session=session,
                lot=lots[index],
                vial=free_vials[index].pop(),
                volume_ml=Decimal("2.0"),
                areas=["face"],
                applied_at=session.performed_at + dt.timedelta(minutes=25),
            )
            for session, index in zip(sessions, lot_of_session, strict=True)
        ),
        batch_size=2000,
    )
    return lots[max(range(LOTS), key=per_lot.__getitem__)].pk


def child() -> None:
    """Migrate and seed the database of ``DATABASE_URL``, time the recall, print JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from exoderm.clinics.models import Role, User
    from exoderm.products import selectors
    from exoderm.products.models import Lot
    from exoderm.products.services import recall_lot
    from exoderm.treatments.models import ExosomeApplication, TreatmentSession
    from exoderm.treatments.recall import affected_by_lot, recall_csv

    call_command("migrate", interactive=False, verbosity=0)
    seed_start = time.perf_counter()
    lot_id = _seed()
    seed_seconds = time.perf_counter() - seed_start
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    admin = User.objects.create(
        username="bench-admin",
        clinic_id=Lot.objects.get(pk=lot_id).product.clinic_id,
        role=Role.CLINIC_ADMIN,
        first_name="Ada",
        last_name="Admin",
    )
    lot = Lot.objects.select_related("product").get(pk=lot_id)

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def recall_action() -> None:
        with transaction.atomic():
            recalled = recall_lot(lot=Lot.objects.get(pk=lot_id), reason="Benchmark", by=admin)
            recall_csv(affected_by_lot(recalled))
            transaction.set_rollback(True)

    rows = affected_by_lot(lot)
    clinic = lot.product.clinic
    lots_page = _timed(lambda: (list(selectors.lots(clinic)[:50]), selectors.lots(clinic).count()))
    listed = _timed(lambda: affected_by_lot(lot))
    action = _timed(recall_action)
    baseline = _timed(select_one)
    print(
        json.dumps(
            {
                "server": _server_version(connection),
                "sessions": TreatmentSession.objects.count(),
                "applications": ExosomeApplication.objects.count(),
                "lots": Lot.objects.count(),
                "rows": len(rows),
                "seed_seconds": seed_seconds,
                "list_ms": statistics.median(listed),
                "list_max_ms": max(listed),
                "action_ms": statistics.median(action),
                "action_max_ms": max(action),
                "select1_ms": statistics.median(baseline),
                "lots_page_ms": statistics.median(lots_page),
            }
        )
    )


def _server_version(connection: Any) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]}"
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def _fresh_postgres(url: str) -> None:
    import psycopg

    server, _sep, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _run(url: str) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "exoderm.settings"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.recall", "--child"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench._report import write_section

    sqlite_file = ROOT / "var" / "bench" / "recall.sqlite3"
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    results = [_run(f"sqlite:///{sqlite_file}")]
    print(f"SQLite: {results[-1]}")
    _fresh_postgres(POSTGRES_URL)
    results.append(_run(POSTGRES_URL))
    print(f"PostgreSQL: {results[-1]}")

    lines = [
        "## Recall of one lot among 100,000 sessions",
        "",
        "`uv run python -m bench.recall`: a fresh, migrated database per engine with one clinic, "
        f"{PATIENTS:,} patients with identities, {LOTS:,} lots and {SESSIONS:,} sessions with one "
        "exosome application each (lots drawn at random). Timed: the lot with the most applications; "
        f"medians (and maxima) of {RUNS} runs after a warm-up. *List* is `affected_by_lot` (one query "
        "through the index on `ExosomeApplication.lot`); *recall action* is `recall_lot` + the list + "
        f"the CSV in a transaction rolled back after each run. Target: its median under {LIMIT_MS:.0f} ms.",
        "",
        "| database | sessions | rows returned | list, median (max) | recall action, median (max) "
        "| `SELECT 1` | list / `SELECT 1` | target met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        met = r["action_ms"] < LIMIT_MS
        lines.append(
            f"| {r['server']} | {r['sessions']:,} | {r['rows']} "
            f"| {r['list_ms']:.2f} ms ({r['list_max_ms']:.2f}) "
            f"| {r['action_ms']:.2f} ms ({r['action_max_ms']:.2f}) | {r['select1_ms']:.3f} ms "
            f"| {r['list_ms'] / r['select1_ms']:.0f}× | {'yes' if met else 'NO'} |"
        )
    lines += [
        "",
        "A page of the lot list (`GET /lots`: 50 of the 3,000 lots with their vial counts, and the total) "
        f"takes {results[0]['lots_page_ms']:.1f} ms on SQLite and {results[1]['lots_page_ms']:.1f} ms "
        "on PostgreSQL.",
        "",
        f"Seeding took {results[0]['seed_seconds']:.0f} s (SQLite) and "
        f"{results[1]['seed_seconds']:.0f} s (PostgreSQL).",
    ]
    write_section("recall", "\n".join(lines))
    if not all(r["action_ms"] < LIMIT_MS for r in results):
        sys.exit("recall slower than the target")


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
