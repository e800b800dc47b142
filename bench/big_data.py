"""Scale of data: a clinic group generated with ``COPY``, its hot queries' plans and timings.

``python -m bench.big_data --clinics 1000 --patients 1000000 --sessions 10000000 [--database URL]``
creates a PostgreSQL database of its own (``exoderm_big`` on postgres://postgres@127.0.0.1:5432 by
default; dropped and created anew, refused if it is named ``test``, ``test_*`` or ``exo_*``, the
databases of CI, pytest and other users), migrates it with Django, fills it with :func:`generate`
and then, for each hot page and API list of :func:`hot_requests`, captures the SQL the real view
issues (Django's test client through the whole middleware stack, logged in as a user of one
clinic), runs ``EXPLAIN (FORMAT JSON)`` on each statement, reports any big table
(:data:`BIG_TABLES`) read whole (a sequential scan or a walk over a whole index) and times the
request (median of :data:`RUNS` after a warm-up) against a ``SELECT 1`` round trip and against the
same page on the demo clinic in a small database of its own. It also checks that a user of the
first clinic gets 404 for the second clinic's patient. The result goes into docs/benchmarks.md,
section "Scale of data"; the big database is dropped afterwards unless ``--keep``.

The rows are written with ``COPY ... FROM STDIN`` (psycopg 3), not the ORM, in dependency order,
with ids chosen here (after whatever the tables already hold) so that every foreign key is known
without a round trip; the sequences are moved past them and the tables ANALYZEd at the end.
:func:`generate` is the one generator: tests/ops/test_query_plans.py builds a moderate scale
with it in the test database.

What a row holds is what the app needs to render it: pseudonymous made-up names with their
derived search columns (``exoderm.patients.search``: the folded ``search_key`` and the phone's
digits; no column of these tables is encrypted, only consent signatures and photo files are, and
none are generated), a treatment consent for every patient and a research consent for every
other one, one course with a session visit done and a follow-up planned around today, and
sessions with their procedure and exosome application from a released lot of the clinic. Each
patient has one baseline photo row (no file, analysis failed: no engine ran on it), so that the
photo tables have their size; the study outcomes export of a clinic therefore lists no values,
but it reads the same tables the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/exoderm_big"
RUNS = 15
#: The tables that grow with the patients; a sequential scan on one of these is a finding.
#: Clinics, users, products, lots, templates stay small (a clinic has a few of each).
BIG_TABLES = frozenset(
    {
        "patients_patient",
        "patients_patientidentity",
        "consent_consentrecord",
        "courses_course",
        "courses_visit",
        "treatments_treatmentsession",
        "treatments_procedure",
        "treatments_exosomeapplication",
        "photos_photo",
        "photos_analysis",
        "audit_auditevent",
        "products_vial",
    }
)
#: Every generated user's password, so that a person can sign in to the generated database.
PASSWORD = "big-data-password"
USERS_PER_CLINIC = (("admin", "clinic_admin"), ("doc1", "clinician"), ("doc2", "clinician"),
                    ("doc3", "clinician"), ("assist", "assistant"), ("research", "researcher"))  # fmt: skip
PRODUCTS_PER_CLINIC = 2
LOTS_PER_PRODUCT = 10
VIALS_PER_LOT = 50
GIVEN_NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Ida",
    "Jonas",
    "Karl",
    "Lena",
    "Marie",
    "Nina",
    "Oskar",
    "Paula",
    "Quirin",
    "Rosa",
    "Sophie",
    "Theo",
    "Ute",
    "Valentin",
    "Wiebke",
    "Xaver",
    "Yvonne",
    "Zoe",
    "Jürgen",
    "Björn",
    "Søren",
    "Élodie",
)
FAMILY_NAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Schuster",
    "Simon",
)


@dataclass(frozen=True)
class Scale:
    """How big a group to generate: the patients are spread evenly over the clinics and the
    sessions over the patients."""

    clinics: int
    patients: int
    sessions: int

    def __post_init__(self) -> None:
        if not 1 <= self.clinics <= self.patients <= self.sessions:
            raise ValueError("need 1 <= clinics <= patients <= sessions")

    def __str__(self) -> str:
        return f"{self.clinics:,} clinics, {self.patients:,} patients and {self.sessions:,} sessions"


#: The scale tests/ops/test_query_plans.py builds (in well under a minute), named in the report.
TEST_SCALE = Scale(clinics=50, patients=20_000, sessions=100_000)


@dataclass
class Ids:
    """The first id of each generated table's rows (after the rows already there)."""

    clinic: int
    user: int
    template: int
    product: int
    lot: int
    vial: int
    course_template: int
    patient: int
    identity: int
    consent: int
    course: int
    visit: int
    session: int
    procedure: int
    application: int
    photo: int


