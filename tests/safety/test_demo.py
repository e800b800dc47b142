"""The demo clinic's safety data: seeded once with the rest of the demo, through the services."""

from __future__ import annotations

import pytest

from exoderm.demo import seed_demo
from exoderm.photos.models import Photo
from exoderm.records.models import Revision
from exoderm.safety.healing import session_healing
from exoderm.safety.models import AdverseEvent
from exoderm.treatments.models import TreatmentSession


@pytest.mark.slow
@pytest.mark.django_db
def test_the_demo_has_adverse_events_and_healing_photos():
    seed_demo()

    events = AdverseEvent.objects.all()  # the demo's study records adverse events too
    seeded = events.count()
    assert events.filter(term="infection", serious=True, report_date__isnull=False).count() == 1
    assert events.filter(term="other", description="Juckreiz an der Stirn", resolved_on=None).exists()
    oedema = events.get(term="oedema", severity=2)
    assert Revision.objects.filter(object_id=oedema.pk, reason__startswith="Bei der Kontrolle").count() == 1
    session = TreatmentSession.objects.get(adverse_events__term="erythema", adverse_events__side="face_right")
    healing_photos = Photo.objects.filter(patient=session.patient, area__in=["cheek_left", "cheek_right"])
    assert healing_photos.count() == 8
    # the worker analyses the photos when the demo starts; until then the curve has no points
    assert session_healing(session=session).sides == {}

    seed_demo()
    assert AdverseEvent.objects.count() == seeded
