"""Clinic isolation for EVERY operation of /api/v1, taken from the served OpenAPI schema.

Clinic B has one of everything. For each operation with an id in its path, users of clinic A
(every role) send B's ids: reads answer 404 (never 403, which would confirm the record exists),
writes are refused, and B's records stay exactly as they were. Lists of A never show B's records.
A new endpoint is covered the day it is added; an id parameter this test cannot resolve fails it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image
from tests import factories

from exoderm.api.main import api
from exoderm.clinics.models import Role
from exoderm.clinics.services import issue_api_token
from exoderm.consent.models import ConsentKind
from exoderm.courses.services import enroll
from exoderm.patients.intake import create_intake
from exoderm.photos.services import upload_photo
from exoderm.products.models import TemperatureReading

# Which clinic a record belongs to does not depend on the date: these operations, a fifth of the
# awkward-instant passes' time, run in the main and PostgreSQL passes only.
pytestmark = pytest.mark.clock_free

SCHEMA = api.get_openapi_schema()
OPERATIONS = [
    (method.upper(), path)
    for path, operations in SCHEMA["paths"].items()
    for method in operations
    if method in {"get", "post", "put", "patch", "delete"}
]
WITH_ID = [(m, p) for m, p in OPERATIONS if "{" in p]
LISTS = [p for m, p in OPERATIONS if m == "GET" and "{" not in p]


@pytest.fixture
def clinic_b(db, other_clinic, settings, tmp_path):
    """Clinic B with a record behind every kind of id the API takes."""
    settings.MEDIA_ROOT = tmp_path / "media"
    scene = factories.SessionScene(other_clinic)
    clinician, patient, lot = scene.clinician, scene.patient, scene.lot
    session = scene.record()
    spare_vial = factories.VialFactory(lot=lot)
    TemperatureReading.objects.create(lot=lot, recorded_at=timezone.now(), celsius=Decimal("-20"))
    photo_consent = factories.ConsentRecordFactory(
        patient=patient,
        recorded_by=clinician,
        template=factories.ConsentTemplateFactory(clinic=other_clinic, kind=ConsentKind.PHOTOGRAPHY),
    )
    now = timezone.now()
    course_template = factories.CourseTemplateFactory(clinic=other_clinic)
    course = enroll(
        patient=patient,
        template=course_template,
        clinician=clinician,
        starts_at=now + dt.timedelta(days=7),
        by=clinician,
    )
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 150, 130)).save(buffer, "JPEG")
    photo, _ = upload_photo(
        patient=patient, chunks=[buffer.getvalue()], view="front", timepoint="baseline", by=clinician
    )
    patient.code, lot.number = "B-SECRET-CODE", "B-SECRET-LOT"
    patient.save(update_fields=["code"])
    lot.save(update_fields=["number"])
    assert issue_api_token(username=clinician.username, password=factories.PASSWORD)
    ids = {
        "token_id": clinician.api_tokens.get().pk,
        "patient_id": patient.pk,
        "consent_id": scene.consent.pk,
        "answer_id": patient.screening_answers.first().pk,
        "product_id": lot.product_id,
        "lot_id": lot.pk,
        "vial_id": spare_vial.pk,
        "session_id": session.pk,
        "visit_id": course.visits.first().pk,
        "photo_id": photo.pk,
        "course-templates:template_id": course_template.pk,
        "consent-templates:template_id": photo_consent.template_id,
        "event_id": _adverse_event(patient, clinician).pk,
        "message_id": _sent_message(patient),
        "intake_id": create_intake(patient=patient, by=clinician)[0].pk,
        "appointment_id": course.visits.order_by("planned_at").first().appointments.get().pk,
        **_study_ids(other_clinic, patient, photo=photo, visit=course.visits.earliest("planned_at")),
    }
    return ids


def _study_ids(clinic, patient, *, photo, visit) -> dict[str, int | str]:
    """Clinic B's split-face study with the patient enrolled, a kit, a role and a rating image."""
    from exoderm.studies import services
    from exoderm.studies.models import RatingImage, RatingTask, StudyRole

    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    factories.give_research_consent(patient)
    participant = scene.participant(patient)
    kit = services.prepare_kit(
        participant=participant, session_number=1, vials=scene.vials_for(participant), by=scene.coordinator
    )
    task = RatingTask.objects.create(
        study=scene.study, participant=participant, visit=visit, order_key="0", created_at=timezone.now()
    )
    image = RatingImage.objects.create(
        task=task, side="face_left", timepoint="baseline", photo=photo, token="b-rating-image-token"
    )
    return {
        "study_id": scene.study.pk,
        "participant_id": participant.pk,
        "role_id": StudyRole.objects.filter(study=scene.study).first().pk,
        "code": kit.code,
        "token": image.token,
    }


