"""The photo API: multipart upload, idempotency, consent, clinic isolation, status, file, comparison."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT
from PIL import Image

from exoderm.photos.models import Photo
from tests import factories
from tests.photos import _corpus
from tests.photos._helpers import stored_files


def _post(api, patient, data: bytes, name: str = "photo.jpg", **fields):
    form = {"patient": patient.pk, "view": "front", "timepoint": "baseline", **fields}
    form["file"] = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return api.post("/photos", form, content_type=MULTIPART_CONTENT)


@pytest.mark.django_db(transaction=True)
def test_upload_is_201_then_200_for_the_same_file(api_as, clinician, patient, photo_consent):
    api = api_as(clinician)
    data = _corpus.jpeg(seed=31)
    first = _post(api, patient, data)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["patient_id"] == patient.pk and body["analysis_status"] == "queued"
    assert body["content_type"] == "image/jpeg" and body["taken_at_source"] == "exif"
    again = _post(api, patient, data, name="other-name.jpg")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


@pytest.mark.django_db(transaction=True)
def test_hostile_upload_is_422_with_the_file_field(api_as, clinician, patient, photo_consent):
    response = _post(api_as(clinician), patient, _corpus.pdf(), name="scan.jpg")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["file"]
    assert stored_files() == []


@pytest.mark.django_db(transaction=True)
def test_upload_without_photo_consent_is_refused(api_as, clinician, patient):
    response = _post(api_as(clinician), patient, _corpus.jpeg())
    assert response.status_code == 422
    assert [v["rule"] for v in response.json()["violations"]] == ["consent-missing"]


@pytest.mark.django_db(transaction=True)
def test_other_clinic_and_researcher_see_nothing(
    api_as, clinician, researcher, patient, photo_consent, other_clinic
):
    photo_id = _post(api_as(clinician), patient, _corpus.jpeg(seed=32)).json()["id"]
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    for path in (f"/photos/{photo_id}", f"/photos/{photo_id}/file", f"/photos/{photo_id}/status"):
        assert api_as(stranger).get(path).status_code == 404
        assert api_as(researcher).get(path).status_code == 403
    assert _post(api_as(stranger), patient, _corpus.jpeg(seed=33)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_file_and_status_for_the_clinic(api_as, clinician, patient, photo_consent):
    api = api_as(clinician)
    photo_id = _post(api, patient, _corpus.jpeg(seed=34, orientation=8)).json()["id"]
    response = api.get(f"/photos/{photo_id}/file")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    data = response.content  # decrypted and verified whole before it is sent
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif() and img.size == (240, 320)
    status = api.get(f"/photos/{photo_id}/status").json()
    assert status["analysis_status"] == "queued" and status["analysed"] is False
    listed = api.get(f"/photos?patient={patient.pk}").json()
    assert [p["id"] for p in listed["items"]] == [photo_id]
    progress = api.get("/photos/progress").json()
    assert progress["total"] == 1 and progress["analysed_by_current_engine"] == 0


@pytest.mark.django_db(transaction=True)
def test_photo_page_url_needs_a_login_of_the_clinic(client, clinician, patient, photo_consent, other_clinic):
    from exoderm.photos.services import upload_photo

    photo, _ = upload_photo(
        patient=patient, chunks=[_corpus.jpeg(seed=35)], view="front", timepoint="baseline", by=clinician
    )
    url = f"/photos/{photo.pk}/file"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(factories.UserFactory(clinic=other_clinic))
    assert client.get(url).status_code == 404
    client.force_login(clinician)
    response = client.get(url)
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    assert Photo.objects.count() == 1
    assert not str(photo.file_name).startswith("/")


@pytest.mark.django_db(transaction=True)
def test_results_endpoints_read_the_stored_analyses(
    api_as, clinician, patient, photo_consent, repeatability, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    from exoderm.treatments.models import TreatmentSession
    from tests.photos._images import phantom_png

    api = api_as(clinician)
    session_at = timezone.now() - dt.timedelta(days=10)
    TreatmentSession.objects.create(patient=patient, clinician=clinician, performed_at=session_at)
    ids = []
    for spots, days in ((30, -1), (4, 2)):
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(
                api, patient, phantom_png(3, spots=spots), view="close_up", area="cheek_left",
                mm_per_px="0.05", taken_at=(session_at + dt.timedelta(days=days)).isoformat(),
            )  # fmt: skip
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert api.get(f"/photos/compare?before={ids[0]}&after={ids[1]}").status_code == 409
    german = api.get(f"/photos/compare?before={ids[0]}&after={ids[1]}", headers={"Accept-Language": "de"})
    assert german.json()["title"].startswith("Beide Fotos brauchen zuerst eine Analyse")
    assert api.get(f"/photos/{ids[0]}/analysis").status_code == 404
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)

    assert api.get(f"/photos/{ids[0]}/status").json()["analysed"] is True
    record = api.get(f"/photos/{ids[0]}/analysis").json()
    assert set(record["regions"]) == {"full"} and record["scale"]["source"] == "caller"
    compared = api.get(f"/photos/compare?before={ids[0]}&after={ids[1]}").json()
    spots = next(c for c in compared["regions"]["full"] if c["key"] == "spot_count")
    assert (
        spots["verdict"] == "beyond_noise" and spots["mdc"] == 3.0 and spots["words"].startswith("lower by")
    )
    assert compared["comparable"] is True and compared["reasons"] == []
    points = api.get(
        f"/photos/timeline?patient={patient.pk}&metric=spot_count&view=close_up&area=cheek_left"
    ).json()
    assert [p["photo_id"] for p in points] == ids
    curves = api.get(f"/photos/healing?patient={patient.pk}&view=close_up&area=cheek_left").json()
    assert curves[0]["before"]["photo_id"] == ids[0]
    assert [round(p["days"]) for p in curves[0]["points"]] == [2]
    assert api.get(f"/photos/healing?patient={patient.pk}&metric=spot_count").status_code == 422
    progress = api.get(f"/photos/progress?patient={patient.pk}").json()
    assert progress["analysed_by_current_engine"] == 2 and progress["percent"] == 100.0
    with django_capture_on_commit_callbacks(execute=True):
        farther = _post(
            api, patient, phantom_png(4), view="close_up", area="cheek_left", mm_per_px="0.06",
            taken_at=(session_at + dt.timedelta(days=3)).isoformat(),
        ).json()["id"]  # fmt: skip
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    pair = f"/photos/compare?before={ids[0]}&after={farther}"
    other_scale = api.get(pair).json()
    assert other_scale["comparable"] is False
    assert other_scale["reasons"] == ["scale differs by 20 % from the baseline (limit 10 %)"]
    german = api.get(pair, headers={"Accept-Language": "de"}).json()
    assert german["reasons"] == ["Maßstab weicht um 20 % vom Ausgangsbefund ab (Grenze 10 %)"]
