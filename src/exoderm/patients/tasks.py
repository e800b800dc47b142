"""Background tasks of the patients app."""

from __future__ import annotations

from django.tasks import task

from exoderm.patients.erasure import erase_expired_records


@task()
def records_housekeeping() -> dict[str, object]:
    """Erase the restricted records whose retention period is over (see :mod:`.erasure`)."""
    result = erase_expired_records()
    return {"erased": result.erased, "kept": result.kept, "failed": result.failed}