def _models() -> dict[str, Any]:
    from exoderm.clinics.models import Clinic, User
    from exoderm.consent.models import ConsentRecord, ConsentTemplate
    from exoderm.courses.models import Course, CourseTemplate, Visit
    from exoderm.patients.models import Patient, PatientIdentity
    from exoderm.photos.models import Photo
    from exoderm.products.models import Lot, Product, Vial
    from exoderm.treatments.models import ExosomeApplication, Procedure, TreatmentSession

    return {
        "clinic": Clinic,
        "user": User,
        "template": ConsentTemplate,
        "product": Product,
        "lot": Lot,
        "vial": Vial,
        "course_template": CourseTemplate,
        "patient": Patient,
        "identity": PatientIdentity,
        "consent": ConsentRecord,
        "course": Course,
        "visit": Visit,
        "session": TreatmentSession,
        "procedure": Procedure,
        "application": ExosomeApplication,
        "photo": Photo,
    }


class _Copier:
    """Writes rows of one model with ``COPY``: the given fields in the given order, every other
    field at its model default (the same value on every row, worked out once)."""

    def __init__(self, cursor: Any, model: Any, fields: Sequence[str]) -> None:
        concrete = [f for f in model._meta.concrete_fields if not f.primary_key and f.name not in fields]
        self.defaults = tuple(_db_value(f.get_default()) for f in concrete)
        columns = [
            "id",
            *(model._meta.get_field(name).column for name in fields),
            *(f.column for f in concrete),
        ]
        self.cursor = cursor
        self.sql = f'COPY "{model._meta.db_table}" ({", ".join(columns)}) FROM STDIN'
        self.table = model._meta.db_table

    def write(self, rows: Iterable[tuple[Any, ...]]) -> int:
        count = 0
        defaults = self.defaults
        with self.cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row + defaults)
                count += 1
        return count


def _db_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _first_ids(cursor: Any) -> Ids:
    models = _models()
    first = {}
    for key, model in models.items():
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{model._meta.db_table}"')
        first[key] = cursor.fetchone()[0]
    return Ids(**first)


