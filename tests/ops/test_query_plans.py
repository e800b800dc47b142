"""The hot pages and API lists read no big table whole: every statement they run has an index to go by.

A clinic group at a moderate scale (``bench.big_data.TEST_SCALE``) is generated with the
benchmark's own ``COPY`` generator (bench/big_data.py) into the test database, once for this
module, and emptied again after it. Each hot request of ``bench.big_data.hot_requests`` is fetched
as a user of the first clinic through the whole stack; every statement it ran is ``EXPLAIN``ed.

At 20,000 patients a sequential scan can be the planner's right choice (a clinic's share of a
small table is not worth an index walk, and a hash join over all of a small table beats a
thousand index probes), so a plain EXPLAIN here would either pass a query that needs an index at a
million patients or fail one that does not. The statements are therefore planned with sequential
scans, hash joins and merge joins switched off: every join becomes a nested loop that probes its
inner table by an index, and the plan still reads a big table whole (a sequential scan, or a walk
over a whole index) only where no index serves the query's conditions, which is what this test is
about.
The planner's own choices at a large scale are measured by the benchmark (docs/benchmarks.md,
"Scale of data").
"""

from __future__ import annotations

import datetime as dt

import pytest
from bench.big_data import (
    PASSWORD,
    TEST_SCALE,
    Ids,
    Requester,
    analyze,
    captured_sql,
    generate,
    hot_requests,
    seq_scans,
    targets,
    users_by_role,
)
from bench.big_data import HotRequest as Hot
from django.db import connection, transaction
from django.test import override_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GENERATED = (
    "clinics_clinic",
    "clinics_user",
    "consent_consenttemplate",
    "products_product",
    "courses_coursetemplate",
    "patients_patient",
)
HOT = [request.name for request in hot_requests(patient_id=1, lot_id=1, search="x")]


@pytest.fixture(scope="module")
def group(django_db_setup, django_db_blocker) -> Ids:
    """The generated group, committed for the module's tests (each of them runs in a transaction
    that is rolled back, so the audit rows their requests write go with it)."""
    with django_db_blocker.unblock():
        # the tests' hasher (tests/conftest.py): the generated users' password is accepted in the tests
        with (
            override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            today = dt.date.today()
            ids = generate(cursor=cursor.cursor, scale=TEST_SCALE, today=today, report=lambda *_: None)
        with connection.cursor() as cursor:
            analyze(cursor)
    yield ids
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # CASCADE: every generated table hangs off these (and nothing else of other tests is left)
        cursor.execute(f"TRUNCATE {', '.join(GENERATED)} CASCADE")


@pytest.fixture
def requester(group, db) -> Requester:
    return Requester(users=users_by_role(group.clinic), password=PASSWORD)


def index_paths_only(cursor) -> None:
    """Plan the rest of the test's transaction with nested loops over indexes wherever an index
    serves (see the module docstring); the requests themselves ran with the planner's defaults."""
    for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
        cursor.execute(f"SET LOCAL {setting} = off")


@pytest.mark.parametrize("name", HOT)
def test_hot_request_reads_no_big_table_whole(group, requester, name):
    request = next(r for r in targets(group.clinic) if r.name == name)
    status, statements = captured_sql(requester, request)
    assert status == 200
    assert statements
    with connection.cursor() as cursor:
        index_paths_only(cursor)
        whole = {sql: reads for sql in statements if (reads := seq_scans(cursor, sql))}
    assert not whole, whole


def test_the_check_sees_a_query_without_an_index(group, requester):
    """No index serves a condition on a session's notes: the check must say so."""
    with connection.cursor() as cursor:
        index_paths_only(cursor)
        reads = seq_scans(cursor, "SELECT id FROM treatments_treatmentsession WHERE notes = 'x'")
    assert reads == ["treatments_treatmentsession (Seq Scan)"]


def test_another_clinics_patient_is_not_found(group, requester):
    from exoderm.patients.models import Patient

    other = Patient.objects.filter(clinic_id=group.clinic + 1).order_by("pk").first()
    assert other is not None
    assert requester.get(Hot("page", f"/patients/{other.pk}/")).status_code == 404
    assert requester.get(Hot("api", f"/api/v1/patients/{other.pk}", api=True)).status_code == 404
    own = Patient.objects.filter(clinic_id=group.clinic).order_by("pk").first()
    assert own is not None
    assert requester.get(Hot("page", f"/patients/{own.pk}/")).status_code == 200
