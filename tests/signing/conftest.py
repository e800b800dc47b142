"""Fixtures of the tablet signature and intake tests: a master key of the test's own, a clinic with
consent texts, and signature pictures as a tablet's canvas exports them."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from exoderm.consent.models import ConsentKind
from tests import factories
from tests.messaging.conftest import smtp  # noqa: F401  (the real SMTP server the worker sends to)


@pytest.fixture(autouse=True)
def own_keys_and_files(settings, tmp_path):
    """A master key and a photo store of the test's own: a key rotation walks the photo store."""
    settings.EXODERM_MASTER_KEY = ""
    settings.EXODERM_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    settings.MEDIA_ROOT = tmp_path / "media"


def drawn_signature(width: int = 600, height: int = 200, *, strokes: int = 3) -> bytes:
    """A PNG like the pad's: transparent background, a few dark strokes."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for index in range(strokes):
        offset = 40 + 60 * index
        points = [(offset + x, 120 + ((x // 7) % 5 - 2) * 12 - index * 10) for x in range(0, 160, 4)]
        draw.line(points, fill=(17, 24, 39, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def blank_signature(width: int = 600, height: int = 200, colour=(0, 0, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def texts(clinic):
    """Version 1 of the treatment consent, with umlauts and a typographic dash in both languages."""
    return factories.ConsentTemplateFactory(
        clinic=clinic,
        kind=ConsentKind.TREATMENT,
        version=1,
        title_de="Einwilligung in die Exosomen-Behandlung",
        title_en="Consent to the exosome treatment",
        text_de="Ich wurde über Nutzen und Risiken aufgeklärt – Rötung, Schwellung – und willige ein.",
        text_en="I was told about benefits and risks – redness, swelling – and I consent.",
    )


@pytest.fixture
def patient(clinic):
    patient = factories.PatientFactory(clinic=clinic)
    patient.identity.given_name = "Jörg"
    patient.identity.family_name = "Größmann"
    patient.identity.language = "de"
    patient.identity.save()
    return patient