def _adverse_event(patient, clinician):
    from exoderm.patients.selectors import clinic_today
    from exoderm.safety.services import record_adverse_event

    return record_adverse_event(
        user=clinician, patient=patient, term="erythema", onset=clinic_today(patient.clinic), severity=1,
        serious=False, related_to_procedure="probable", related_to_product="unlikely",
    )  # fmt: skip


def _sent_message(patient) -> int:
    """A sent reminder in clinic B's outbox (exoderm.messaging)."""
    from exoderm.messaging.models import OutboxMessage
    from exoderm.messaging.services import queue_for_patient

    message = queue_for_patient(patient=patient, kind="visit_reminder", about="b", at=timezone.now())[0]
    OutboxMessage.objects.filter(pk=message.pk).update(status="sent", sent_at=timezone.now())
    return message.pk


def _fill(path: str, ids: dict[str, int]) -> str:
    collection = path.removeprefix("/api/v1/").split("/", 1)[0]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = ids.get(f"{collection}:{name}", ids.get(name))
        assert found is not None, f"test_isolation does not know which id {name} in {path} names: add it"
        return str(found)

    return re.sub(r"\{(\w+)\}", value, path)


def _fingerprint() -> str:
    """Everything stored, as text: unchanged means no write of clinic A touched anything."""
    from django.apps import apps

    parts = []
    for model in apps.get_app_config("patients").get_models():
        parts.append(repr(list(model.objects.order_by("pk").values())))
    labels = (
        "consent",
        "products",
        "treatments",
        "courses",
        "booking",
        "photos",
        "records",
        "safety",
        "studies",
    )
    for label in labels:
        for model in apps.get_app_config(label).get_models():
            parts.append(repr(list(model.objects.order_by("pk").values())))
    return "\n".join(parts)


@pytest.mark.parametrize(("method", "path"), WITH_ID, ids=[f"{m} {p}" for m, p in WITH_ID])
def test_other_clinics_ids_are_not_found(method, path, clinic_b, clinic, api_as):
    url = _fill(path, clinic_b)
    before = _fingerprint()
    statuses = []
    for role in (Role.CLINICIAN, Role.ASSISTANT, Role.CLINIC_ADMIN):
        client = api_as(factories.UserFactory(clinic=clinic, role=role))
        body = None if method in {"GET", "DELETE"} else {}
        response = client._call(method.lower(), url, body)
        statuses.append(response.status_code)
        assert response.status_code in {403, 404, 422}, (role, response.status_code, response.content[:300])
        if method == "GET":
            assert response.status_code in {403, 404}
    assert 404 in statuses or method != "GET", statuses
    assert _fingerprint() == before


@pytest.mark.parametrize("path", LISTS)
def test_lists_never_show_another_clinics_records(path, clinic_b, clinic, api_as):
    for role in (Role.CLINICIAN, Role.ASSISTANT, Role.CLINIC_ADMIN, Role.RESEARCHER):
        response = api_as(factories.UserFactory(clinic=clinic, role=role)).get(path.removeprefix("/api/v1"))
        text = response.content.decode(errors="replace")
        assert "B-SECRET" not in text, (role, path)
