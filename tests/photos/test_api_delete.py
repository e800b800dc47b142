"""DELETE /api/v1/photos/{id} (to the trash, with a reason), POST /api/v1/photos/{id}/restore,
GET /api/v1/photos/trash, POST /api/v1/photos/{id}/erase and GET /api/v1/photos/events."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT

from exoderm.api.main import api
from exoderm.photos.models import Photo, PhotoEvent
from tests import factories
from tests.photos import _corpus

PROBLEM = "application/problem+json"


def _post(client, patient, data: bytes):
    form = {"patient": patient.pk, "view": "front", "timepoint": "baseline"}
    form["file"] = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
    return client.post("/photos", form, content_type=MULTIPART_CONTENT)


@pytest.fixture
def photo_id(api_as, clinician, patient, photo_consent):
    response = _post(api_as(clinician), patient, _corpus.jpeg(seed=41))
    assert response.status_code == 201
    return response.json()["id"]


@pytest.mark.django_db
def test_delete_hides_and_restore_brings_back(api_as, clinician, patient, photo_id):
    client = api_as(clinician)
    response = client.delete(f"/photos/{photo_id}?reason=wrong_patient")
    assert response.status_code == 204 and response.content == b""
    assert client.get(f"/photos?patient={patient.pk}").json()["items"] == []
    assert client.get(f"/photos/{photo_id}").status_code == 404
    assert client.delete(f"/photos/{photo_id}?reason=wrong_patient").status_code == 404  # gone already

    restored = client.post(f"/photos/{photo_id}/restore")
    assert restored.status_code == 200 and restored.json()["id"] == photo_id
    assert [p["id"] for p in client.get(f"/photos?patient={patient.pk}").json()["items"]] == [photo_id]
    assert client.post(f"/photos/{photo_id}/restore").status_code == 200  # not in the trash: unchanged
    kinds = list(PhotoEvent.objects.filter(photo_id=photo_id).values_list("kind", "reason", "by"))
    assert kinds == [("trashed", "wrong_patient", clinician.pk), ("restored", "", clinician.pk)]


@pytest.mark.django_db
def test_reason_is_required_and_other_needs_a_note(api_as, clinician, photo_id):
    client = api_as(clinician)
    for query, field in (("", "reason"), ("?reason=oops", "reason"), ("?reason=other", "note")):
        response = client.delete(f"/photos/{photo_id}{query}")
        assert response.status_code == 422 and response["Content-Type"] == PROBLEM, query
        assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.json()
    assert Photo.objects.filter(pk=photo_id).exists()
    response = client.delete(f"/photos/{photo_id}?reason=other&note=test+shot")
    assert response.status_code == 204
    assert Photo.with_trashed.get(pk=photo_id).trash_note == "test shot"


@pytest.mark.django_db
def test_upload_of_a_trashed_file_restores_it_and_says_so(api_as, clinician, patient, photo_consent):
    client = api_as(clinician)
    data = _corpus.jpeg(seed=42)
    photo_id = _post(client, patient, data).json()["id"]
    assert client.delete(f"/photos/{photo_id}?reason=failed_capture").status_code == 204
    again = _post(client, patient, data)
    assert again.status_code == 200
    assert again.json()["id"] == photo_id and again.json()["restored_from_trash"] is True
    assert _post(client, patient, data).json()["restored_from_trash"] is False


@pytest.mark.django_db
def test_roles_and_clinics(api_as, assistant, researcher, clinic_admin, other_clinic, photo_id):
    for user in (assistant, researcher):
        for response in (
            api_as(user).delete(f"/photos/{photo_id}?reason=failed_capture"),
            api_as(user).post(f"/photos/{photo_id}/restore"),
        ):
            assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    assert api_as(stranger).delete(f"/photos/{photo_id}?reason=failed_capture").status_code == 404
    assert Photo.objects.filter(pk=photo_id).exists()
    assert api_as(clinic_admin).delete(f"/photos/{photo_id}?reason=erasure_request").status_code == 204
    assert api_as(stranger).post(f"/photos/{photo_id}/restore").status_code == 404
    assert Photo.objects.filter(pk=photo_id).exists() is False


@pytest.mark.django_db(transaction=True)
def test_trash_erase_and_the_audit_trail(api_as, clinician, clinic_admin, patient, photo_id):
    from exoderm.photos import storage

    client = api_as(clinician)
    assert client.get(f"/photos/trash?patient={patient.pk}").json()["items"] == []
    # only a photo in the trash can be erased
    refused = client.post(f"/photos/{photo_id}/erase?confirm_patient={patient.pk}")
    assert refused.status_code == 422 and refused["Content-Type"] == PROBLEM
    trash = client.delete(f"/photos/{photo_id}?reason=erasure_request&note=letter+of+12+Nov")
    assert trash.status_code == 204

    [trashed] = client.get(f"/photos/trash?patient={patient.pk}").json()["items"]
    assert trashed["id"] == photo_id and trashed["trash_reason"] == "erasure_request"
    assert trashed["trash_note"] == "letter of 12 Nov" and trashed["trashed_by_id"] == clinician.pk
    assert trashed["purge_after"] > trashed["trashed_at"]

    # the confirmation must name the photo's patient
    other = factories.PatientFactory(clinic=patient.clinic)
    wrong = client.post(f"/photos/{photo_id}/erase?confirm_patient={other.pk}")
    assert wrong.status_code == 422 and any(e["field"] == "confirm_patient" for e in wrong.json()["errors"])
    assert client.post(f"/photos/{photo_id}/erase").status_code == 422  # no confirmation at all
    file_name = Photo.with_trashed.get(pk=photo_id).file_name
    erased = api_as(clinic_admin).post(f"/photos/{photo_id}/erase?confirm_patient={patient.pk}")
    assert erased.status_code == 204
    assert not Photo.with_trashed.filter(pk=photo_id).exists()
    assert not storage.path_of(file_name).exists()
    assert client.get(f"/photos/trash?patient={patient.pk}").json()["items"] == []
    assert client.post(f"/photos/{photo_id}/erase?confirm_patient={patient.pk}").status_code == 404

    events = client.get(f"/photos/events?patient={patient.pk}").json()["items"]
    assert [(e["photo_id"], e["kind"], e["by_id"]) for e in events] == [
        (photo_id, "trashed", clinician.pk),
        (photo_id, "purged", clinic_admin.pk),
    ]
    assert events[0]["reason"] == "erasure_request" and events[0]["note"] == "letter of 12 Nov"


@pytest.mark.django_db
def test_trash_and_trail_are_only_for_clinicians(api_as, assistant, researcher, other_clinic, patient):
    for user in (assistant, researcher):
        for url in (f"/photos/trash?patient={patient.pk}", f"/photos/events?patient={patient.pk}"):
            assert api_as(user).get(url).status_code == 403, (user.role, url)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    assert api_as(stranger).get(f"/photos/trash?patient={patient.pk}").status_code == 404
    assert api_as(stranger).get(f"/photos/events?patient={patient.pk}").status_code == 404


def test_openapi_documents_delete_and_restore():
    paths = api.get_openapi_schema()["paths"]
    delete = paths["/api/v1/photos/{photo_id}"]["delete"]
    assert "204" in {str(code) for code in delete["responses"]}
    reason = next(p for p in delete["parameters"] if p["name"] == "reason")
    assert reason["required"] is True
    assert "post" in paths["/api/v1/photos/{photo_id}/restore"]
    erase = paths["/api/v1/photos/{photo_id}/erase"]["post"]
    assert next(p for p in erase["parameters"] if p["name"] == "confirm_patient")["required"] is True
    assert {"/api/v1/photos/trash", "/api/v1/photos/events"} <= set(paths)
