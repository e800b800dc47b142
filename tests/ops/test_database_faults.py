"""The database going away under a request: a clean 503 to retry, and service again without a restart.

On PostgreSQL (the production database of a clinic group), against the production server
(`exoderm serve`, Granian) in its own process: a second session holds a lock on the patients table
so that a request is inside the database when the fault strikes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests import factories
from tests.ops._server import exoderm_serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@contextlib.contextmanager
def exoderm_server(tmp_path: Path, **environment: str) -> Iterator[str]:
    """`exoderm serve` on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    with exoderm_serve(tmp_path, DATABASE_URL=url, **environment) as base:
        yield base


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@contextlib.contextmanager
def patients_table_locked() -> Iterator[psycopg.Connection]:
    """Hold an exclusive lock on the patients table from another session until the block ends."""
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as other:
        other.execute("LOCK TABLE patients_patient IN ACCESS EXCLUSIVE MODE")
        yield other
        other.rollback()


def restart_soon(other: psycopg.Connection, *, after: float) -> threading.Timer:
    """End the server's sessions of this database after ``after`` seconds, as a restart does (the
    test's own session, which set the scene, is spared)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (tests_own,) = cursor.fetchone()
    timer = threading.Timer(
        after,
        lambda: other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
            (tests_own,),
        ),
    )
    timer.start()
    return timer


@pytest.fixture
def session_cookie(client, clinic) -> str:
    factories.PatientFactory(clinic=clinic)
    client.force_login(factories.UserFactory(clinic=clinic, role="clinician"))
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def bearer(clinic) -> str:
    from exoderm.clinics.services import issue_api_token

    factories.PatientFactory(clinic=clinic)
    user = factories.UserFactory(clinic=clinic, role="clinician")
    return f"Bearer {issue_api_token(username=user.username, password=factories.PASSWORD, otp='')}"


def test_a_restart_during_a_page_is_a_503_page_and_the_next_request_is_served(tmp_path, session_cookie):
    with exoderm_server(tmp_path) as base:
        assert fetch(f"{base}/patients/", Cookie=session_cookie)[0] == 200
        with patients_table_locked() as other:
            timer = restart_soon(other, after=0.5)
            status, headers, body = fetch(f"{base}/patients/", Cookie=session_cookie)
            timer.join()
        assert status == 503, body[:500]
        assert headers["retry-after"] == "5"
        assert "cannot reach its database" in body.decode()
        assert fetch(f"{base}/patients/", Cookie=session_cookie)[0] == 200  # reconnected by itself


def test_a_restart_during_an_api_call_is_a_503_problem(tmp_path, bearer):
    with exoderm_server(tmp_path) as base:
        assert fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] == 200
        with patients_table_locked() as other:
            timer = restart_soon(other, after=0.5)
            status, headers, body = fetch(f"{base}/api/v1/patients", Authorization=bearer)
            timer.join()
        assert status == 503, body[:500]
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["status"] == 503
        assert fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] == 200


def test_a_slow_database_answers_503_after_the_statement_timeout_instead_of_hanging(tmp_path, bearer):
    with exoderm_server(tmp_path, DB_STATEMENT_TIMEOUT_MS="300") as base:
        assert fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] == 200
        with patients_table_locked():
            started = time.monotonic()
            status, _headers, body = fetch(f"{base}/api/v1/patients", Authorization=bearer)
            waited = time.monotonic() - started
        assert status == 503, body[:500]
        assert json.loads(body)["title"] == "exoderm cannot reach its database just now."
        assert waited < 10  # answered after the timeout, not after the lock (held until answered)


def _end_the_servers_sessions() -> None:
    """End every session of this database but the test's own, as a restart while idle does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (ended,) = cursor.fetchone()
    assert ended >= 1  # the server's kept connection was among them


@pytest.mark.parametrize(("checks", "after_restart"), [("1", 200), ("0", 503)])
def test_a_kept_connection_the_database_ended_while_idle_is_opened_anew(
    tmp_path, bearer, checks, after_restart
):
    """With DB_CONN_MAX_AGE a process keeps its connection between requests; the health check
    (on by default) finds it dead before the request uses it. Without the check, the first
    request after a restart fails on it (the comparison shows the check is what helps)."""
    with exoderm_server(tmp_path, DB_CONN_MAX_AGE="60", DB_CONN_HEALTH_CHECKS=checks) as base:
        for _ in range(4):  # each of the server's processes has its connection
            assert fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] == 200
        _end_the_servers_sessions()
        statuses = [fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] for _ in range(4)]
        assert after_restart in statuses and set(statuses) <= {200, after_restart}
        assert fetch(f"{base}/api/v1/patients", Authorization=bearer)[0] == 200