def generate(
    *,
    cursor: Any,
    scale: Scale,
    today: dt.date,
    seed: int = 20261206,
    report: Callable[[str, int, float], None],
) -> Ids:
    """Fill the migrated database behind ``cursor`` (a psycopg 3 cursor) with ``scale``.

    Returns the first id of each table's generated rows: clinic ``ids.clinic`` is the first
    clinic, its users start at ``ids.user`` (:data:`USERS_PER_CLINIC` each). ``report(table,
    rows, seconds)`` is called after each table. Runs in the cursor's transaction; the caller
    commits. Sequences are moved past the new rows; the caller ANALYZEs.
    """
    from django.contrib.auth.hashers import make_password

    from exoderm.clinics.models import default_contraindication_policy
    from exoderm.patients.search import name_key

    models = _models()
    ids = _first_ids(cursor)
    rng = random.Random(seed)
    c, p, s = scale.clinics, scale.patients, scale.sessions
    now = dt.datetime.combine(today, dt.time(9), tzinfo=dt.UTC)
    users_per = len(USERS_PER_CLINIC)

    def clinic_of_patient(i: int) -> int:
        return i * c // p

    def patient_of_session(j: int) -> int:
        return j * p // s

    def table(key: str, fields: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        start = time.perf_counter()
        count = _Copier(cursor, models[key], fields).write(rows)
        report(models[key]._meta.db_table, count, time.perf_counter() - start)

    policy = json.dumps(default_contraindication_policy())
    table(
        "clinic",
        ["name", "time_zone", "language", "contraindication_policy", "holiday_state", "created_at"],
        ((ids.clinic + k, f"Clinic {k + 1:04d}", "Europe/Berlin", "de", policy, "BE", now) for k in range(c)),
    )
    password = make_password(PASSWORD)
    table(
        "user",
        ["username", "first_name", "last_name", "email", "clinic", "role", "password", "date_joined",
         "is_active"],
        (
            (ids.user + k * users_per + u, f"c{k + 1}-{name}", "Sam", f"Staff{u}", "", ids.clinic + k, role,
             password, now, True)
            for k in range(c)
            for u, (name, role) in enumerate(USERS_PER_CLINIC)
        ),
    )  # fmt: skip
    kinds = ("treatment", "photography", "research")
    table(
        "template",
        ["clinic", "kind", "version", "title_de", "title_en", "text_de", "text_en", "created_at"],
        (
            (ids.template + k * len(kinds) + n, ids.clinic + k, kind, 1, f"Einwilligung ({kind})",
             f"Consent ({kind})", "Ich willige ein.", "I consent.", now)
            for k in range(c)
            for n, kind in enumerate(kinds)
        ),
    )  # fmt: skip
    table(
        "product",
        ["clinic", "name", "source", "storage_form", "storage_min_c", "storage_max_c", "use_by_minutes",
         "volume_min_ml", "volume_max_ml"],
        (
            (ids.product + k * PRODUCTS_PER_CLINIC + n, ids.clinic + k, f"ExoGel {n + 1}",
             "umbilical_cord_msc", "frozen", Decimal("-25"), Decimal("-15"), 120, Decimal("1"), Decimal("3"))
            for k in range(c)
            for n in range(PRODUCTS_PER_CLINIC)
        ),
    )  # fmt: skip
    lots_per_clinic = PRODUCTS_PER_CLINIC * LOTS_PER_PRODUCT
    table(
        "lot",
        ["product", "number", "expires_on", "vials_received", "received_at", "status", "status_changed_at"],
        (
            (ids.lot + n, ids.product + n // LOTS_PER_PRODUCT, f"L{n:07d}", today + dt.timedelta(days=365),
             VIALS_PER_LOT, now - dt.timedelta(days=900), "released", now - dt.timedelta(days=900))
            for n in range(c * lots_per_clinic)
        ),
    )  # fmt: skip
    table(
        "vial",
        ["lot", "serial", "state", "freeze_thaw_cycles"],
        (
            (ids.vial + n * VIALS_PER_LOT + v, ids.lot + n, v + 1, "used", 1)
            for n in range(c * lots_per_clinic)
            for v in range(VIALS_PER_LOT)
        ),
    )  # fmt: skip
    table(
        "course_template",
        ["clinic", "name", "session_count", "interval_weeks", "followup_weeks", "window_days"],
        ((ids.course_template + k, ids.clinic + k, "Exosome course", 3, 4, "[2, 6]", 3) for k in range(c)),
    )
    table(
        "patient",
        ["clinic", "code", "fitzpatrick", "glogau", "created_at"],
        (
            (ids.patient + i, ids.clinic + clinic_of_patient(i), f"P{i + 1:07d}", 1 + i % 6, 1 + i % 4,
             now - dt.timedelta(days=1000 - i % 1000))
            for i in range(p)
        ),
    )  # fmt: skip
    keys: dict[tuple[str, str], str] = {}

    def identities() -> Iterator[tuple[Any, ...]]:
        for i in range(p):
            given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
            key = keys.get((given, family))
            if key is None:
                key = keys[given, family] = name_key(given, family)
            phone = f"0151{i:08d}"
            born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
            yield (ids.identity + i, ids.patient + i, given, family, born, phone, phone, key,
                   f"p{i + 1}@example.org")  # fmt: skip

    table(
        "identity",
        [
            "patient",
            "given_name",
            "family_name",
            "date_of_birth",
            "phone",
            "phone_digits",
            "search_key",
            "email",
        ],
        identities(),
    )

    def consents() -> Iterator[tuple[Any, ...]]:
        n = ids.consent
        for i in range(p):
            k = clinic_of_patient(i)
            signed = now - dt.timedelta(days=900 - i % 800)
            recorder = ids.user + k * users_per + 1
            yield n, ids.patient + i, ids.template + k * len(kinds), signed, "Patient", recorder
            n += 1
            if i % 2 == 0:
                yield n, ids.patient + i, ids.template + k * len(kinds) + 2, signed, "Patient", recorder
                n += 1

    table("consent", ["patient", "template", "signed_at", "signed_by_name", "recorded_by"], consents())
    table(
        "course",
        ["patient", "template", "clinician", "starts_at", "created_at"],
        (
            (ids.course + i, ids.patient + i, ids.course_template + clinic_of_patient(i),
             ids.user + clinic_of_patient(i) * users_per + 1 + i % 3, now - dt.timedelta(days=60 + i % 700),
             now - dt.timedelta(days=61 + i % 700))
            for i in range(p)
        ),
    )  # fmt: skip

    def visits() -> Iterator[tuple[Any, ...]]:
        # A session visit done at the course's start and a follow-up within a month of today: done
        # if its window is over, but one in fifty still planned (overdue), as in a clinic's book.
        for i in range(p):
            start = now - dt.timedelta(days=60 + i % 700)
            yield (
                ids.visit + 2 * i,
                ids.course + i,
                "session",
                1,
                None,
                start,
                start.date(),
                start.date(),
                "done",
            )
            planned = now + dt.timedelta(days=i % 61 - 30, hours=i % 8)
            due = planned.date()
            status = "planned" if due + dt.timedelta(days=3) >= today or i % 50 == 0 else "done"
            yield (ids.visit + 2 * i + 1, ids.course + i, "follow_up", 1, 6, planned,
                   due - dt.timedelta(days=3), due + dt.timedelta(days=3), status)  # fmt: skip

    table(
        "visit",
        [
            "course",
            "kind",
            "session_number",
            "weeks_after_session",
            "planned_at",
            "due_from",
            "due_until",
            "status",
        ],
        visits(),
    )
    span_minutes = 3 * 365 * 24 * 60

    def performed(j: int) -> dt.datetime:
        return now - dt.timedelta(days=1) - dt.timedelta(minutes=(j * 7919) % span_minutes)

    table(
        "session",
        ["patient", "clinician", "performed_at", "notes", "created_at"],
        (
            (ids.session + j, ids.patient + patient_of_session(j),
             ids.user + clinic_of_patient(patient_of_session(j)) * users_per + 1 + j % 3, performed(j), "",
             performed(j))
            for j in range(s)
        ),
    )  # fmt: skip
    face = '["forehead", "cheek_left", "cheek_right"]'
    table(
        "procedure",
        ["session", "kind", "areas", "started_at", "ended_at", "device", "needle_depth_mm", "passes"],
        (
            (ids.procedure + j, ids.session + j, "microneedling", face,
             performed(j) - dt.timedelta(minutes=40), performed(j) - dt.timedelta(minutes=10), "Dermapen 4",
             Decimal("1.00"), 2)
            for j in range(s)
        ),
    )  # fmt: skip

    def applications() -> Iterator[tuple[Any, ...]]:
        for j in range(s):
            lot = clinic_of_patient(patient_of_session(j)) * lots_per_clinic + j % lots_per_clinic
            vial = ids.vial + lot * VIALS_PER_LOT + (j // lots_per_clinic) % VIALS_PER_LOT
            yield (ids.application + j, ids.session + j, ids.lot + lot, vial, Decimal("2.00"), face,
                   performed(j) - dt.timedelta(minutes=5))  # fmt: skip

    table("application", ["session", "lot", "vial", "volume_ml", "areas", "applied_at"], applications())
    table(
        "photo",
        ["clinic", "patient", "visit", "timepoint", "view", "taken_at", "taken_at_source", "source_format",
         "source_sha256", "source_size", "file_name", "sha256", "content_type", "size_bytes", "width",
         "height", "uploaded_by", "uploaded_at", "analysis_status", "analysis_error"],
        (
            (ids.photo + i, ids.clinic + clinic_of_patient(i), ids.patient + i, ids.visit + 2 * i, "baseline",
             "front", now - dt.timedelta(days=60 + i % 700), "exif", "jpeg", f"{i:064x}", 1_000_000,
             f"{i:064x}.jpg", f"{i:064x}", "image/jpeg", 1_000_000, 3000, 2000,
             ids.user + clinic_of_patient(i) * users_per + 1, now - dt.timedelta(days=60 + i % 700), "failed",
             "generated row: no file, never analysed")
            for i in range(p)
        ),
    )  # fmt: skip
    for model in models.values():
        table_name = model._meta.db_table
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table_name}\"', 'id'), "
            f'(SELECT COALESCE(MAX(id), 1) FROM "{table_name}"))'
        )
    return ids


