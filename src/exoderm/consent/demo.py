"""Demo data of the tablet signature: one patient's research consent, signed by hand."""

from __future__ import annotations

import io
import math

from django.utils import timezone
from PIL import Image, ImageDraw

from exoderm.clinics.models import Clinic, Role
from exoderm.consent.models import ConsentKind, ConsentSignature
from exoderm.consent.selectors import active_consent
from exoderm.consent.services import sign_on_tablet
from exoderm.patients.models import Patient


def _handwriting(width: int = 640, height: int = 200) -> bytes:
    """A PNG like the tablet's pad exports: a looping stroke in dark ink on a transparent ground."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [
        (60 + 4.2 * step, 110 - 38 * math.sin(step / 6.5) * math.exp(-step / 160) + 14 * math.cos(step / 2.1))
        for step in range(120)
    ]
    draw.line(points, fill=(17, 24, 39, 255), width=3, joint="curve")
    draw.line([(70, 150), (560, 142)], fill=(17, 24, 39, 255), width=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def seed_signed_consent(*, clinic: Clinic) -> ConsentSignature | None:
    """Sign, on the tablet, the research consent of the clinic's first patient who has none, with a
    clinician as the witness. Does nothing if the clinic has a tablet signature already."""
    if ConsentSignature.objects.filter(record__patient__clinic=clinic).exists():
        return None
    witness = clinic.users.filter(role=Role.CLINICIAN).order_by("pk").first()
    if witness is None:
        return None
    current = clinic.consent_templates.filter(kind=ConsentKind.RESEARCH).order_by("-version").first()
    if current is None:
        return None
    now = timezone.now()
    for patient in Patient.objects.filter(clinic=clinic).select_related("identity").order_by("pk"):
        if active_consent(patient=patient, kind=ConsentKind.RESEARCH, at=now) is not None:
            continue
        language = patient.identity.language
        record = sign_on_tablet(
            patient=patient,
            kind=ConsentKind.RESEARCH,
            language=language,
            text_sha256=current.text_sha256(language),
            signer_name=str(patient.identity),
            signature_png=_handwriting(),
            device="Tablet Empfang · demo",
            by=witness,
        )
        return ConsentSignature.objects.get(record=record)
    return None
