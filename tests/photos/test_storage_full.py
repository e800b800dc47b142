"""A full photo volume: the upload is refused with a message, and nothing is left half-written.

The volume is a real file system that fills up (a small tmpfs), not a simulated error: mounting it
needs root, which CI has.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core.exceptions import ValidationError

from exoderm.photos.models import Photo
from exoderm.photos.services import upload_photo
from tests.photos import _corpus


@pytest.fixture
def small_volume(settings, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mount = tmp_path / "volume"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], check=True)
    settings.MEDIA_ROOT = mount / "media"
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def files_under(path):
    return sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file())


@pytest.mark.django_db
def test_a_full_volume_refuses_the_upload_and_leaves_nothing(small_volume, patient, photo_consent, clinician):
    data = _corpus.png(seed=3)
    assert len(data) > 96 * 1024  # larger than the whole volume
    with pytest.raises(ValidationError) as refusal:
        upload_photo(
            patient=patient,
            chunks=[data[i : i + 65536] for i in range(0, len(data), 65536)],
            view="front",
            timepoint="baseline",
            by=clinician,
        )
    assert refusal.value.message_dict["file"] == [
        "The photo store is full: the photo was not saved. Tell the clinic's administrator."
    ]
    assert Photo.objects.count() == 0
    assert files_under(small_volume) == []


@pytest.mark.django_db
def test_the_api_answers_a_full_volume_with_the_message(
    small_volume, patient, photo_consent, clinician, api_as
):
    data = _corpus.png(seed=3)
    response = api_as(clinician).client.post(
        "/api/v1/photos",
        {"patient": patient.pk, "view": "front", "timepoint": "baseline", "file": _upload_file(data)},
        headers=api_as(clinician).headers,
    )
    assert response.status_code == 422, response.content
    assert "The photo store is full" in response.content.decode()
    assert Photo.objects.count() == 0
    assert files_under(small_volume) == []


def _upload_file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("face.png", data, content_type="image/png")
