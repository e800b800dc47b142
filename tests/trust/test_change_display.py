"""The correction history and the audit trail word their changes for the reader: fields by their
names in the reader's language, codes by their labels, yes/no, lists by labels, times in the
clinic's zone and the language's format. The stored values stay as they were written."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from exoderm.audit.models import AuditEvent
from exoderm.core.display import event_changes, revision_changes
from exoderm.patients.models import PatientIdentity
from exoderm.records.models import Revision
from exoderm.treatments.models import Procedure, TreatmentSession
from exoderm.treatments.services import ApplicationInput, ProcedureInput, correct_session
from tests import factories
from tests.signin import login_with_mfa

pytestmark = pytest.mark.django_db

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def short(moment: dt.datetime, clinic, language: str) -> str:
    """``moment`` in the clinic's zone as the short date and time of ``language``."""
    local = moment.astimezone(ZoneInfo(clinic.time_zone))
    return local.strftime("%d.%m.%Y %H:%M") if language == "de" else local.strftime("%d %b %Y, %H:%M")


@pytest.fixture
def corrected(clinic):
    """A session whose needle depth and time were corrected."""
    scene = factories.SessionScene(clinic)
    session = scene.record()
    procedure = scene.procedure(params={"needle_depth_mm": Decimal("1.5"), "passes": 3})
    correct_session(
        session=session,
        by=scene.clinician,
        reason="Depth typed wrong",
        performed_at=scene.at - dt.timedelta(minutes=5),
        procedures=[ProcedureInput(**procedure)],
        applications=[ApplicationInput(**scene.application())],
    )
    return scene, session


@pytest.mark.parametrize(
    ("language", "depth", "performed"),
    [("de", "Prozedur 1, Nadeltiefe (mm)</strong>: 1,00 → 1,50", "Durchgeführt am</strong>: "),
     ("en", "Procedure 1, Needle depth (mm)</strong>: 1.00 → 1.50", "Performed at</strong>: ")],
)  # fmt: skip
def test_the_correction_history_names_fields_and_shows_local_times(
    client, corrected, language, depth, performed
):
    scene, session = corrected
    scene.clinician.language = language
    scene.clinician.save(update_fields=["language"])
    client.force_login(scene.clinician)
    page = client.get(reverse("session", args=[session.pk])).content.decode()
    history = page[
        page.index('id="revisions-heading"') : page.index("<details>", page.index('id="revisions-heading"'))
    ]
    assert depth in history
    old, new = (
        short(scene.at, scene.clinic, language),
        short(scene.at - dt.timedelta(minutes=5), scene.clinic, language),
    )
    assert f"{performed}{old} → {new}" in history
    assert not ISO.search(history) and "performed_at" not in history and "procedures" not in history
    # what is stored stays as written
    assert Revision.objects.get().changes["performed_at"][0].endswith("Z")


@pytest.mark.parametrize(
    ("language", "expected"),
    [("de", ["Art</strong>: Microneedling", "Areale</strong>: Gesicht", "Begonnen am</strong>: "]),
     ("en", ["Kind</strong>: Microneedling", "Areas</strong>: Face", "Started at</strong>: "])],
)  # fmt: skip
def test_the_audit_trail_names_fields_labels_and_local_times(
    client, corrected, clinic_admin, language, expected
):
    scene, _session = corrected
    identity = PatientIdentity.objects.get(patient=scene.patient)
    identity.email_opt_out = True
    identity.save(update_fields=["email_opt_out"])
    clinic_admin.language = language
    clinic_admin.save(update_fields=["language"])
    login_with_mfa(client, clinic_admin)
    page = client.get(reverse("audit-patient", args=[scene.patient.pk]), {"action": ""}).content.decode()
    for text in expected:
        assert text in page
    started = Procedure.objects.get(session__patient=scene.patient).started_at
    assert short(started, scene.clinic, language) in page
    assert ("nein → ja" if language == "de" else "no → yes") in page
    table = page[page.index("<tbody>") : page.index("</tbody>")]
    assert not ISO.search(table)
    assert "microneedling" not in table and "[&#x27;face&#x27;]" not in table and "False" not in table
    # the stored event keeps the code and the UTC time
    created = AuditEvent.objects.filter(object_type="treatments.procedure", action="create").first()
    assert created is not None and created.changes["kind"] == {"new": "microneedling"}


def test_unknown_fields_and_models_keep_their_stored_names_and_values():
    assert [(c.label, c.old, c.new) for c in revision_changes(None, {"x_y": ["a", "b"]})] == [
        ("x_y", "a", "b")
    ]
    shown = event_changes(TreatmentSession, {"gone": {"old": 1, "new": 2}, "notes": {"changed": True}})
    assert [(c.label, c.old, c.new, c.hidden) for c in shown] == [
        ("gone", "1", "2", False),
        ("Notes", None, None, True),
    ]


def test_rows_added_to_a_session_are_named_by_their_fields():
    (warnings,) = revision_changes(
        TreatmentSession, {"acknowledged_warnings": [[], [{"rule": "r1", "message": "Too soon"}]]}
    )
    # a warning reads as its message, not its rule's code (here the recorded words: no parameters)
    assert (warnings.label, warnings.old, warnings.new) == ("Acknowledged warnings", "–", "Too soon")
    (applications,) = revision_changes(
        TreatmentSession,
        {"applications": [[{"lot": 1, "lot_number": "L-7", "areas": ["face", "neck"]}], []]},
    )
    assert (applications.label, applications.old) == ("Exosome applications", "Lot: L-7, Areas: Face, Neck")
