"""A patient with a session ten days ago and phantom close-ups of each cheek before and after it,
uploaded and analysed through the real services: the healing curve's test data."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from exoderm.consent.models import ConsentKind
from exoderm.photos.services import upload_photo
from exoderm.photos.tasks import run_analysis
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png

#: Per side: (seed, days after the session, radius of the red patches in mm; 0: none). The left
#: cheek's redness falls below half its peak between day 3 and day 6; the right's stays above.
LEFT = [(11, -1.0, 0.0), (21, 1.0, 7.0), (31, 3.0, 6.0), (41, 6.0, 1.5)]
RIGHT = [(12, -1.0, 0.0), (22, 1.0, 7.0), (32, 3.0, 7.0), (42, 6.0, 6.0)]


def give_photo_consent(patient) -> None:
    template = factories.ConsentTemplateFactory(
        clinic=patient.clinic, kind=ConsentKind.PHOTOGRAPHY, version=1
    )
    factories.ConsentRecordFactory(patient=patient, template=template)


def healing_scene(patient, clinician, capture_on_commit) -> TreatmentSession:
    """The session and the analysed close-ups of :data:`LEFT` and :data:`RIGHT`."""
    give_photo_consent(patient)
    performed_at = timezone.now().replace(microsecond=0) - dt.timedelta(days=10)
    session = TreatmentSession.objects.create(patient=patient, clinician=clinician, performed_at=performed_at)
    for area, plan in (("cheek_left", LEFT), ("cheek_right", RIGHT)):
        for seed, days, radius in plan:
            design = {"red_patches": 3, "red_radius_mm": (radius, radius)} if radius else {"red_patches": 0}
            with capture_on_commit(execute=False):
                photo, created = upload_photo(
                    patient=patient, chunks=[phantom_png(seed, **design)], view="close_up", area=area,
                    timepoint="healing" if days > 0 else "session", mm_per_px=MM_PER_PX, by=clinician,
                    taken_at=performed_at + dt.timedelta(days=days),
                )  # fmt: skip
            assert created
            # What the worker runs for the queued photo, in this process: a db_worker run would
            # close the test transaction's connection on PostgreSQL.
            assert run_analysis(photo.pk) == "analysed"
    return session
