"""What is sent when: scans that queue messages, run by the periodic task (:mod:`.tasks`).

Each producer looks at a window of time around ``now`` and queues a message for every visit or
session in it that has none yet. A message's key (kind, visit or session, channel) is unique, so a
producer can run as often as it likes, twice at once, or again after a crash: one message per
visit or session and kind. The windows are wider than the interval the task runs at, so a run that
is late by a few hours still catches up.

Dependencies point one way: this module reads booking, courses, treatments and patients; none
of them knows about messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from exoderm.booking.models import Appointment, AppointmentStatus
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.messaging import services
from exoderm.messaging.models import MessageKind, OutboxMessage, appointment_stamp
from exoderm.patients.models import Patient
from exoderm.treatments.models import ProcedureKind, TreatmentSession

AFTERCARE_WITHIN = dt.timedelta(hours=24)
CHECK_IN_AFTER = dt.timedelta(days=2)
CHECK_IN_WITHIN = dt.timedelta(days=1)
INVITE_DAYS_AHEAD = 7


@dataclass(frozen=True)
class Due:
    patient: Patient
    kind: str
    about: str
    at: dt.datetime | dt.date
    visit: Visit | None = None
    session: TreatmentSession | None = None
    appointment: Appointment | None = None


def _queue(items: Iterable[Due]) -> int:
    created = 0
    for item in items:
        if OutboxMessage.objects.filter(key__startswith=f"{item.kind}:{item.about}:").exists():
            continue
        created += len(
            services.queue_for_patient(
                patient=item.patient,
                kind=item.kind,
                about=item.about,
                at=item.at,
                visit=item.visit,
                session=item.session,
                appointment=item.appointment,
            )
        )
    return created


def _no_message(kind: str, field: str) -> Any:
    return ~Exists(OutboxMessage.objects.filter(kind=kind, **{field: OuterRef("pk")}))


#: An appointment of these stands for its visit: the patient is reminded of the appointment while
#: it is booked, and once checked in or completed the patient came, so the visit needs no reminder
#: or invitation of its own either.
VISIT_HELD = [AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED]


def _booked() -> Any:
    """Visits booked into the appointment book: the appointment is what the patient is reminded of."""
    return Exists(Appointment.objects.filter(visit=OuterRef("pk"), status__in=VISIT_HELD))


def appointment_reminders(now: dt.datetime) -> int:
    """A reminder ``MESSAGE_REMINDER_HOURS`` before each booked appointment, and again for a new
    time when it was moved (the reminder of the old time is not sent if it still waits). Only
    booked ones: a patient checked in already (arrived, completed) has come."""
    kind = MessageKind.VISIT_REMINDER
    appointments = Appointment.objects.filter(
        status=AppointmentStatus.BOOKED,
        starts_at__gt=now,
        starts_at__lte=now + dt.timedelta(hours=settings.MESSAGE_REMINDER_HOURS),
        patient__restricted_at__isnull=True,
    ).select_related("patient__clinic")
    return _queue(
        Due(
            a.patient,
            kind,
            f"appointment:{a.pk}:{appointment_stamp(a.starts_at)}",
            a.starts_at,
            appointment=a,
        )
        for a in appointments.iterator()
    )


def visit_reminders(now: dt.datetime) -> int:
    """A reminder ``MESSAGE_REMINDER_HOURS`` before each planned visit that has no appointment."""
    kind = MessageKind.VISIT_REMINDER
    visits = (
        Visit.objects.filter(
            status=VisitStatus.PLANNED,
            planned_at__gt=now,
            planned_at__lte=now + dt.timedelta(hours=settings.MESSAGE_REMINDER_HOURS),
            course__patient__restricted_at__isnull=True,
        )
        .filter(_no_message(kind, "visit"))
        .exclude(_booked())
        .select_related("course__patient__clinic")
    )
    return _queue(
        Due(v.course.patient, kind, f"visit:{v.pk}", v.planned_at, visit=v) for v in visits.iterator()
    )


def _recent_sessions(since: dt.datetime, until: dt.datetime, kind: str) -> Iterable[TreatmentSession]:
    return (
        TreatmentSession.objects.filter(
            performed_at__gte=since, performed_at__lte=until, patient__restricted_at__isnull=True
        )
        .filter(_no_message(kind, "session"))
        .select_related("patient__clinic")
        .prefetch_related("procedures")
        .iterator(chunk_size=200)
    )


def aftercare(now: dt.datetime) -> int:
    """Aftercare instructions after each session of the last day, by its procedure: a fractional
    laser heals longer than microneedling, so a session with a laser gets the laser's."""
    items = []
    for kind in (MessageKind.AFTERCARE_LASER, MessageKind.AFTERCARE_MICRONEEDLING):
        for session in _recent_sessions(now - AFTERCARE_WITHIN, now, kind):
            kinds = {p.kind for p in session.procedures.all()}
            if not kinds:
                continue
            wanted = (
                MessageKind.AFTERCARE_LASER
                if ProcedureKind.FRACTIONAL_LASER in kinds
                else MessageKind.AFTERCARE_MICRONEEDLING
            )
            if wanted == kind:
                items.append(
                    Due(session.patient, kind, f"session:{session.pk}", session.performed_at, session=session)
                )
    return _queue(items)


def check_ins(now: dt.datetime) -> int:
    """A check-in on day 2 after each session."""
    kind = MessageKind.CHECK_IN
    since = now - CHECK_IN_AFTER - CHECK_IN_WITHIN
    return _queue(
        Due(s.patient, kind, f"session:{s.pk}", s.performed_at, session=s)
        for s in _recent_sessions(since, now - CHECK_IN_AFTER, kind)
    )


def follow_up_invitations(now: dt.datetime) -> int:
    """An invitation to book each planned follow-up that is not booked yet, a week before its
    window opens."""
    kind = MessageKind.FOLLOW_UP_INVITATION
    today = now.date()
    visits = (
        Visit.objects.filter(
            kind=VisitKind.FOLLOW_UP,
            status=VisitStatus.PLANNED,
            due_from__lte=today + dt.timedelta(days=INVITE_DAYS_AHEAD),
            due_until__gte=today,
            course__patient__restricted_at__isnull=True,
        )
        .filter(_no_message(kind, "visit"))
        .exclude(_booked())
        .select_related("course__patient__clinic")
    )
    return _queue(
        Due(v.course.patient, kind, f"visit:{v.pk}", v.due_from, visit=v) for v in visits.iterator()
    )


PRODUCERS = {
    "appointment_reminders": appointment_reminders,
    "visit_reminders": visit_reminders,
    "aftercare": aftercare,
    "check_ins": check_ins,
    "follow_up_invitations": follow_up_invitations,
}


def run_producers(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Every producer once; the number of messages each queued."""
    now = now or timezone.now()
    return {name: produce(now) for name, produce in PRODUCERS.items()}
