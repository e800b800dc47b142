"""Background tasks of the messaging app (django.tasks, run by `exoderm worker`)."""

from __future__ import annotations

from django.tasks import TaskContext, task

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
    """The periodic run (every few minutes, like ``exoderm manage messaging_housekeeping``)."""
    return housekeeping()
