"""`exoderm setup`: from an empty database to a clinic whose administrator can sign in."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from exoderm.clinics.models import Clinic, User
from tests.photos import _scenario

pytestmark = pytest.mark.django_db

STRONG = "Rosen-Apotheke-2026!"


def set_up(tmp_path, **options):
    password_file = tmp_path / "password"
    password_file.write_text(options.pop("password", STRONG) + "\n")
    defaults = {
        "clinic_name": "Hautpraxis am Markt",
        "time_zone": "Europe/Berlin",
        "language": "de",
        "admin_username": "praxisleitung",
        "admin_email": "leitung@example.org",
        "admin_password_file": str(password_file),
        "no_input": True,
    }
    call_command("setup", **{**defaults, **options})


def test_setup_creates_the_clinic_and_an_administrator_who_enrols_a_second_factor(tmp_path, client):
    set_up(tmp_path)
    clinic = Clinic.objects.get(name="Hautpraxis am Markt")
    admin = User.objects.get(username="praxisleitung")
    assert (clinic.time_zone, clinic.language) == ("Europe/Berlin", "de")
    assert (admin.clinic, admin.role, admin.email) == (clinic, "clinic_admin", "leitung@example.org")
    assert admin.check_password(STRONG)
    response = client.post("/login/", {"username": "praxisleitung", "password": STRONG})
    assert response.status_code == 302
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/account/second-factor")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"password": "1234"}, "admin_password"),
        ({"time_zone": "Berlin"}, "not an IANA time zone"),
        ({"clinic_name": " "}, "name"),
    ],
)
def test_setup_refuses_and_creates_nothing(tmp_path, options, message):
    with pytest.raises(CommandError, match=message):
        set_up(tmp_path, **options)
    assert not Clinic.objects.exists()
    assert not User.objects.exists()


def test_a_taken_username_leaves_no_clinic_behind(tmp_path):
    set_up(tmp_path)
    with pytest.raises(CommandError, match="taken"):
        set_up(tmp_path, clinic_name="Zweite Praxis")
    assert list(Clinic.objects.values_list("name", flat=True)) == ["Hautpraxis am Markt"]


def test_without_a_terminal_it_names_what_is_missing(tmp_path):
    with pytest.raises(CommandError, match="--clinic-name is needed"):
        call_command("setup", no_input=True)


@pytest.mark.slow
def test_exoderm_setup_from_the_command_line_with_the_password_from_the_environment(tmp_path):
    _scenario.run(tmp_path, "manage.py", "migrate", "--skip-checks", "-v", "0")
    done = subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "setup", "--clinic-name", "Praxis Nord", "--language", "en",
         "--admin-username", "owner"],
        env={**_scenario.environment(tmp_path), "EXODERM_ADMIN_PASSWORD": STRONG},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=_scenario.REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Created the clinic 'Praxis Nord'" in done.stdout
    assert STRONG not in done.stdout + done.stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "exoderm.sqlite3")) as db:
        rows = db.execute(
            "SELECT c.name, c.language, u.username, u.role FROM clinics_clinic c "
            "JOIN clinics_user u ON u.clinic_id = c.id"
        ).fetchall()
    assert rows == [("Praxis Nord", "en", "owner", "clinic_admin")]
