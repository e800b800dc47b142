"""The outbox in a real deployment in miniature: a file SQLite database in ``root``, messages queued by
the service in a process of its own, sent by `db_worker` processes to the test's SMTP server.

``python -m tests.messaging._scenario seed ROOT N`` queues a reminder for each of N patients.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from pathlib import Path

from tests.photos._scenario import REPO, run


def prepare(root: Path, messages: int) -> list[int]:
    root.mkdir(parents=True, exist_ok=True)
    run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
    out = run(root, "-m", "tests.messaging._scenario", "seed", str(root), str(messages))
    return json.loads(out.strip().splitlines()[-1])


def status(root: Path) -> dict:
    """Messages and their tasks, read straight from the database file."""
    with contextlib.closing(sqlite3.connect(root / "exoderm.sqlite3", timeout=30)) as db:
        db.execute("BEGIN")
        messages = {
            pk: {"status": st, "attempts": attempts}
            for pk, st, attempts in db.execute("SELECT id, status, attempts FROM messaging_outboxmessage")
        }
        tasks = [
            {"status": st, "exception_class_path": exc, "worker_ids": json.loads(workers)}
            for st, exc, workers in db.execute(
                "SELECT status, exception_class_path, worker_ids FROM django_tasks_database_dbtaskresult"
            )
        ]
    return {"messages": messages, "tasks": tasks}


def _seed(count: int) -> list[int]:
    from django.utils import timezone

    from exoderm.messaging.services import queue_for_patient
    from tests import factories

    clinic = factories.ClinicFactory()
    ids = []
    for index in range(count):
        patient = factories.PatientFactory(clinic=clinic, identity__phone="")
        [message] = queue_for_patient(
            patient=patient, kind="visit_reminder", about=f"visit:{index}", at=timezone.now()
        )
        ids.append(message.pk)
    return ids


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "src")]
    import django

    django.setup()
    if sys.argv[1] == "seed":
        print(json.dumps(_seed(int(sys.argv[3]))))