def analyze(cursor: Any) -> None:
    """Fresh statistics for the planner on every generated table."""
    for model in _models().values():
        cursor.execute(f'ANALYZE "{model._meta.db_table}"')


@dataclass(frozen=True)
class HotRequest:
    """One hot page or API list as a user of the first clinic fetches it."""

    name: str
    path: str
    #: the index into :data:`USERS_PER_CLINIC` of the user who fetches it
    user: int = 1
    api: bool = False


def hot_requests(*, patient_id: int, lot_id: int, search: str) -> list[HotRequest]:
    """The pages and API lists that a clinic opens all day, and the two heavy reads of the issue:
    the recall of one lot and the study outcomes export of one clinic (by its researcher)."""
    return [
        HotRequest("Today page", "/"),
        HotRequest("patient list", "/patients/"),
        HotRequest("patient search (family name)", f"/patients/?q={search}"),
        HotRequest("patient page", f"/patients/{patient_id}/"),
        HotRequest("session list page", "/sessions/"),
        HotRequest("recall of one lot (affected page)", f"/lots/{lot_id}/affected/"),
        HotRequest("study outcomes export (CSV)", "/study/outcomes.csv", user=5),
        HotRequest("API patient list", "/api/v1/patients", api=True),
        HotRequest("API patient search", f"/api/v1/patients?q={search}", api=True),
        HotRequest("API session list", "/api/v1/sessions", api=True),
        HotRequest("API sessions of a patient", f"/api/v1/sessions?patient={patient_id}", api=True),
        HotRequest("API visits", "/api/v1/visits", api=True),
    ]


