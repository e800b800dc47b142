"""The overlay of what was measured: rendered on the first request, then read from storage; gone
with its photo; swept when its photo or its engine version is gone. Real engine, real files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from exoderm import skinlab
from exoderm.photos import storage
from exoderm.photos.services import erase_photo, photo_overlay, sweep_storage, trash_photo, upload_photo
from tests.photos._images import MM_PER_PX, phantom_png


@pytest.fixture
def photo(patient, photo_consent, clinician):
    uploaded, _ = upload_photo(
        patient=patient, chunks=[phantom_png(3, spots=12)], view="close_up", timepoint="baseline",
        area="cheek_left", mm_per_px=MM_PER_PX, by=clinician,
    )  # fmt: skip
    return uploaded


def _overlays_of(photo) -> list[tuple[str, str]]:
    return [(name, label) for name, label in storage.derived_files() if name == photo.file_name]


def _png(colour: int) -> bytes:
    ok, data = cv2.imencode(".png", np.full((4, 4, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


@pytest.mark.django_db
def test_rendered_once_then_read_from_storage(client, photo, clinician):
    client.force_login(clinician)
    first = client.get(f"/photos/{photo.pk}/overlay.png")
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG\r\n\x1a\n")
    [(_name, label)] = _overlays_of(photo)
    assert label == f"overlay-{skinlab.ENGINE_VERSION}-close_up-{MM_PER_PX:g}-en.png"
    kept = storage.derived_path(photo.file_name, label)
    assert storage.read_derived(kept) == first.content

    # the second request is served from the file: what the file holds is what comes back
    storage.write_derived(_png(7), kept)
    assert client.get(f"/photos/{photo.pk}/overlay.png").content == _png(7)

    # another scale is another measurement, drawn anew next to the first
    photo.mm_per_px = MM_PER_PX * 1.2
    photo.save(update_fields=["mm_per_px"])
    again = photo_overlay(photo=photo)
    assert again.startswith(b"\x89PNG") and again != _png(7)
    assert len(_overlays_of(photo)) == 2


@pytest.mark.django_db
def test_regions_are_labelled_in_the_readers_language(client, photo, clinician):
    """A German reader gets the regions named in German (umlauts and all), drawn once for German."""
    client.force_login(clinician)
    english = client.get(f"/photos/{photo.pk}/overlay.png").content
    german = client.get(f"/photos/{photo.pk}/overlay.png", HTTP_ACCEPT_LANGUAGE="de").content
    labels = sorted(label for _name, label in _overlays_of(photo))
    assert [label.rsplit("-", 1)[1] for label in labels] == ["de.png", "en.png"]
    assert german.startswith(b"\x89PNG") and german != english
    assert client.get(f"/photos/{photo.pk}/overlay.png", HTTP_ACCEPT_LANGUAGE="de").content == german


def test_skinlab_writes_any_letters_as_region_names():
    """OpenCV's fonts write "?" for every letter beyond ASCII; the labels are drawn by Pillow."""
    from exoderm.skinlab.overlay import _draw_labels

    blank = np.zeros((80, 300, 3), np.uint8)
    umlaut = _draw_labels(blank, [("Ä Ö Ü", (150, 40), (255, 200, 60))], font_px=30, outline=1)
    question = _draw_labels(blank, [("? ? ?", (150, 40), (255, 200, 60))], font_px=30, outline=1)
    assert umlaut.any() and not np.array_equal(umlaut, question)


@pytest.mark.django_db
def test_erasing_the_photo_removes_its_overlay(photo, clinician, django_capture_on_commit_callbacks):
    photo_overlay(photo=photo)
    assert _overlays_of(photo)
    photo = trash_photo(photo=photo, reason="erasure_request", by=clinician)
    assert _overlays_of(photo), "the trash can be undone: the overlay stays until the purge"
    with django_capture_on_commit_callbacks(execute=True):
        erase_photo(photo=photo, by=clinician)
    assert not storage.path_of(photo.file_name).exists()
    assert _overlays_of(photo) == []


@pytest.mark.django_db
def test_sweep_removes_overlays_of_gone_photos_and_earlier_engines(photo):
    photo_overlay(photo=photo)
    [(_name, current)] = _overlays_of(photo)
    old = storage.derived_path(photo.file_name, "overlay-0.9.0-close_up-auto.png")
    storage.write_derived(_png(1), old)
    gone_name = f"{photo.clinic_id}/ab/{'ab' * 32}.png"
    gone = storage.derived_path(gone_name, current)
    storage.write_derived(_png(2), gone)

    swept = sweep_storage(older_than_seconds=0)
    assert swept["stale_overlays"] == 2
    assert not old.exists() and not gone.exists()
    assert storage.derived_path(photo.file_name, current).exists()


def test_derived_labels_cannot_leave_the_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    name = f"1/ab/{'ab' * 32}.png"
    for label in ("", "../x.png", ".hidden", "a/b.png"):
        with pytest.raises(ValueError):
            storage.derived_path(name, label)
    with pytest.raises(ValueError):
        storage.derived_path("../../etc/passwd", "overlay.png")
