"""What the audit trail costs: page medians with and without it, in the same run.

Seeds the demo clinic into a fresh SQLite file (or the database of ``DATABASE_URL`` if it names
PostgreSQL) and fetches pages that record a read (patient page, patient list) and the API's
patient list and patient, through the whole middleware stack with Django's test client. Rounds
alternate between the audit trail on and off (``AUDIT_ENABLED``, a setting only this script
turns off), so that both see the same machine load. Run: ``uv run python -m bench.audit`` (writes
the "audit-<database>" section of docs/benchmarks.md; DATABASE_URL=postgres://… for PostgreSQL).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

ROUNDS = 60
TARGET_PCT = 10.0


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="exoderm-bench-audit-"))
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["EXODERM_DATA_DIR"] = str(workdir)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.urls import reverse

    from bench._report import write_section
    from exoderm.audit.models import AuditEvent
    from exoderm.clinics.models import User
    from exoderm.clinics.services import issue_api_token
    from exoderm.demo import USERS, seed_demo
    from exoderm.patients.models import Patient

    call_command("migrate", interactive=False, verbosity=0)
    seed_demo()
    clinician = User.objects.get(username="clinician")
    password = next(p for username, p, *_ in USERS if username == "clinician")
    token = issue_api_token(username="clinician", password=password)
    patient = Patient.objects.filter(clinic=clinician.clinic).order_by("pk").first()
    assert patient is not None and token
    bearer = {"Authorization": f"Bearer {token}"}
    pages = {
        "Patient page": (reverse("patient", args=[patient.pk]), {}),
        "Patient list page": (reverse("patients"), {}),
        "API GET /patients": ("/api/v1/patients", bearer),
        "API GET /patients/{id}": (f"/api/v1/patients/{patient.pk}", bearer),
    }
    client = Client()
    client.force_login(clinician)

    def fetch(url: str, headers: dict[str, str]) -> float:
        begin = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - begin) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return elapsed

    rows = []
    for name, (url, headers) in pages.items():
        timings: dict[bool, list[float]] = {True: [], False: []}
        for enabled in (True, False):  # warm-up of both paths
            with override_settings(AUDIT_ENABLED=enabled):
                fetch(url, headers)
        events_before = AuditEvent.objects.count()
        for round_number in range(ROUNDS):
            # on-off, then off-on: the request that comes second in a pair is not always the same
            for enabled in (True, False) if round_number % 2 == 0 else (False, True):
                with override_settings(AUDIT_ENABLED=enabled):
                    timings[enabled].append(fetch(url, headers))
        recorded = AuditEvent.objects.count() - events_before
        assert recorded == ROUNDS, f"{name}: {recorded} events for {ROUNDS} audited requests"
        on, off = statistics.median(timings[True]), statistics.median(timings[False])
        # The median of the paired differences (each round's two requests back to back) holds
        # better than the difference of the medians on a machine whose load drifts.
        paired = statistics.median(a - b for a, b in zip(timings[True], timings[False], strict=True))
        added = paired / off * 100
        rows.append(f"| {name} | {off:.1f} | {on:.1f} | {paired:+.2f} | {added:+.1f} % |")
        print(f"{name:28} without {off:6.1f} ms  with {on:6.1f} ms  added {added:+5.1f} %")
    worst = max(float(row.split("|")[5].strip().rstrip(" %")) for row in rows)
    verdict = "within" if worst < TARGET_PCT else "OVER"
    body = "\n".join(
        [
            "## Cost of the audit trail (bench/audit.py)",
            "",
            f"The demo clinic on {connection.vendor}, logged in as the clinician (pages) or with their "
            f"bearer token (API), Django's test client through the whole middleware stack; {ROUNDS} rounds "
            "of one request with the audit trail and one without in the same run, in alternating order (the "
            "added time is the median of each round's difference); each audited request wrote its one read "
            "event (hash chain included).",
            "",
            "| page | median without (ms) | median with (ms) | added (median of pairs, ms) | added |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Largest addition {worst:+.1f} %: {verdict} the target of {TARGET_PCT:.0f} %.",
        ]
    )
    write_section(f"audit-{connection.vendor}", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
