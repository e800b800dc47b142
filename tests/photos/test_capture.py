"""The capture page and the check before upload: guide, ghost, warnings, refusals, nothing stored."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT

from exoderm.photos.models import Photo
from exoderm.photos.services import upload_photo
from exoderm.skinlab.phantom import Perturbation
from tests import factories
from tests.photos import _corpus
from tests.photos._helpers import stored_files
from tests.photos._images import MM_PER_PX, phantom_jpeg, phantom_png

DARKER = Perturbation(exposure=0.5)  # one stop darker than the baseline


def _check(client, patient, data: bytes, **fields):
    form = {"view": "close_up", "timepoint": "follow_up", "area": "cheek_left", "mm_per_px": "0.05", **fields}
    form["file"] = SimpleUploadedFile("chosen.png", data)
    return client.post(f"/photos/patient/{patient.pk}/check", form)


@pytest.fixture
def baseline(patient, photo_consent, clinician):
    photo, _ = upload_photo(
        patient=patient, chunks=[phantom_png(1, spots=30)], view="close_up", area="cheek_left",
        timepoint="baseline", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    return photo


def _files_after(baseline) -> list[str]:
    return [p.name for p in stored_files()]


@pytest.mark.django_db
def test_the_capture_page_shows_the_guide_the_ghost_and_the_check(client, clinician, baseline, patient):
    client.force_login(clinician)
    page = client.get(f"/photos/patient/{patient.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    for view in ("front", "left_45", "right_45", "close_up"):
        assert f'<g data-guide="{view}"' in html and f'<span data-guide="{view}"' in html
    file_input = re.search(r'<input type="file"[^>]*>', html).group(0)
    assert f'hx-post="/photos/patient/{patient.pk}/check"' in file_input
    assert 'hx-encoding="multipart/form-data"' in file_input and 'hx-include="closest form"' in file_input
    ghosts = json.loads(re.search(r'id="capture-ghosts"[^>]*>(.*?)</script>', html).group(1))
    assert ghosts == {"close_up|cheek_left": f"/photos/{baseline.pk}/file"}
    assert client.get(ghosts["close_up|cheek_left"]).status_code == 200  # the login-checked file view
    assert "blob:" in page["Content-Security-Policy"].split("img-src", 1)[1].split(";", 1)[0]


@pytest.mark.django_db
def test_a_photo_without_a_baseline_has_nothing_to_compare_with(client, clinician, patient, photo_consent):
    client.force_login(clinician)
    response = _check(client, patient, phantom_png(2))
    assert response.status_code == 200
    assert b"nothing to compare with" in response.content
    without_file = client.post(
        f"/photos/patient/{patient.pk}/check", {"view": "front", "timepoint": "baseline"}
    )
    assert without_file.status_code == 200 and b"Choose a photo to check it" in without_file.content
    assert Photo.objects.count() == 0 and stored_files() == []


@pytest.mark.django_db
def test_the_same_setup_matches_and_nothing_is_stored(client, clinician, patient, baseline):
    client.force_login(clinician)
    before = stored_files()
    response = _check(client, patient, phantom_png(2, spots=4))  # other skin, same capture
    assert response.status_code == 200, response.content
    assert b"Pose, scale and lighting match the baseline" in response.content
    assert Photo.objects.count() == 1 and stored_files() == before


@pytest.mark.django_db
def test_a_darker_photo_at_another_scale_is_warned_about_but_may_be_uploaded(
    client, clinician, patient, baseline
):
    client.force_login(clinician)
    data = phantom_png(2, spots=4, perturb=DARKER)
    response = _check(client, patient, data, mm_per_px="0.06")
    text = response.content.decode()
    assert response.status_code == 200
    assert "scale differs by 20 % from the baseline (limit 10 %)" in text
    assert re.search(r"lighting differs: (0\.9|1\.0|1\.1) stops darker than the baseline", text), text
    assert "you can still upload it" in text
    assert Photo.objects.count() == 1

    clinician.language = "de"
    clinician.save()
    german = _check(client, patient, data, mm_per_px="0.06").content.decode()
    assert "Maßstab weicht um 20 % vom Ausgangsbefund ab (Grenze 10 %)" in german
    assert re.search(r"(0,9|1,0|1,1) Blendenstufen dunkler als beim Ausgangsbefund", german), german

    # the warning is advice: the same photo is stored when uploaded
    form = {"view": "close_up", "timepoint": "follow_up", "area": "cheek_left", "mm_per_px": "0.06"}
    stored = client.post(
        f"/photos/patient/{patient.pk}/", {**form, "file": SimpleUploadedFile("a.png", data)}
    )
    assert stored.status_code == 302 and Photo.objects.count() == 2


@pytest.mark.django_db
def test_a_strongly_sharpened_photo_is_told_to_turn_the_sharpening_off(client, clinician, patient, baseline):
    client.force_login(clinician)
    # the same skin through a phone's strong "vivid" processing
    vivid = Perturbation(noise_sd=2.0, blur_sigma_px=0.6, seed=5, phone="android-aggressive")
    text = _check(client, patient, phantom_png(1, spots=30, perturb=vivid)).content.decode()
    assert re.search(r"strongly sharpened by the camera: edges overshoot by 1\d % \(limit \d+ %\)", text), (
        text
    )
    assert "use its Pro or RAW mode" in text
    ordinary = Perturbation(noise_sd=2.0, blur_sigma_px=0.6, seed=5, phone="iphone-default")
    sharp_enough = _check(client, patient, phantom_png(1, spots=30, perturb=ordinary)).content.decode()
    assert "strongly sharpened" not in sharp_enough
    assert Photo.objects.count() == 1


@pytest.mark.django_db
def test_a_photo_softer_than_the_baseline_is_told_to_focus_again(client, clinician, patient, baseline):
    client.force_login(clinician)
    # the same skin again, out of focus by σ 1.5 px = 0.075 mm
    soft = _check(client, patient, phantom_png(1, spots=30, perturb=Perturbation(blur_sigma_px=1.5)))
    text = soft.content.decode()
    assert re.search(r"softer than the baseline: 0\.0[6-9] mm more blur \(limit 0\.03 mm\)", text), text
    assert "focus again" in text
    sharp = _check(
        client, patient, phantom_png(1, spots=30, perturb=Perturbation(noise_sd=2.0))
    ).content.decode()
    assert "softer than the baseline" not in sharp
    assert Photo.objects.count() == 1


@pytest.mark.django_db
def test_a_more_compressed_jpeg_is_warned_about_by_the_quality_of_the_files_as_sent(
    client, clinician, patient, photo_consent
):
    baseline, _ = upload_photo(
        patient=patient, chunks=[phantom_jpeg(1, quality=95, spots=30)], view="close_up", area="cheek_left",
        timepoint="baseline", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    assert baseline.source_jpeg_quality == 95 and baseline.source_format == "jpeg"
    client.force_login(clinician)

    same = _check(client, patient, phantom_jpeg(2, quality=90, spots=4)).content.decode()
    assert "Pose, scale and lighting match the baseline" in same
    # the stored baseline is a re-encoding at quality 95 either way: what counts is the upload's
    worse = _check(client, patient, phantom_jpeg(2, quality=82, spots=4)).content.decode()
    assert "compression differs: JPEG quality 13 lower than at the baseline (limit 10)" in worse
    poor = _check(client, patient, phantom_jpeg(2, quality=60, spots=4)).content.decode()
    assert "JPEG quality 60 is below 80: fine texture, pores and wrinkles are measured lower" in poor
    assert "compression differs" not in poor
    # a lossless upload has no JPEG quality to compare, but its format differs from the baseline's
    lossless = _check(client, patient, phantom_png(2, spots=4)).content.decode()
    assert "file format differs: the baseline is a JPEG or HEIC, this photo uncompressed" in lossless
    assert "compression differs" not in lossless

    clinician.language = "de"
    clinician.save()
    german = _check(client, patient, phantom_jpeg(2, quality=82, spots=4)).content.decode()
    assert "Komprimierung weicht ab: JPEG-Qualität 13 niedriger als beim Ausgangsbefund (Grenze 10)" in german
    german = _check(client, patient, phantom_jpeg(2, quality=60, spots=4)).content.decode()
    assert "JPEG-Qualität 60 liegt unter 80: feine Textur, Poren und Falten" in german
    german = _check(client, patient, phantom_png(2, spots=4)).content.decode()
    assert (
        "Dateiformat weicht ab: der Ausgangsbefund ist ein JPEG oder HEIC, dieses Foto unkomprimiert"
        in german
    )
    assert Photo.objects.count() == 1


@pytest.mark.django_db
def test_a_baseline_without_a_recorded_quality_is_not_compared_for_compression(
    client, clinician, patient, photo_consent
):
    baseline, _ = upload_photo(
        patient=patient, chunks=[phantom_jpeg(1, quality=95, spots=30)], view="close_up", area="cheek_left",
        timepoint="baseline", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    Photo.objects.filter(pk=baseline.pk).update(source_jpeg_quality=None)  # stored before it was recorded
    client.force_login(clinician)
    assert b"Pose, scale and lighting match" in _check(client, patient, phantom_jpeg(2, quality=82)).content
    assert b"JPEG quality 60 is below 80" in _check(client, patient, phantom_jpeg(2, quality=60)).content
    png, _ = upload_photo(
        patient=patient, chunks=[phantom_png(3)], view="close_up", area="cheek_left",
        timepoint="follow_up", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    assert png.source_format == "png" and png.source_jpeg_quality is None


@pytest.mark.django_db
def test_a_hostile_file_is_refused_with_the_uploads_message_and_leaves_nothing(
    client, clinician, patient, baseline
):
    client.force_login(clinician)
    before = stored_files()
    for data in (_corpus.pdf(), _corpus.polyglot_jpeg_zip()[:200], _corpus.png_bomb()):
        response = _check(client, patient, data)
        assert response.status_code == 422
        assert b"This photo would be refused" in response.content
        assert stored_files() == before
    assert b"not a JPEG, PNG, TIFF or HEIC" in _check(client, patient, _corpus.pdf()).content
    assert Photo.objects.count() == 1


@pytest.mark.django_db
def test_the_check_refuses_without_photo_consent(client, clinician, patient):
    client.force_login(clinician)
    response = _check(client, patient, phantom_png(2))
    assert response.status_code == 422 and b"photography consent" in response.content
    assert stored_files() == []


@pytest.mark.django_db
def test_the_check_belongs_to_the_clinic_and_needs_a_login(
    client, clinician, researcher, patient, baseline, other_clinic
):
    data = phantom_png(2)
    anonymous = _check(client, patient, data)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(factories.UserFactory(clinic=other_clinic, role="clinician"))
    assert _check(client, patient, data).status_code == 404
    client.force_login(researcher)
    assert _check(client, patient, data).status_code == 403
    client.force_login(clinician)
    assert client.get(f"/photos/patient/{patient.pk}/check").status_code == 405
    assert Photo.objects.count() == 1


def _api_check(api, patient, data: bytes, **fields):
    form = {"patient": patient.pk, "view": "close_up", "area": "cheek_left", "mm_per_px": "0.05", **fields}
    form["file"] = SimpleUploadedFile("chosen.png", data, content_type="image/png")
    return api.post("/photos/check", form, content_type=MULTIPART_CONTENT)


@pytest.mark.django_db
def test_the_api_check(api_as, clinician, researcher, patient, photo_consent, other_clinic):
    api = api_as(clinician)
    nothing = _api_check(api, patient, phantom_png(2))
    assert nothing.status_code == 200, nothing.content
    assert nothing.json() == {"baseline_id": None, "comparable": None, "differences": []}

    baseline, _ = upload_photo(
        patient=patient, chunks=[phantom_png(1, spots=30)], view="close_up", area="cheek_left",
        timepoint="baseline", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    before = stored_files()
    same = _api_check(api, patient, phantom_png(2, spots=4)).json()
    assert same == {"baseline_id": baseline.pk, "comparable": True, "differences": []}
    darker = _api_check(api, patient, phantom_png(2, perturb=DARKER), mm_per_px="0.06").json()
    assert darker["comparable"] is False
    assert [(d["kind"], round(d["value"], 2), d["limit"]) for d in darker["differences"]] == [
        ("scale", 0.2, 0.1),
        ("exposure", pytest.approx(-1.0, abs=0.1), pytest.approx(1 / 3)),
    ]
    assert darker["differences"][0]["message"].startswith("scale differs by 20 %")
    poor = _api_check(api, patient, phantom_jpeg(2, quality=50)).json()
    assert [(d["kind"], d["value"], d["limit"]) for d in poor["differences"]] == [
        ("file_format", 1, None),  # the baseline is a PNG
        ("jpeg_quality", 50, 80),
    ]
    assert poor["differences"][0]["message"].startswith("file format differs: the baseline is uncompressed")
    assert poor["differences"][1]["message"].startswith("JPEG quality 50 is below 80")

    hostile = _api_check(api, patient, _corpus.pdf())
    assert hostile.status_code == 422 and [e["field"] for e in hostile.json()["errors"]] == ["file"]
    stranger = api_as(factories.UserFactory(clinic=other_clinic, role="clinician"))
    assert _api_check(stranger, patient, phantom_png(2)).status_code == 404
    assert _api_check(api_as(researcher), patient, phantom_png(2)).status_code == 403
    assert stored_files() == before and Photo.objects.count() == 1
