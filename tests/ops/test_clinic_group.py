"""A clinic group (issue 19, part 2): its administrator creates further clinics and their first
administrators from a page and the API; each clinic stays isolated, and the group administrator
reads no clinic's patients."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exoderm.audit.models import AuditEvent
from exoderm.clinics.groups import start_group
from exoderm.clinics.models import Clinic, ClinicGroup, Role, User
from exoderm.clinics.services import set_up_clinic
from tests import factories
from tests.signin import login_with_mfa

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
NEW_PASSWORD = "Lindenblüte-Praxis-2026!"


def found_group(name: str, *, clinic_name: str, username: str) -> User:
    """A group as `exoderm setup --group` starts it: its first clinic, whose administrator runs it."""
    _clinic, admin = set_up_clinic(
        name=clinic_name,
        time_zone="Europe/Berlin",
        language="de",
        admin_username=username,
        admin_password=factories.PASSWORD,
    )
    start_group(name=name, admin=admin)
    admin.refresh_from_db()
    return admin


@pytest.fixture
def group_admin(db):
    return found_group("Hautpraxen Nord", clinic_name="Praxis Hamburg", username="gruppenleitung")


@pytest.fixture
def other_group_admin(db):
    return found_group("Hautpraxen Süd", clinic_name="Praxis München", username="suedleitung")


def new_clinic(**changes):
    body = {
        "name": "Praxis Lübeck",
        "time_zone": "Europe/Berlin",
        "language": "de",
        "holiday_state": "SH",
        "admin_username": "luebeck-leitung",
        "admin_email": "leitung@luebeck.example",
    }
    return {**body, **changes}


def test_setup_with_a_group_makes_the_first_administrator_the_group_administrator(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text(NEW_PASSWORD + "\n")
    call_command(
        "setup", clinic_name="Praxis Kiel", time_zone="Europe/Berlin", language="de",
        admin_username="kiel", admin_email="kiel@example.org", admin_password_file=str(password_file),
        group="Hautpraxen Nord", no_input=True,
    )  # fmt: skip
    admin = User.objects.get(username="kiel")
    group = ClinicGroup.objects.get(name="Hautpraxen Nord")
    assert (admin.clinic.group, admin.administers_group, admin.role) == (group, group, Role.CLINIC_ADMIN)
    assert admin.needs_second_factor


def test_setup_without_a_group_starts_none(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text(NEW_PASSWORD + "\n")
    call_command(
        "setup", clinic_name="Praxis Kiel", time_zone="Europe/Berlin", language="de",
        admin_username="kiel", admin_email="", admin_password_file=str(password_file), no_input=True,
    )  # fmt: skip
    admin = User.objects.get(username="kiel")
    assert (admin.clinic.group, admin.administers_group) == (None, None)
    assert not ClinicGroup.objects.exists()


def test_the_group_administrator_creates_a_clinic_by_the_api(api_as, group_admin):
    response = api_as(group_admin).post("/group/clinics", new_clinic())
    assert response.status_code == 201, response.content
    body = response.json()
    clinic = Clinic.objects.get(name="Praxis Lübeck")
    admin = User.objects.get(username="luebeck-leitung")
    assert (clinic.group, clinic.time_zone, clinic.language, clinic.holiday_state) == (
        group_admin.administers_group, "Europe/Berlin", "de", "SH",
    )  # fmt: skip
    assert (admin.clinic, admin.role, admin.email, admin.administers_group) == (
        clinic, Role.CLINIC_ADMIN, "leitung@luebeck.example", None,
    )  # fmt: skip
    assert body["clinic"] == {
        "id": clinic.pk, "name": "Praxis Lübeck", "time_zone": "Europe/Berlin", "language": "de",
        "holiday_state": "SH", "users_count": 1, "created_at": body["clinic"]["created_at"],
    }  # fmt: skip
    assert body["admin"] == {
        "id": admin.pk,
        "username": "luebeck-leitung",
        "email": "leitung@luebeck.example",
    }
    assert re.fullmatch(r"http://testserver/password/reset/[^/]+/[^/]+/", body["set_password_url"])
    # the writes are in the trail: the clinic in its own chain, by the group administrator
    events = AuditEvent.objects.filter(action="create", user_id=group_admin.pk)
    assert {(e.object_type, e.clinic_id) for e in events} >= {
        ("clinics.clinic", clinic.pk), ("clinics.user", clinic.pk),
    }  # fmt: skip


def test_the_group_lists_its_clinics_with_their_users(api_as, group_admin, other_group_admin):
    client = api_as(group_admin)
    assert client.post("/group/clinics", new_clinic()).status_code == 201
    factories.UserFactory(clinic=Clinic.objects.get(name="Praxis Lübeck"))
    listed = client.get("/group/clinics").json()
    assert [(c["name"], c["users_count"]) for c in listed["items"]] == [
        ("Praxis Hamburg", 1), ("Praxis Lübeck", 2),
    ]  # fmt: skip
    assert listed["count"] == 2
    # the other group sees its own first clinic only
    theirs = api_as(other_group_admin).get("/group/clinics").json()
    assert [c["name"] for c in theirs["items"]] == ["Praxis München"]


def test_a_clinic_is_always_created_in_the_administrators_own_group(api_as, group_admin, other_group_admin):
    """There is no group to name: a group administrator of the north cannot add to the south."""
    response = api_as(group_admin).post(
        "/group/clinics", new_clinic(group=other_group_admin.administers_group_id)
    )
    assert response.status_code == 201
    created = Clinic.objects.get(name="Praxis Lübeck")
    assert created.group == group_admin.administers_group
    assert other_group_admin.administers_group.clinics.count() == 1


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.CLINICIAN, Role.ASSISTANT, Role.RESEARCHER])
def test_only_group_administrators_use_the_group_api(api_as, group_admin, role):
    """Even the clinic administrator of the group's own clinic: a group is run by its administrators."""
    user = factories.UserFactory(clinic=group_admin.clinic, role=role)
    client = api_as(user)
    for response in (client.get("/group/clinics"), client.post("/group/clinics", new_clinic())):
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM
        assert response.json()["status"] == 403
    assert not Clinic.objects.filter(name="Praxis Lübeck").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Berlin"}, "time_zone"),
        ({"admin_email": ""}, "admin_email"),
        ({"admin_email": "not an address"}, "admin_email"),
        ({"holiday_state": "XX"}, "holiday_state"),
        ({"name": " "}, "name"),
        ({"admin_username": "Gruppenleitung"}, "admin_username"),  # taken, in another case
    ],
)
def test_a_refused_clinic_leaves_nothing_behind(api_as, group_admin, changes, field):
    response = api_as(group_admin).post("/group/clinics", new_clinic(**changes))
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}
    assert Clinic.objects.count() == 1
    assert User.objects.count() == 1


