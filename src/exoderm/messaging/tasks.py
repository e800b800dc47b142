"""Background tasks of the messaging app (django.tasks, run by `exoderm worker`)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.tasks import TaskContext, TaskResultStatus, task
from django.utils import timezone

from exoderm.messaging import delivery, producers


@task(takes_context=True)
def send_message(context: TaskContext, message_id: int) -> str:
    """Send one message of the outbox (see :mod:`.delivery`); returns what happened."""
    return delivery.deliver(message_id, task_id=str(context.task_result.id))


def housekeeping() -> dict[str, object]:
    """Recover messages of lost workers, queue what is due, and send tasks for overdue messages."""
    recovered = delivery.recover_stalled()
    queued = producers.run_producers()
    dispatched = delivery.dispatch_due()
    return {"recovered": recovered, "queued": queued, "dispatched": len(dispatched)}


@task()
def messaging_housekeeping() -> dict[str, object]:
    """The periodic run: :func:`housekeeping`, then the next run ``MESSAGE_HOUSEKEEPING_MINUTES`` later."""
    outcome = housekeeping()
    schedule_housekeeping()
    return outcome


def schedule_housekeeping(*, at: dt.datetime | None = None) -> bool:
    """Queue the next periodic run unless one is waiting already (each worker's start asks for one,
    so that a fresh installation sends reminders without a cron job); whether it queued one."""
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(
        task_path=messaging_housekeeping.module_path, status=TaskResultStatus.READY
    )
    if waiting.exists():
        return False
    run_after = at or timezone.now() + dt.timedelta(minutes=settings.MESSAGE_HOUSEKEEPING_MINUTES)
    messaging_housekeeping.using(run_after=run_after).enqueue()
    return True
