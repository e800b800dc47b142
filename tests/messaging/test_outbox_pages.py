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