def test_the_new_administrator_sets_a_password_by_the_link_and_enrols_a_second_factor(
    client, api_as, group_admin
):
    link = api_as(group_admin).post("/group/clinics", new_clinic()).json()["set_password_url"]
    path = link.removeprefix("http://testserver")
    # no one knows the account's first password: the link is the only way in
    assert client.post("/login/", {"username": "luebeck-leitung", "password": ""}).status_code == 200
    form = client.get(path, follow=True)
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == reverse("password-reset-complete")
    assert b"This link is not valid" in client.get(path, follow=True).content  # once only
    signed_in = client.post("/login/", {"username": "luebeck-leitung", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/account/second-factor")


def test_a_lapsed_link_is_replaced_by_a_mail_to_the_administrator(client, api_as, group_admin):
    api_as(group_admin).post("/group/clinics", new_clinic())
    client.post(reverse("password-reset"), {"email": "leitung@luebeck.example"})
    assert [m.to for m in mail.outbox] == [["leitung@luebeck.example"]]


def test_the_group_administrator_reads_no_patient_of_the_groups_clinics(client, api_as, group_admin):
    api_as(group_admin).post("/group/clinics", new_clinic())
    luebeck = Clinic.objects.get(name="Praxis Lübeck")
    patient = factories.PatientFactory(clinic=luebeck, code="LUEBECK-SECRET")
    client_api = api_as(group_admin)
    assert client_api.get(f"/patients/{patient.pk}").status_code == 404
    assert "LUEBECK-SECRET" not in client_api.get("/patients").content.decode()
    login_with_mfa(client, group_admin)
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 404
    assert "LUEBECK-SECRET" not in client.get(reverse("patients")).content.decode()
    assert "LUEBECK-SECRET" not in client.get(reverse("group-clinics")).content.decode()


def test_clinics_of_one_group_stay_isolated_from_each_other(client, api_as, group_admin):
    api_as(group_admin).post("/group/clinics", new_clinic())
    hamburg, luebeck = group_admin.clinic, Clinic.objects.get(name="Praxis Lübeck")
    theirs = factories.PatientFactory(clinic=luebeck, code="LUEBECK-SECRET")
    clinician = factories.UserFactory(clinic=hamburg, role=Role.CLINICIAN)
    assert api_as(clinician).get(f"/patients/{theirs.pk}").status_code == 404
    assert "LUEBECK-SECRET" not in api_as(clinician).get("/patients").content.decode()
    login_with_mfa(client, clinician)
    assert client.get(reverse("patient", args=[theirs.pk])).status_code == 404


def test_the_group_page_lists_the_clinics_and_adds_one(client, group_admin):
    login_with_mfa(client, group_admin)
    assert reverse("group-clinics") in client.get(reverse("users")).content.decode()  # in the admin menu
    page = client.get(reverse("group-clinics"))
    assert page.status_code == 200
    assert "Praxis Hamburg" in page.content.decode()
    assert reverse("group-clinic-new") in page.content.decode()
    created = client.post(reverse("group-clinic-new"), new_clinic())
    assert created.status_code == 200
    text = created.content.decode()
    link = re.search(r'id="set-password-url">(http://testserver/password/reset/[^<]+)<', text).group(1)
    assert "luebeck-leitung" in text
    assert client.get(link.removeprefix("http://testserver"), follow=True).status_code == 200
    listed = client.get(reverse("group-clinics")).content.decode()
    assert "Praxis Lübeck" in listed and "Europe/Berlin" in listed
    assert User.objects.get(username="luebeck-leitung").clinic.group == group_admin.administers_group


def test_the_group_page_names_what_is_wrong(client, group_admin):
    group_admin.language = "en"
    group_admin.save(update_fields=["language"])
    login_with_mfa(client, group_admin)
    response = client.post(reverse("group-clinic-new"), new_clinic(time_zone="Mars/Olympus"))
    assert response.status_code == 200
    assert "is not an IANA time zone" in response.content.decode()
    assert not Clinic.objects.filter(name="Praxis Lübeck").exists()


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.CLINICIAN])
def test_the_group_pages_are_refused_to_others(client, group_admin, role):
    user = factories.UserFactory(clinic=group_admin.clinic, role=role)
    login_with_mfa(client, user)
    assert client.get(reverse("group-clinics")).status_code == 403
    assert client.post(reverse("group-clinic-new"), new_clinic()).status_code == 403
    assert not Clinic.objects.filter(name="Praxis Lübeck").exists()
    assert (
        reverse("group-clinics")
        not in client.get(reverse("users") if role == Role.CLINIC_ADMIN else "/").content.decode()
    )


