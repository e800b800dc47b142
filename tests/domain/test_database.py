"""The PostgreSQL pass really runs on PostgreSQL (CI sets EXODERM_TEST_POSTGRES_URL, see Makefile)."""

import pytest
from django.db import connection


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_postgres_pass_runs_on_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 130000
