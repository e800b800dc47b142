from __future__ import annotations

import pytest

from exoderm.consent.models import ConsentKind
from tests import factories


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


@pytest.fixture
def photo_consent(patient):
    template = factories.ConsentTemplateFactory(
        clinic=patient.clinic, kind=ConsentKind.PHOTOGRAPHY, version=1
    )
    return factories.ConsentRecordFactory(patient=patient, template=template)
