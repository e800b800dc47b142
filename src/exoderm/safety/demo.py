"""Demo data of the safety app: a few adverse events (one corrected, one serious) and close-ups of
both cheeks in the days after one session, so that the healing curve has something to draw."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

from django.utils import timezone
from PIL import Image

from exoderm.clinics.models import Clinic, User
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.photos.services import upload_photo
from exoderm.safety.services import record_adverse_event, update_adverse_event
from exoderm.skinlab.phantom import make_phantom
from exoderm.treatments.models import TreatmentSession

MM_PER_PX = 0.05
#: Per cheek: (days after the session, radius of the red patches in mm; 0: none before it). The
#: left cheek calms down within a few days, the right one more slowly.
HEALING_PHOTOS = {
    "cheek_left": [(-1 / 24, 0.0), (1, 7.0), (3, 5.5), (6, 1.5)],
    "cheek_right": [(-1 / 24, 0.0), (1, 7.0), (3, 6.5), (6, 4.5)],
}


def _session_days_ago(patient: Patient, days: int) -> TreatmentSession | None:
    """The patient's latest session at least ``days`` days ago."""
    before = timezone.now() - dt.timedelta(days=days)
    sessions = TreatmentSession.objects.filter(patient=patient, performed_at__lte=before)
    return sessions.order_by("-performed_at").first()


def _healing_close_ups(session: TreatmentSession, *, by: User) -> None:
    """Phantom close-ups of each cheek an hour before ``session`` and 1, 3 and 6 days after it
    (analysed by the demo's worker)."""
    for seed, (area, plan) in enumerate(HEALING_PHOTOS.items()):
        for step, (days, radius) in enumerate(plan):
            design = {"red_patches": 3, "red_radius_mm": (radius, radius)} if radius else {"red_patches": 0}
            skin = make_phantom(shape=(480, 640), mm_per_px=MM_PER_PX, seed=100 + 10 * seed + step, **design)
            png = io.BytesIO()
            Image.fromarray(skin.rgb).save(png, "PNG")
            upload_photo(
                patient=session.patient, chunks=[png.getvalue()], view="close_up", area=area,
                timepoint="healing" if days > 0 else "session", mm_per_px=MM_PER_PX, by=by,
                taken_at=session.performed_at + dt.timedelta(days=days),
            )  # fmt: skip


def seed_adverse_events(*, clinic: Clinic, clinician: User) -> None:
    """Adverse events of the clinic's second to fifth patient after one of their sessions a week or
    more ago (one corrected, one serious), and the healing photos of the second patient's session."""
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    today = clinic_today(clinic)
    treated = []
    for patient in Patient.objects.filter(clinic=clinic).order_by("pk")[1:]:
        session = _session_days_ago(patient, 7)
        if session is not None:
            treated.append((patient, session, session.performed_at.astimezone(tz).date()))
        if len(treated) == 4:
            break
    if len(treated) < 4:
        return
    (first, first_session, first_day), (second, second_session, second_day) = treated[:2]
    (third, third_session, third_day), (fourth, fourth_session, fourth_day) = treated[2:]
    record_adverse_event(
        user=clinician, patient=first, session=first_session, term="erythema", side="face_right",
        onset=first_day, resolved_on=min(first_day + dt.timedelta(days=5), today), severity=1,
        serious=False, related_to_procedure="definite", related_to_product="unlikely",
    )  # fmt: skip
    oedema = record_adverse_event(
        user=clinician, patient=second, session=second_session, term="oedema",
        onset=second_day + dt.timedelta(days=1), severity=1, serious=False,
        related_to_procedure="probable", related_to_product="possible",
    )  # fmt: skip
    update_adverse_event(
        user=clinician, event=oedema, severity=2, reason="Bei der Kontrolle: Schwellung stärker als notiert."
    )
    record_adverse_event(
        user=clinician, patient=third, session=third_session, term="infection", side="face_left",
        onset=third_day + dt.timedelta(days=2), severity=3, serious=True,
        report_date=third_day + dt.timedelta(days=3),
        resolved_on=min(third_day + dt.timedelta(days=12), today),
        related_to_procedure="probable", related_to_product="unlikely",
    )  # fmt: skip
    record_adverse_event(
        user=clinician, patient=fourth, session=fourth_session, term="other",
        description="Juckreiz an der Stirn", onset=fourth_day + dt.timedelta(days=1), severity=1,
        serious=False, related_to_procedure="possible", related_to_product="possible",
    )  # fmt: skip
    _healing_close_ups(first_session, by=clinician)
