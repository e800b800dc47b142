"""The audit trail (exoderm.audit): writes, reads, sign-ins, the hash chain and the admin's views."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from exoderm.audit.chain import verify
from exoderm.audit.models import AppendOnly, AuditEvent
from exoderm.patients.services import correct_patient
from tests import factories
from tests.signin import login_with_mfa


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


def events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_a_write_records_who_what_and_the_changed_fields_with_old_and_new_values(clinic, clinician, patient):
    before = AuditEvent.objects.count()
    correct_patient(patient=patient, changes={"given_name": "Erica"}, reason="misspelt", by=clinician)
    [event] = events(object_type="patients.patientidentity", action="update")
    # the identity's update, the revision that keeps the old version, and the patient's
    # correction with its reason
    assert AuditEvent.objects.count() == before + 3
    [correction] = events(object_type="patients.patient", action="update")
    assert correction.changes == {
        "correction_reason": {"new": "misspelt"},
        "given_name": {"old": "Erika", "new": "Erica"},
    }
    assert events(object_type="records.revision", action="create")[0].patient_id == patient.pk
    assert event.patient_id == patient.pk
    assert event.clinic_id == clinic.pk
    # search_key, the name folded for search, is derived: recorded as changed (its name ends in _key)
    assert event.changes == {"given_name": {"old": "Erika", "new": "Erica"}, "search_key": {"changed": True}}
    assert event.channel == "cli"  # outside a request and a task: a command-line program


def test_contact_details_an_erasure_would_remove_are_recorded_as_changed_without_values(clinician, patient):
    correct_patient(patient=patient, changes={"phone": "+49 89 7654321"}, reason="moved", by=clinician)
    [event] = events(object_type="patients.patientidentity", action="update")
    assert event.changes == {"phone": {"changed": True}, "phone_digits": {"changed": True}}
    [revision] = events(object_type="records.revision", action="create")
    assert "+49 30 1234567" not in str(revision.changes) and "+49 89 7654321" not in str(revision.changes)
    [correction] = events(object_type="patients.patient", action="update")
    assert correction.changes == {"correction_reason": {"new": "moved"}, "phone": {"changed": True}}


def test_an_export_is_one_event_whichever_way_the_archive_leaves(client, api_as, clinician, patient):
    body = b"".join(api_as(clinician).get(f"/patients/{patient.pk}/export").streaming_content)
    login_with_mfa(client, clinician)
    page = client.post(reverse("patient-export", args=[patient.pk]))
    assert page.status_code == 200 and body[:2] == b"PK"
    exports = events(action="export", patient_id=patient.pk)
    assert [event.channel for event in exports] == ["api", "web"]
    assert {event.username for event in exports} == {clinician.username}


def test_a_created_patient_is_recorded_with_its_fields_and_a_deletion_with_the_old_values(clinic):
    patient = factories.PatientFactory(clinic=clinic, code="P-AUDIT")
    [created] = events(object_type="patients.patient", object_id=str(patient.pk), action="create")
    assert created.changes["code"] == {"new": "P-AUDIT"}
    assert created.patient_id == patient.pk
    identity_id = patient.identity.pk
    patient.identity.delete()
    [deleted] = events(object_type="patients.patientidentity", object_id=str(identity_id), action="delete")
    assert deleted.changes["given_name"] == {"old": "Erika"}
    assert deleted.patient_id == patient.pk


def test_secrets_are_recorded_as_changed_without_their_values(clinic):
    user = factories.UserFactory(clinic=clinic)
    user.set_password("another long passphrase")
    user.save()
    [created] = events(object_type="clinics.user", object_id=str(user.pk), action="create")
    changed = events(object_type="clinics.user", object_id=str(user.pk), action="update")[-1]
    assert created.changes["password"] == {"changed": True}
    assert changed.changes == {"password": {"changed": True}}
    assert user.password not in str(created.changes) + str(changed.changes)


def test_a_write_that_rolls_back_leaves_no_event(clinic, clinician, patient):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        correct_patient(patient=patient, changes={"glogau": 4}, reason="rechecked", by=clinician)
        raise RuntimeError("the business transaction fails after the write")
    assert AuditEvent.objects.count() == before


def test_reading_a_patient_page_records_a_read_with_request_id_address_and_agent(client, clinician, patient):
    client.force_login(clinician)
    response = client.get(reverse("patient", args=[patient.pk]), headers={"User-Agent": "pytest-agent"})
    assert response.status_code == 200
    [read] = events(action="read", route="/patients/<id:pk>/")
    assert (read.user_id, read.username, read.role) == (clinician.pk, clinician.username, "clinician")
    assert (read.patient_id, read.object_type, read.object_id) == (
        patient.pk,
        "patients.patient",
        str(patient.pk),
    )
    assert read.channel == "web"
    assert read.ip == "127.0.0.1"
    assert read.user_agent == "pytest-agent"
    assert read.request_id == response["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept_and_a_strange_one_replaced(client, clinician, patient):
    client.force_login(clinician)
    kept = client.get(reverse("patient", args=[patient.pk]), headers={"X-Request-ID": "req-0123456789"})
    replaced = client.get(reverse("patient", args=[patient.pk]), headers={"X-Request-ID": "<script>"})
    assert kept["X-Request-ID"] == "req-0123456789"
    assert replaced["X-Request-ID"] != "<script>" and len(replaced["X-Request-ID"]) == 36
    assert [e.request_id for e in events(action="read")] == ["req-0123456789", replaced["X-Request-ID"]]


def test_a_list_read_records_one_event_with_its_query(client, clinician, patient):
    client.force_login(clinician)
    client.get(reverse("patients"), {"q": "Muster"})
    [read] = events(action="read")
    assert read.query == {"q": ["Muster"]} and read.patient_id is None


def test_a_list_downloaded_as_csv_is_an_export(client, clinician, clinic):
    lot = factories.LotFactory(product__clinic=clinic)
    client.force_login(clinician)
    assert client.get(reverse("lot-affected", args=[lot.pk]), {"format": "csv"}).status_code == 200
    [export] = events(route="/lots/<id:pk>/affected/")
    assert (export.action, export.object_type, export.object_id) == ("export", "products.lot", str(lot.pk))


def test_a_refused_read_records_nothing(client, clinician, other_clinic):
    stranger = factories.PatientFactory(clinic=other_clinic)
    client.force_login(clinician)
    assert client.get(reverse("patient", args=[stranger.pk])).status_code == 404
    assert events(action="read") == []


def test_the_api_records_its_reads_as_channel_api_with_the_token_user(api_as, clinician, patient):
    response = api_as(clinician).get(f"/patients/{patient.pk}")
    assert response.status_code == 200
    [read] = events(action="read")
    assert (read.channel, read.user_id, read.patient_id) == ("api", clinician.pk, patient.pk)
    assert read.route == "/api/v1/patients/<patient_id>"


def test_sign_in_success_failure_and_sign_out_are_recorded(client, clinician):
    client.post(reverse("login"), {"username": clinician.username, "password": "wrong password"})
    client.post(reverse("login"), {"username": clinician.username, "password": factories.PASSWORD})
    client.post(reverse("logout"))
    [failed] = events(action="login_failed")
    assert (failed.username, failed.object_id, failed.clinic_id) == (
        clinician.username,
        str(clinician.pk),
        clinician.clinic_id,
    )
    assert [e.user_id for e in events(action__in=["login", "logout"])] == [clinician.pk, clinician.pk]


def test_events_are_append_only_in_the_model(clinic, patient):
    event = AuditEvent.objects.first()
    event.username = "someone else"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()


def test_verify_audit_reports_an_intact_chain(clinic, patient, capsys):
    call_command("verify_audit")
    count = AuditEvent.objects.count()
    assert count > 0
    assert capsys.readouterr().out.strip() == f"{count} events, chain intact"


def _raw(statement: str, event_id: int) -> None:
    """Run ``statement`` on the audit table behind the application's back: on PostgreSQL only with
    its trigger switched off, as only the table's owner or a superuser can."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_refuse_update_delete")
        cursor.execute(statement, [event_id])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_refuse_update_delete")


