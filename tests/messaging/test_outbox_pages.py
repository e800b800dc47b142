"""The outbox for clinic staff (page and API), a patient's messages on the patient page, their
opt-outs, resending; every clinic sees only its own."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.messaging import services
from exoderm.messaging.models import MessageKind, MessageStatus, OutboxMessage
from tests import factories
from tests.signin import login_with_mfa


def _reminders(patient):
    return services.queue_for_patient(
        patient=patient,
        kind=MessageKind.VISIT_REMINDER,
        about="visit:1",
        at=timezone.now() + dt.timedelta(days=1),
    )


@pytest.mark.django_db
def test_the_outbox_page_shows_each_message_and_its_status(client, clinic, other_clinic, assistant):
    patient = factories.PatientFactory(clinic=clinic, identity__family_name="Größmann")
    email, sms = _reminders(patient)
    OutboxMessage.objects.filter(pk=sms.pk).update(status=MessageStatus.UNCONFIRMED)
    stranger = factories.PatientFactory(clinic=other_clinic, identity__family_name="Fremd")
    _reminders(stranger)

    login_with_mfa(client, assistant)
    page = client.get("/messages/").content.decode()
    assert "Größmann" in page and "Fremd" not in page
    assert "Queued" in page and "Unconfirmed" in page and "Send again" in page
    only_unconfirmed = client.get("/messages/", {"status": "unconfirmed"}).content.decode()
    assert "+49 30 1234567" in only_unconfirmed and email.recipient not in only_unconfirmed

    response = client.post(f"/messages/{sms.pk}/resend/")
    assert response.status_code == 302
    sms.refresh_from_db()
    assert sms.status == MessageStatus.QUEUED and "sent again by" in sms.detail
    foreign = OutboxMessage.objects.get(patient=stranger, channel="email")
    assert client.post(f"/messages/{foreign.pk}/resend/").status_code == 404


@pytest.mark.django_db
def test_the_patient_page_shows_the_patients_messages_and_takes_the_opt_out(client, clinic, clinician):
    patient = factories.PatientFactory(clinic=clinic)
    _reminders(patient)
    login_with_mfa(client, clinician)
    detail = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'hx-get="/patients/{patient.pk}/messages/"' in detail  # the panel loads itself

    panel = client.get(f"/patients/{patient.pk}/messages/").content.decode()
    assert "Reminder before a visit" in panel and "No messages by SMS" in panel

    client.post(f"/patients/{patient.pk}/messages/", {"sms_opt_out": "on"})
    patient.identity.refresh_from_db()
    assert (patient.identity.email_opt_out, patient.identity.sms_opt_out) == (False, True)
    sms = OutboxMessage.objects.get(patient=patient, channel="sms")
    OutboxMessage.objects.filter(pk=sms.pk).update(status=MessageStatus.FAILED)
    refused = client.post(f"/messages/{sms.pk}/resend/", follow=True).content.decode()
    assert "The patient wants no messages on this channel." in refused


@pytest.mark.django_db
def test_send_again_asks_first_naming_what_goes_to_whom_and_a_get_never_sends(client, clinic, assistant):
    from exoderm.audit.models import AuditEvent

    patient = factories.PatientFactory(
        clinic=clinic, identity__given_name="Erika", identity__family_name="Größmann"
    )
    _email, sms = _reminders(patient)
    OutboxMessage.objects.filter(pk=sms.pk).update(status=MessageStatus.UNCONFIRMED)
    patient.identity.phone = "+49 30 7654321"  # corrected since: the resend goes there
    patient.identity.save()
    login_with_mfa(client, assistant)

    outbox = client.get("/messages/").content.decode()
    assert f'href="/messages/{sms.pk}/resend/"' in outbox
    assert f'action="/messages/{sms.pk}/resend/"' not in outbox  # no one-click resend
    panel = client.get(f"/patients/{patient.pk}/messages/").content.decode()
    assert f'href="/messages/{sms.pk}/resend/?back=patient"' in panel

    confirm = client.get(f"/messages/{sms.pk}/resend/?back=patient")
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Reminder before a visit" in text and "Erika Größmann" in text
    assert "by SMS to +49 30 7654321" in text and "the patient then gets the message twice" in text
    assert '<form method="post"' in text and f'href="/patients/{patient.pk}/"' in text  # cancel
    sms.refresh_from_db()
    assert (sms.status, sms.recipient) == (MessageStatus.UNCONFIRMED, "+49 30 1234567")  # nothing sent
    [read] = AuditEvent.objects.filter(action="read", route="/messages/<id:pk>/resend/")
    assert (read.patient_id, read.object_id) == (patient.pk, str(sms.pk))

    sent = client.post(f"/messages/{sms.pk}/resend/?back=patient")
    assert sent.status_code == 302 and sent["Location"] == f"/patients/{patient.pk}/"
    sms.refresh_from_db()
    assert (sms.status, sms.recipient) == (MessageStatus.QUEUED, "+49 30 7654321")
    again = client.get(f"/messages/{sms.pk}/resend/").content.decode()  # queued: nothing to resend
    assert "Only an unconfirmed, failed or bounced message can be sent again." in again


@pytest.mark.django_db
def test_a_researcher_sees_no_outbox(client, clinic, researcher):
    login_with_mfa(client, researcher)
    assert client.get("/messages/").status_code == 403


@pytest.mark.django_db
def test_the_api_lists_resends_and_bounces_messages_of_the_own_clinic(
    api_as, clinic, other_clinic, clinician
):
    patient = factories.PatientFactory(clinic=clinic)
    email, _sms = _reminders(patient)
    foreign = _reminders(factories.PatientFactory(clinic=other_clinic))[0]
    api = api_as(clinician)

    listed = api.get("/messages", {"patient": patient.pk}).json()
    assert listed["count"] == 2 and {m["channel"] for m in listed["items"]} == {"email", "sms"}
    assert api.get("/messages").json()["count"] == 2
    assert api.get(f"/messages/{foreign.pk}").status_code == 404
    assert api.get(f"/messages/{email.pk}").json()["recipient"] == patient.identity.email

    assert api.post(f"/messages/{email.pk}/resend").status_code == 422  # still queued: nothing to resend
    refused = api.post(f"/messages/{email.pk}/bounce", {"reason": "550 unknown"})
    assert refused.status_code == 422
    OutboxMessage.objects.filter(pk=email.pk).update(status=MessageStatus.SENT)
    bounced = api.post(f"/messages/{email.pk}/bounce", {"reason": "550 unknown"})
    assert bounced.status_code == 200 and bounced.json()["status"] == "bounced"
    again = api.post(f"/messages/{email.pk}/resend")
    assert again.status_code == 200 and again.json()["status"] == "queued"


@pytest.mark.django_db
def test_the_api_reads_and_sets_the_message_preferences(api_as, clinic, clinician, researcher):
    patient = factories.PatientFactory(clinic=clinic)
    path = f"/patients/{patient.pk}/message-preferences"
    api = api_as(clinician)
    assert api.get(path).json() == {"email_opt_out": False, "sms_opt_out": False}
    assert api.put(path, {"email_opt_out": True, "sms_opt_out": False}).status_code == 200
    assert api.get(path).json() == {"email_opt_out": True, "sms_opt_out": False}
    assert api_as(researcher).get(path).status_code == 403


@pytest.mark.django_db
def test_an_erasure_request_erases_the_outboxs_copies_of_the_contact_details(clinic, clinic_admin):
    from exoderm.patients.erasure import request_erasure

    patient = factories.PatientFactory(clinic=clinic)
    sent, queued = _reminders(patient)
    OutboxMessage.objects.filter(pk=sent.pk).update(status=MessageStatus.SENT)
    request_erasure(patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=True)
    rows = {m.pk: m for m in OutboxMessage.objects.filter(patient=patient)}
    assert {(m.recipient, m.subject, m.body) for m in rows.values()} == {("", "", "")}
    assert (rows[sent.pk].status, rows[queued.pk].status) == (MessageStatus.SENT, MessageStatus.SKIPPED)


@pytest.mark.django_db
def test_the_outbox_page_reads_a_bounded_number_of_queries(
    client, clinic, clinician, django_assert_max_num_queries
):
    login_with_mfa(client, clinician)
    for index in range(30):
        services.queue_for_patient(
            patient=factories.PatientFactory(clinic=clinic),
            kind=MessageKind.CHECK_IN,
            about=f"session:{index}",
            at=timezone.now(),
        )
    client.get("/messages/")  # warm: session and user
    with django_assert_max_num_queries(12):
        page = client.get("/messages/")
    assert page.content.decode().count("Check-in on day 2") > 20  # a full page of rows
