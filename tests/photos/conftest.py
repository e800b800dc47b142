from __future__ import annotations

import importlib
import json

import pytest

from exoderm import skinlab
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


@pytest.fixture
def repeatability(tmp_path, monkeypatch):
    """A repeatability study for the running engine version (the engine's file may not exist yet)."""
    study = tmp_path / "repeatability.json"
    metrics = {"spot_count": {"sem": 1.0, "mdc": 3.0}, "L_median": {"sem": 0.4, "mdc": 1.2}}
    study.write_text(json.dumps({"engine_version": skinlab.ENGINE_VERSION, "metrics": metrics}))
    monkeypatch.setattr(importlib.import_module("exoderm.skinlab.compare"), "REPEATABILITY_PATH", study)
    return metrics
