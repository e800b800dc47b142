"""Sending the outbox: e-mails received by a real SMTP server, SMS by a real HTTP gateway, on the
loopback; retries with backoff, refusals, opt-out, the patient's language, never twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.messaging import delivery, services
from exoderm.messaging.models import Channel, MessageKind, MessageStatus, OutboxMessage
from tests import factories


def _reminder(patient, *, about="visit:1", at=None):
    at = at or dt.datetime(2026, 12, 9, 9, 30, tzinfo=dt.UTC)
    return services.queue_for_patient(patient=patient, kind=MessageKind.VISIT_REMINDER, about=about, at=at)


def _due_now(message):
    """Time passes: the backoff of ``message`` is over."""
    OutboxMessage.objects.filter(pk=message.pk).update(not_before=timezone.now())


@pytest.mark.django_db
def test_a_reminder_arrives_at_the_smtp_server_in_the_patients_language(clinic, smtp):
    patient = factories.PatientFactory(
        clinic=clinic, identity__given_name="Jörg", identity__language="de", identity__phone=""
    )
    [message] = _reminder(patient)

    assert delivery.deliver(message.pk) == "sent"

    [mail] = smtp.recorder.received
    assert mail["To"] == patient.identity.email
    assert mail["From"] == "Hautzentrum <praxis@hautzentrum.example>"
    assert mail["Subject"] == "Erinnerung an Ihren Termin am 09.12.2026"
    text = mail.get_content()
    assert "Guten Tag Jörg" in text and "um 10:30 Uhr" in text  # the clinic's clock (Berlin)
    assert f"Ihr Team von {clinic.name}" in text
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 1 and message.sent_at
    assert message.provider_reference == mail["Message-ID"]
    assert smtp.recorder.outbox_ids() == [message.pk]


@pytest.mark.django_db
def test_an_english_speaking_patient_gets_the_english_text(clinic, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__language="en", identity__phone="")
    [message] = _reminder(patient)
    delivery.deliver(message.pk)
    [mail] = smtp.recorder.received
    assert mail["Subject"].startswith("Reminder of your appointment")
    assert "at 10:30" in mail.get_content()


@pytest.mark.django_db
def test_a_message_is_sent_once_however_often_its_task_runs(clinic, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    assert [delivery.deliver(message.pk) for _ in range(3)] == ["sent", "nothing to send", "nothing to send"]
    assert len(smtp.recorder.received) == 1
    # and the producer's key: queueing the same reminder again creates nothing
    assert _reminder(patient) == [message]
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_temporary_failure_is_retried_with_backoff_and_sent_once(clinic, smtp, settings):
    settings.MESSAGE_RETRY_SECONDS = 60
    smtp.recorder.fail_data = 2
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)

    before = timezone.now()
    assert delivery.deliver(message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert "451" in message.detail
    assert before + dt.timedelta(seconds=59) < message.not_before < timezone.now() + dt.timedelta(seconds=61)
    assert delivery.deliver(message.pk) == "nothing to send"  # not due yet

    _due_now(message)
    assert delivery.deliver(message.pk) == "retry"
    message.refresh_from_db()
    assert message.not_before > timezone.now() + dt.timedelta(seconds=110)  # doubled: 120 s

    _due_now(message)
    assert delivery.deliver(message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 3)
    assert len(smtp.recorder.received) == 1


@pytest.mark.django_db
def test_after_the_last_attempt_the_message_has_failed(clinic, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _closed_port(), "use_tls": False, "timeout": 2},
        }
    }
    settings.MESSAGE_MAX_ATTEMPTS = 2
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    assert delivery.deliver(message.pk) == "retry"
    _due_now(message)
    assert delivery.deliver(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "not reachable" in message.detail


def _closed_port():
    from tests.messaging._servers import free_port

    return free_port()  # nobody listens there


@pytest.mark.django_db
def test_an_address_the_server_refuses_fails_at_once(clinic, smtp):
    smtp.recorder.refuse_rcpt = "550 5.1.1 no such mailbox"
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    assert delivery.deliver(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "550" in message.detail
    assert smtp.recorder.received == []


@pytest.mark.django_db
def test_an_sms_goes_to_the_gateway_with_its_key_and_reference(clinic, sms_gateway):
    patient = factories.PatientFactory(
        clinic=clinic, identity__email="", identity__phone="+49 171 5550123", identity__language="en"
    )
    [message] = _reminder(patient)
    assert message.channel == Channel.SMS

    assert delivery.deliver(message.pk) == "sent"

    [request] = sms_gateway.requests
    assert request.path == "/v1/messages"
    assert request.headers["Authorization"] == "Bearer test-gateway-key"
    assert request.headers["Idempotency-Key"] == f"exoderm-{message.pk}"
    assert request.body["to"] == "+49 171 5550123" and request.body["from"] == "Hautzentrum"
    assert request.body["text"] == f"{clinic.name}: a reminder of your appointment on 09 Dec 2026 at 10:30."
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_reference == "gw-1"


@pytest.mark.django_db
def test_the_gateway_busy_is_retried_and_a_refusal_fails(clinic, sms_gateway):
    sms_gateway.answers = [(503, {"error": "busy"}), (400, {"error": "invalid number"})]
    patient = factories.PatientFactory(clinic=clinic, identity__email="", identity__phone="+49 171 1")
    [message] = _reminder(patient)
    assert delivery.deliver(message.pk) == "retry"
    _due_now(message)
    assert delivery.deliver(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "invalid number" in message.detail
    assert len(sms_gateway.requests) == 2


@pytest.mark.django_db
def test_both_channels_and_the_opt_out_of_one(clinic, clinician, smtp, sms_gateway):
    patient = factories.PatientFactory(clinic=clinic)
    services.set_opt_out(patient=patient, email=False, sms=True, by=clinician)
    messages = _reminder(patient)
    assert {(m.channel, m.status, m.detail) for m in messages} == {
        (Channel.EMAIL, MessageStatus.QUEUED, ""),
        (Channel.SMS, MessageStatus.SKIPPED, "opted out"),
    }
    for message in messages:
        delivery.deliver(message.pk)
    assert len(smtp.recorder.received) == 1 and sms_gateway.requests == []


@pytest.mark.django_db
def test_an_opt_out_after_queueing_stops_the_message(clinic, clinician, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    services.set_opt_out(patient=patient, email=True, sms=False, by=clinician)
    assert delivery.deliver(message.pk) == "nothing to send"
    message.refresh_from_db()
    assert (message.status, message.detail) == (MessageStatus.SKIPPED, "opted out")
    assert smtp.recorder.received == []


@pytest.mark.django_db
def test_a_patient_without_address_is_recorded_as_not_reached(clinic):
    patient = factories.PatientFactory(clinic=clinic, identity__email="", identity__phone="")
    [message] = _reminder(patient)
    assert message.status == MessageStatus.SKIPPED and "no e-mail address" in message.detail


@pytest.mark.django_db
def test_a_stalled_send_is_queued_again_unless_it_was_handed_over(clinic, smtp):
    """The recovery of a killed worker, in one process (the real kill: test_worker_kill.py)."""
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [before_handover] = _reminder(patient, about="visit:1")
    [after_handover] = _reminder(patient, about="visit:2")
    gone = "a-host-that-is-not-this-one:1"
    past = timezone.now() - dt.timedelta(seconds=1)
    for message, handed_over_at in ((before_handover, None), (after_handover, past)):
        claimed = delivery.claim(message.pk)
        OutboxMessage.objects.filter(pk=claimed.pk).update(
            claimed_by=gone, lease_until=past, handed_over_at=handed_over_at
        )

    assert delivery.recover_stalled() == {"queued": [before_handover.pk], "unconfirmed": [after_handover.pk]}
    assert delivery.deliver(before_handover.pk) == "sent"
    assert delivery.deliver(after_handover.pk) == "nothing to send"  # never by itself: it may have arrived
    assert smtp.recorder.outbox_ids() == [before_handover.pk]
    after_handover.refresh_from_db()
    assert after_handover.status == MessageStatus.UNCONFIRMED


@pytest.mark.django_db
def test_a_lease_that_is_still_running_is_left_alone(clinic):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    claimed = delivery.claim(message.pk)
    OutboxMessage.objects.filter(pk=claimed.pk).update(claimed_by="another-host:1")
    assert delivery.recover_stalled() == {"queued": [], "unconfirmed": []}


@pytest.mark.django_db
def test_staff_send_an_unconfirmed_message_again_on_purpose(clinic, clinician, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    OutboxMessage.objects.filter(pk=message.pk).update(status=MessageStatus.UNCONFIRMED, attempts=1)
    services.resend(message=message, by=clinician)
    assert delivery.deliver(message.pk) == "sent"
    assert len(smtp.recorder.received) == 1


@pytest.mark.django_db
def test_a_bounce_is_recorded_with_its_reason(clinic, clinician, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    [message] = _reminder(patient)
    delivery.deliver(message.pk)
    message.refresh_from_db()
    bounced = services.mark_bounced(message=message, reason="550 mailbox unavailable", by=clinician)
    assert (bounced.status, bounced.detail) == (MessageStatus.BOUNCED, "550 mailbox unavailable")


@pytest.mark.django_db
def test_the_console_backends_need_no_server(clinic, settings, tmp_path):
    """The demo's defaults: e-mails to the log, SMS to the log and a file."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.SMS_BACKEND = "console"
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")
    patient = factories.PatientFactory(clinic=clinic)
    messages = _reminder(patient)
    assert [delivery.deliver(m.pk) for m in messages] == ["sent", "sent"]
    assert '"to": "+49 30 1234567"' in (tmp_path / "sms.jsonl").read_text()