def test_a_group_administrator_belongs_to_a_clinic_of_the_group(group_admin, other_group_admin):
    group_admin.administers_group = other_group_admin.administers_group
    with pytest.raises(ValidationError, match="belongs to a clinic of the group"):
        group_admin.full_clean()


def test_a_group_administrator_of_any_role_signs_in_with_a_second_factor(client, group_admin):
    """Creating clinics and their administrators is worth a second factor, whatever the clinic role."""
    manager = factories.UserFactory(
        clinic=group_admin.clinic, role=Role.ASSISTANT, administers_group=group_admin.administers_group
    )
    assert manager.needs_second_factor
    assert (
        client.post("/login/", {"username": manager.username, "password": factories.PASSWORD}).status_code
        == 302
    )
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/account/second-factor")


def test_the_group_page_makes_as_many_queries_for_many_clinics_as_for_one(client, group_admin):
    login_with_mfa(client, group_admin)
    url = reverse("group-clinics")
    client.get(url)  # the session's first page loads what later ones reuse
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for number in range(4):
        clinic = factories.ClinicFactory(group=group_admin.administers_group)
        factories.UserFactory.create_batch(number, clinic=clinic)
    with CaptureQueriesContext(connection) as five:
        page = client.get(url)
    assert page.content.decode().count("<tr>") == 1 + 5  # the head's row and one per clinic
    assert len(five) == len(one)
