"""The periodic task: `exoderm worker` queues it once, it queues what is due, the worker sends it,
and it queues its own next run."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from exoderm.messaging.models import MessageStatus, OutboxMessage
from exoderm.messaging.tasks import messaging_housekeeping, schedule_housekeeping
from tests import factories
from tests.messaging.test_producers import _visit


def _waiting():
    return DBTaskResult.objects.filter(
        task_path=messaging_housekeeping.module_path, status=TaskResultStatus.READY
    )


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_periodic_task_which_sends_reminders_and_comes_back(clinic, smtp):
    patient = factories.PatientFactory(clinic=clinic, identity__phone="")
    visit = _visit(patient, at=timezone.now() + dt.timedelta(hours=30))

    call_command("messaging_housekeeping", "--schedule", stdout=io.StringIO())
    assert schedule_housekeeping() is False  # a second worker's start adds no second chain
    assert _waiting().count() == 1

    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)

    [message] = OutboxMessage.objects.all()
    assert (message.visit_id, message.status) == (visit.pk, MessageStatus.SENT)
    assert smtp.recorder.outbox_ids() == [message.pk]
    [next_run] = _waiting()
    assert next_run.run_after > timezone.now() + dt.timedelta(minutes=4)