class Requester:
    """Fetches :class:`HotRequest` paths with Django's test client as the clinic's users: pages
    with a logged-in session, API paths with a real bearer token of the same user."""

    def __init__(self, *, users: Sequence[Any], password: str) -> None:
        from django.test import Client

        self.users = users
        self.password = password
        self.clients = []
        for user in users:
            client = Client()
            client.force_login(user)
            self.clients.append(client)
        self.tokens: dict[int, str] = {}

    def _token(self, index: int) -> str:
        from exoderm.clinics.services import issue_api_token

        if index not in self.tokens:
            token = issue_api_token(username=self.users[index].username, password=self.password, otp="")
            assert token, "the user's password must be accepted"
            self.tokens[index] = token
        return self.tokens[index]

    def get(self, request: HotRequest, path: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self._token(request.user)}"} if request.api else {}
        return self.clients[request.user].get(path or request.path, headers=headers)


def captured_sql(requester: Requester, request: HotRequest) -> tuple[int, list[str]]:
    """The response status and the SQL of every statement the request ran, as sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = requester.get(request)
    return response.status_code, [query["sql"] for query in captured.captured_queries]


EXPLAINABLE = ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def _whole_table_reads(node: dict[str, Any]) -> Iterator[str]:
    """The big tables a plan node reads whole: a sequential scan, or an index scan without an index
    condition (the planner walks a whole index when sequential scans are switched off or to
    return rows in the index's order: it touches every row all the same)."""
    table = node.get("Relation Name")
    if table not in BIG_TABLES:
        return
    if node["Node Type"] == "Seq Scan":
        yield f"{table} (Seq Scan)"
    elif node["Node Type"] in {"Index Scan", "Index Only Scan"} and "Index Cond" not in node:
        yield f"{table} (whole index {node['Index Name']})"


def seq_scans(cursor: Any, sql: str) -> list[str]:
    """The big tables that the plan of ``sql`` reads whole (empty: none), named with how."""
    if not sql.lstrip().upper().startswith(EXPLAINABLE):
        return []
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return sorted({read for node in _plan_nodes(plan[0]["Plan"]) for read in _whole_table_reads(node)})


def _median_ms(function: Callable[[], Any], runs: int = RUNS) -> float:
    function()  # warm-up: connection, statement and page caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


@dataclass
class Measured:
    name: str
    status: int
    queries: int
    seq_scans: list[str]
    median_ms: float


def measure(*, requester: Requester, requests: Sequence[HotRequest], runs: int = RUNS) -> list[Measured]:
    """Each request's status, query count, sequential scans on big tables and median time."""
    from django.db import connection

    results = []
    for request in requests:
        status, statements = captured_sql(requester, request)
        with connection.cursor() as cursor:
            scans = sorted({table for sql in statements for table in seq_scans(cursor, sql)})
        median = _median_ms(lambda request=request: requester.get(request), runs)
        results.append(Measured(request.name, status, len(statements), scans, median))
    return results


def select_one_ms(runs: int = 200) -> float:
    """The median round trip of ``SELECT 1`` on the app's connection: the database's floor."""
    from django.db import connection

    def once() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return _median_ms(once, runs)


def users_by_role(clinic_id: int) -> list[Any]:
    """The clinic's first user of each role of :data:`USERS_PER_CLINIC`, in that order."""
    from exoderm.clinics.models import User

    return [
        User.objects.filter(clinic_id=clinic_id, role=role).order_by("pk").first()
        for _, role in USERS_PER_CLINIC
    ]


def targets(clinic_id: int) -> list[HotRequest]:
    """The hot requests on the clinic's first patient and its lot with the most applications."""
    from django.db.models import Count

    from exoderm.patients.models import Patient
    from exoderm.products.models import Lot

    patient = Patient.objects.filter(clinic_id=clinic_id).select_related("identity").order_by("pk").first()
    lot = (
        Lot.objects.filter(product__clinic_id=clinic_id)
        .annotate(uses=Count("applications"))
        .order_by("-uses", "pk")
        .first()
    )
    assert patient is not None and lot is not None
    return hot_requests(patient_id=patient.pk, lot_id=lot.pk, search=patient.identity.family_name)


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "exoderm.settings"
    # A COPY of millions of rows and the first plans on cold caches outlast the app's 30 s limit.
    os.environ["DB_STATEMENT_TIMEOUT_MS"] = "0"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")  # Django's test client's host
    os.environ.setdefault("EXODERM_DATA_DIR", str(ROOT / "var" / "bench" / "big_data"))
    Path(os.environ["EXODERM_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _server_url(url: str, database: str) -> str:
    return urlparse(url)._replace(path=f"/{database}").geturl()


def _recreate(url: str) -> None:
    """Drop and create the database of ``url``, refusing the names of CI's and the helpers' ones."""
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if name in {"test", "postgres", "template0", "template1"} or name.startswith(("exo_", "test_")):
        raise SystemExit(f"refusing to use the database {name!r}: it belongs to CI or another user")
    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop(url: str) -> None:
    import psycopg

    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}"')


def _demo_main(url: str) -> int:
    """In a child process: seed the demo into ``url`` and print the medians of the hot requests."""
    _setup_django(url)
    from django.core.management import call_command

    from exoderm.clinics.models import Clinic
    from exoderm.demo import DEMO_CLINIC, seed_demo

    call_command("migrate", verbosity=0)
    passwords = {username: password for username, password, _ in seed_demo()}
    clinic = Clinic.objects.get(name=DEMO_CLINIC)
    users = users_by_role(clinic.pk)
    requester = Requester(users=users, password=passwords[users[1].username])
    results = measure(requester=requester, requests=targets(clinic.pk))
    print(json.dumps({"select_1": select_one_ms(), **{r.name: r.median_ms for r in results}}))
    return 0


@contextlib.contextmanager
def _bulk_load(
    cursor: Any, tables: Sequence[str], *, report: Callable[[tuple[str, int, float]], None]
) -> Iterator[None]:
    """Load ``tables`` without their foreign keys and secondary indexes, then put them back.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so COPY queues one check per row and
    key for the COMMIT (520 s of a 2,000,000-session build), and every index is updated row by
    row. Built afterwards, an index is one sort of its table and a foreign key one join checking
    every row at once; the constraints come back exactly as they were defined (primary keys and
    unique constraints stay throughout, so a duplicate id still fails the load).
    """
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        [[f'"{table}"' for table in tables] + list(tables)],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [[f'"{table}"' for table in tables] + list(tables)],
    )
    indexes = cursor.fetchall()
    for table, name, _definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    start = time.perf_counter()
    for _name, definition in indexes:
        cursor.execute(definition)
    report((f"(indexes rebuilt: {len(indexes)})", 0, time.perf_counter() - start))
    start = time.perf_counter()
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    report((f"(foreign keys added back and checked: {len(foreign_keys)})", 0, time.perf_counter() - start))


def _build(url: str, scale: Scale) -> tuple[Ids, list[tuple[str, int, float]]]:
    from django.core.management import call_command
    from django.db import connection, transaction

    built: list[tuple[str, int, float]] = []

    def report(table: str, rows: int, seconds: float) -> None:
        built.append((table, rows, seconds))
        print(f"  {table}: {rows:,} rows in {seconds:.1f} s", flush=True)

    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    built.append(("(migrate)", 0, time.perf_counter() - start))
    tables = [model._meta.db_table for model in _models().values()]
    with transaction.atomic():
        with connection.cursor() as cursor, _bulk_load(cursor.cursor, tables, report=built.append):
            ids = generate(cursor=cursor.cursor, scale=scale, today=dt.date.today(), report=report)
        committing = time.perf_counter()
    built.append(("(COMMIT)", 0, time.perf_counter() - committing))
    start = time.perf_counter()
    with connection.cursor() as cursor:
        analyze(cursor)
    built.append(("(ANALYZE)", 0, time.perf_counter() - start))
    return ids, built


def _tenancy_holds(ids: Ids, requester: Requester) -> bool:
    """A user of the first clinic gets 404 for the second clinic's patient, on the page and the API."""
    from exoderm.patients.models import Patient

    other = Patient.objects.filter(clinic_id=ids.clinic + 1).order_by("pk").first()
    assert other is not None, "the tenancy check needs two clinics"
    page = requester.get(HotRequest("page", f"/patients/{other.pk}/"))
    api = requester.get(HotRequest("api", f"/api/v1/patients/{other.pk}", api=True))
    return page.status_code == 404 and api.status_code == 404


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000_000)
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the big database (default: drop it)")
    parser.add_argument("--demo-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.demo_only:
        return _demo_main(args.database)
    scale = Scale(args.clinics, args.patients, args.sessions)
    demo_url = args.database.rstrip("/") + "_demo"
    _recreate(args.database)
    _recreate(demo_url)
    try:
        demo = json.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.big_data", "--demo-only", "--database", demo_url],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
        )  # fmt: skip
    finally:
        _drop(demo_url)
    _setup_django(args.database)
    started = time.perf_counter()
    ids, built = _build(args.database, scale)
    build_seconds = time.perf_counter() - started
    try:
        users = users_by_role(ids.clinic)
        requester = Requester(users=users, password=PASSWORD)
        results = measure(requester=requester, requests=targets(ids.clinic))
        floor = select_one_ms()
        tenancy = _tenancy_holds(ids, requester)
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            _drop(args.database)
    _write_report(scale, built, build_seconds, results, floor, demo, tenancy)
    return 0 if tenancy and all(r.status == 200 and not r.seq_scans for r in results) else 1


