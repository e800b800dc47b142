"""Recall notices: one per patient of a recalled lot and channel, each recorded as sent, failed or
bounced; the page and the API show them."""

from __future__ import annotations

import pytest

from exoderm.messaging import delivery, services
from exoderm.messaging.models import MessageKind, MessageStatus, OutboxMessage
from exoderm.products.services import recall_lot
from tests import factories
from tests.signin import login_with_mfa


@pytest.fixture
def recalled(clinic, clinician):
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinic))
    patients = [factories.PatientFactory(clinic=clinic, identity__phone="") for _ in range(3)]
    for patient in patients:
        factories.ExosomeApplicationFactory(session__patient=patient, lot=lot)
    # a second application for the first patient: still one notice
    factories.ExosomeApplicationFactory(session__patient=patients[0], lot=lot)
    recall_lot(lot=lot, reason="manufacturer recall", by=clinician)
    lot.refresh_from_db()
    return lot, patients


@pytest.mark.django_db
def test_each_patient_of_the_lot_gets_one_notice_and_each_is_recorded(recalled, clinician, smtp):
    lot, patients = recalled
    notices = services.queue_recall_notices(lot=lot, by=clinician)
    assert sorted(n.patient_id for n in notices) == sorted(p.pk for p in patients)
    assert services.queue_recall_notices(lot=lot, by=clinician) == notices  # again: nothing new
    assert OutboxMessage.objects.filter(kind=MessageKind.RECALL_NOTICE).count() == 3

    smtp.recorder.refuse_rcpt = ""
    first, second, third = notices
    assert delivery.deliver(first.pk) == "sent"
    smtp.recorder.refuse_rcpt = "550 5.1.1 no such mailbox"
    assert delivery.deliver(second.pk) == "failed"
    smtp.recorder.refuse_rcpt = ""
    assert delivery.deliver(third.pk) == "sent"
    services.mark_bounced(message=third, reason="mailbox full", by=clinician)

    statuses = dict(OutboxMessage.objects.filter(lot=lot).values_list("pk", "status"))
    assert statuses == {
        first.pk: MessageStatus.SENT,
        second.pk: MessageStatus.FAILED,
        third.pk: MessageStatus.BOUNCED,
    }
    # the notice asks the patient to call and names neither product nor lot
    mail = smtp.recorder.received[0]
    assert lot.number not in mail.get_content() and lot.product.name not in mail.get_content()


@pytest.mark.django_db
def test_a_lot_that_is_not_recalled_sends_no_notice(clinic, clinician):
    lot = factories.LotFactory(product=factories.ProductFactory(clinic=clinic))
    with pytest.raises(Exception, match="recalled"):
        services.queue_recall_notices(lot=lot, by=clinician)


@pytest.mark.django_db
def test_the_recall_notices_page_sends_and_lists_them(client, recalled, clinician):
    lot, patients = recalled
    login_with_mfa(client, clinician)
    response = client.post(f"/lots/{lot.pk}/recall-notices/", follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 notices are queued." in page
    for patient in patients:
        assert patient.identity.family_name in page
    affected = client.get(f"/lots/{lot.pk}/affected/").content.decode()
    assert f"/lots/{lot.pk}/recall-notices/" in affected


@pytest.mark.django_db
def test_the_api_sends_and_lists_recall_notices(api_as, recalled, clinician, researcher):
    lot, _patients = recalled
    api = api_as(clinician)
    created = api.post(f"/lots/{lot.pk}/recall-notices")
    assert created.status_code == 201 and len(created.json()) == 3
    listed = api.get(f"/lots/{lot.pk}/recall-notices").json()
    assert listed["count"] == 3 and {m["status"] for m in listed["items"]} == {"queued"}
    assert api_as(researcher).get(f"/lots/{lot.pk}/recall-notices").status_code == 403
