"""Reminders and a patient who came: a checked-in (arrived) or completed appointment still stands
for its visit, so the visit gets no reminder or invitation of its own, and a reminder of the
appointment still queued is not sent once the patient has arrived."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.booking.models import Appointment, AppointmentStatus
from exoderm.courses.models import VisitKind
from exoderm.messaging import delivery
from exoderm.messaging.models import OutboxMessage
from exoderm.messaging.producers import run_producers
from tests import factories
from tests.messaging.test_producers import _appointment, _visit


@pytest.mark.django_db
@pytest.mark.parametrize("status", [AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED])
def test_a_visit_whose_appointment_was_kept_gets_no_reminder_or_invitation(clinic, status):
    now = timezone.now()
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    visit = _visit(patient, at=now + dt.timedelta(hours=3))
    follow_up = _visit(patient, kind=VisitKind.FOLLOW_UP, at=now + dt.timedelta(hours=4))
    _appointment(patient, at=now - dt.timedelta(minutes=30), visit=visit, status=status)
    _appointment(patient, at=now - dt.timedelta(minutes=30), visit=follow_up, status=status)
    counts = run_producers(now=now)
    assert (counts["appointment_reminders"], counts["visit_reminders"], counts["follow_up_invitations"]) == (
        0,
        0,
        0,
    )
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_queued_reminder_is_not_sent_once_the_patient_has_arrived(clinic, smtp):
    now = timezone.now()
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    appointment = _appointment(patient, at=now + dt.timedelta(hours=2))
    assert run_producers(now=now)["appointment_reminders"] == 1
    [message] = OutboxMessage.objects.all()
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.ARRIVED, arrived_at=now)
    assert delivery.deliver(message.pk) == "nothing to send"
    message.refresh_from_db()
    assert (message.status, message.detail) == ("skipped", "the patient has come already")
    assert smtp.recorder.received == []