def _write_report(
    scale: Scale,
    built: list[tuple[str, int, float]],
    build_seconds: float,
    results: list[Measured],
    floor: float,
    demo: dict[str, float],
    tenancy: bool,
) -> None:
    from bench._report import write_section

    build_rows = "\n".join(
        f"| {table} | {rows:,} | {seconds:.1f} |" if rows else f"| {table} | | {seconds:.1f} |"
        for table, rows, seconds in built
    )
    result_rows = "\n".join(
        f"| {r.name} | {r.status} | {r.queries} | {r.median_ms:.1f} | {r.median_ms / floor:,.0f} | "
        f"{r.median_ms / demo[r.name]:.2f} | {', '.join(r.seq_scans) or 'none'} |"
        for r in results
    )
    body = f"""## Scale of data (bench/big_data.py)

`python -m bench.big_data --clinics {scale.clinics} --patients {scale.patients} --sessions {scale.sessions}`
(run under `nice -n 10`): {scale.clinics:,} clinics, {scale.patients:,} patients, {scale.sessions:,} sessions
with their procedure and exosome application, generated with `COPY` into a PostgreSQL database of its own
(built in {build_seconds / 60:.1f} min, dropped afterwards; the tables' secondary indexes and foreign
keys are dropped for the load and built again after it, each key checked against every row at once).
Each hot request is fetched by a user of the first clinic with Django's test client through the whole
middleware stack; every statement it ran is `EXPLAIN`ed and checked for a big table read whole, by a
sequential scan or a walk over a whole index (patients, identities, consents, courses, visits,
sessions, procedures, applications, photos, analyses,
audit, vials). Median of {RUNS} runs after a
warm-up; *÷ SELECT 1*: against the median `SELECT 1` round trip ({floor:.3f} ms); *÷ demo*: against the
same request on the 40-patient demo clinic (migrated and seeded into its own PostgreSQL database in the
same run; `SELECT 1` there {demo["select_1"]:.3f} ms).

| table | rows | seconds |
| --- | ---: | ---: |
{build_rows}

| request | status | queries | median ms | ÷ SELECT 1 | ÷ demo | big tables read whole |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
{result_rows}

Tenancy at this size: a clinician of the first clinic gets 404 for the second clinic's patient on the
page and the API: **{"yes" if tenancy else "NO"}**.

The plans above are the planner's own choices at this size. `tests/ops/test_query_plans.py` checks the
same requests on every CI run at {TEST_SCALE} with sequential scans, hash joins and merge joins
switched off: there every join probes its inner table by an index, so a big table read whole means
that no index serves the query (at that size a whole read can be the planner's right choice, which
would make a plain `EXPLAIN` prove nothing).
"""
    write_section("big-data", body)


if __name__ == "__main__":
    sys.exit(main())
