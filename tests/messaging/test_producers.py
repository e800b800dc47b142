"""What is queued when: reminders 48 h before a visit, aftercare by procedure, the day-2 check-in,
follow-up invitations; once per visit or session and kind, however often the producers run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.courses.models import Course, Visit, VisitKind, VisitStatus
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.messaging.producers import run_producers
from exoderm.patients.models import Patient
from tests import factories


def _visit(patient, *, kind=VisitKind.SESSION, at, status=VisitStatus.PLANNED):
    course = Course.objects.create(
        patient=patient,
        template=factories.CourseTemplateFactory(clinic=patient.clinic),
        clinician=factories.UserFactory(clinic=patient.clinic),
        starts_at=at,
    )
    return Visit.objects.create(
        course=course,
        kind=kind,
        session_number=1,
        weeks_after_session=2 if kind == VisitKind.FOLLOW_UP else None,
        planned_at=at,
        due_from=(at - dt.timedelta(days=3)).date(),
        due_until=(at + dt.timedelta(days=3)).date(),
        status=status,
    )


@pytest.mark.django_db
def test_a_reminder_is_queued_48_hours_before_a_planned_visit_once(clinic):
    now = timezone.now()
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    soon = _visit(patient, at=now + dt.timedelta(hours=30))
    _visit(patient, at=now + dt.timedelta(hours=60))  # not yet
    _visit(patient, at=now + dt.timedelta(hours=20), status=VisitStatus.CANCELLED)
    _visit(patient, at=now - dt.timedelta(hours=1))  # past

    assert run_producers(now=now)["visit_reminders"] == 1
    assert run_producers(now=now)["visit_reminders"] == 0
    assert run_producers(now=now + dt.timedelta(hours=1))["visit_reminders"] == 0
    [message] = OutboxMessage.objects.all()
    assert (message.kind, message.visit_id) == (MessageKind.VISIT_REMINDER, soon.pk)


@pytest.mark.django_db
def test_aftercare_follows_the_procedure_and_the_check_in_comes_on_day_2(clinic):
    needled = factories.SessionScene(clinic)
    needled_session = needled.record()
    lasered = factories.SessionScene(clinic)
    lasered_session = lasered.record(procedures=[lasered.laser()])
    lasered.patient.identity.language = "en"
    lasered.patient.identity.save()

    counts = run_producers()
    # the long instructions go on one channel: the e-mail, as both patients have an address
    assert counts["aftercare"] == 2
    aftercare = {m.session_id: m for m in OutboxMessage.objects.filter(kind__startswith="aftercare")}
    assert {m.channel for m in aftercare.values()} == {"email"}
    assert aftercare[needled_session.pk].kind == MessageKind.AFTERCARE_MICRONEEDLING
    assert aftercare[lasered_session.pk].kind == MessageKind.AFTERCARE_LASER
    assert "LSF 50" in aftercare[needled_session.pk].body and "4 Wochen" in aftercare[needled_session.pk].body
    assert "6 weeks" in aftercare[lasered_session.pk].body and "Call us" in aftercare[lasered_session.pk].body
    assert counts["check_ins"] == 0

    later = timezone.now() + dt.timedelta(days=2, hours=1)
    counts = run_producers(now=later)
    assert counts["aftercare"] == 0 and counts["check_ins"] == 4  # e-mail and SMS each
    assert run_producers(now=later)["check_ins"] == 0


@pytest.mark.django_db
def test_a_follow_up_invitation_goes_out_a_week_before_its_window(clinic):
    now = timezone.now()
    patient = factories.PatientFactory(clinic=clinic)
    follow_up = _visit(patient, kind=VisitKind.FOLLOW_UP, at=now + dt.timedelta(days=9))
    _visit(patient, kind=VisitKind.FOLLOW_UP, at=now + dt.timedelta(days=20))  # too early to invite

    assert run_producers(now=now)["follow_up_invitations"] == 2  # e-mail and SMS
    assert {m.visit_id for m in OutboxMessage.objects.filter(kind=MessageKind.FOLLOW_UP_INVITATION)} == {
        follow_up.pk
    }
    assert run_producers(now=now)["follow_up_invitations"] == 0


@pytest.mark.django_db
def test_a_restricted_record_gets_no_message(clinic):
    now = timezone.now()
    patient = factories.PatientFactory(clinic=clinic)
    _visit(patient, at=now + dt.timedelta(hours=30))
    Patient.objects.filter(pk=patient.pk).update(restricted_at=now)
    assert run_producers(now=now)["visit_reminders"] == 0