def _tamper(event_id: int) -> None:
    _raw("UPDATE audit_auditevent SET username = 'mallory' WHERE id = %s", event_id)


def test_verify_audit_names_a_row_changed_with_raw_sql(clinic):
    factories.PatientFactory.create_batch(3, clinic=clinic)
    victim = AuditEvent.objects.filter(chain=clinic.pk).order_by("seq")[2]
    _tamper(victim.pk)
    assert verify().first_break.event_id == victim.pk
    from django.core.management import CommandError

    with pytest.raises(CommandError) as error:
        call_command("verify_audit")
    assert f"event {victim.pk}" in str(error.value)
    assert "content does not match its hash" in str(error.value)
    assert error.value.returncode == 1


def test_verify_audit_finds_a_removed_row(clinic):
    factories.PatientFactory.create_batch(3, clinic=clinic)
    victim = AuditEvent.objects.filter(chain=clinic.pk).order_by("seq")[1]
    _raw("DELETE FROM audit_auditevent WHERE id = %s", victim.pk)
    broken = verify().first_break
    assert broken.seq == victim.seq + 1 and "missing" in broken.problem


@pytest.mark.postgres
def test_postgresql_refuses_update_delete_and_truncate_and_verify_finds_a_tampered_row(clinic):
    from django.db import DatabaseError

    factories.PatientFactory.create_batch(3, clinic=clinic)
    victim = AuditEvent.objects.filter(chain=clinic.pk).order_by("seq")[1]
    for statement in (
        "UPDATE audit_auditevent SET username = 'mallory' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [victim.pk])
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL exoderm.audit_allow_truncate = 'off'")
        cursor.execute("TRUNCATE audit_auditevent")
    assert verify().first_break is None
    # Only the table's owner or a superuser can switch the trigger off; verify_audit still sees it.
    _tamper(victim.pk)
    broken = verify().first_break
    assert broken.event_id == victim.pk and "content does not match" in broken.problem


def test_each_clinic_has_its_own_chain(clinic, other_clinic):
    factories.PatientFactory(clinic=clinic)
    factories.PatientFactory(clinic=other_clinic)
    for chain in (clinic.pk, other_clinic.pk):
        seqs = list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
    assert verify().first_break is None


# --- what clinic admins see -------------------------------------------------------------------


def test_the_api_gives_admins_their_clinics_events_filtered_and_paged(
    api_as, client, clinic, clinic_admin, clinician, patient, other_clinic
):
    factories.PatientFactory(clinic=other_clinic)
    api_as(clinician).get(f"/patients/{patient.pk}")
    admin_api = api_as(clinic_admin)
    response = admin_api.get("/audit", {"patient": patient.pk, "action": "read"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["items"]
    assert (item["user_id"], item["patient_id"], item["channel"]) == (clinician.pk, patient.pk, "api")
    everything = admin_api.get("/audit", {"limit": 500}).json()["items"]
    assert {e["id"] for e in everything} <= set(
        AuditEvent.objects.filter(chain=clinic.pk).values_list("id", flat=True)
    )
    by_user = admin_api.get("/audit", {"user": clinician.pk}).json()["items"]
    assert by_user and all(e["user_id"] == clinician.pk for e in by_user)


def test_the_api_refuses_other_roles(api_as, clinician):
    assert api_as(clinician).get("/audit").status_code == 403
    assert api_as(clinician).get("/audit.csv").status_code == 403


def test_reading_the_trail_is_itself_recorded(api_as, clinic_admin):
    api_as(clinic_admin).get("/audit")
    [read] = events(action="read", route="/api/v1/audit")
    assert read.user_id == clinic_admin.pk


def test_the_csv_has_a_header_and_one_row_per_event(api_as, clinic_admin, clinician, patient):
    api_as(clinician).get(f"/patients/{patient.pk}")
    response = api_as(clinic_admin).get("/audit.csv", {"patient": patient.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == AuditEvent.objects.filter(patient_id=patient.pk).count()
    assert {r["action"] for r in rows} >= {"create", "read"}


def test_the_patient_and_user_pages_are_for_admins_of_the_clinic(
    client, clinic_admin, clinician, patient, other_clinic
):
    client.force_login(clinician)
    client.get(reverse("patient", args=[patient.pk]))
    assert client.get(reverse("audit-patient", args=[patient.pk])).status_code == 403
    login_with_mfa(client, clinic_admin)
    page = client.get(reverse("audit-patient", args=[patient.pk]), {"action": "read"})
    assert page.status_code == 200
    assert clinician.username in page.content.decode()
    # the reader's words for who and what, not the stored codes (clinician, patients.patient)
    assert f'{clinician.username} <span class="muted">(Clinician)</span>' in page.content.decode()
    assert "patients.patient" not in page.content.decode()
    assert client.get(reverse("audit-user", args=[clinician.pk])).status_code == 200
    stranger = factories.PatientFactory(clinic=other_clinic)
    assert client.get(reverse("audit-patient", args=[stranger.pk])).status_code == 404
    foreign_user = factories.UserFactory(clinic=other_clinic)
    assert client.get(reverse("audit-user", args=[foreign_user.pk])).status_code == 404
    detail = client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert reverse("audit-patient", args=[patient.pk]) in detail
    users = client.get(reverse("users")).content.decode()
    assert reverse("audit-user", args=[clinician.pk]) in users


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_chain(clinic):
    """Threads with their own connections append to one clinic's chain at once: the advisory lock
    makes them take turns, so every link follows the one before it."""
    import threading

    from django.db import connections

    from exoderm.audit.chain import append

    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for i in range(15):
                append(action="read", object_type="test", object_id=f"{number}-{i}", clinic_id=clinic.pk)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    seqs = list(AuditEvent.objects.filter(chain=clinic.pk).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 60
    assert verify().first_break is None
