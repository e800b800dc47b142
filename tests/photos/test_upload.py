"""Safe upload: allow-listed formats by content, bombs refused, metadata gone, no orphans, idempotent."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from exoderm.core.errors import RuleViolations
from exoderm.photos import storage
from exoderm.photos.models import Photo
from exoderm.photos.services import upload_photo
from tests import factories
from tests.photos import _corpus
from tests.photos._helpers import stored_files


def _upload(patient, data: bytes, by, **kwargs):
    kwargs.setdefault("view", "front")
    kwargs.setdefault("timepoint", "baseline")
    return upload_photo(
        patient=patient, chunks=[data[i : i + 65536] for i in range(0, len(data), 65536)], by=by, **kwargs
    )


def _assert_clean(photo: Photo) -> bytes:
    data = storage.read(photo.file_name)
    for marker in (b"Exif", b"GPS", b"script", b"PK\x03\x04", b"PK\x05\x06", b"xmpmeta", b"ICC_PROFILE"):
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif()
        assert set(img.info) <= {
            "jfif",
            "jfif_version",
            "jfif_unit",
            "jfif_density",
            "dpi",
            "progressive",
            "progression",
            "adobe",
            "adobe_transform",
        }
        img.load()
        assert img.format == photo.content_type.split("/")[1].upper()
        assert img.size == (photo.width, photo.height)
    assert data.endswith(b"\xff\xd9" if photo.content_type == "image/jpeg" else b"IEND\xaeB`\x82")
    return data


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(_corpus.REFUSED))
def test_hostile_files_are_refused_and_leave_nothing(name, patient, photo_consent, clinician):
    with pytest.raises(ValidationError) as excinfo:
        _upload(patient, _corpus.REFUSED[name](), clinician)
    assert "file" in excinfo.value.message_dict
    assert Photo.objects.count() == 0
    assert stored_files() == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(_corpus.ACCEPTED))
def test_accepted_files_are_stored_without_any_metadata(name, patient, photo_consent, clinician):
    maker, stored_format = _corpus.ACCEPTED[name]
    source = maker()
    assert _corpus.SCRIPT.encode() in source or b"PK\x03\x04" in source  # the corpus is hostile
    photo, created = _upload(patient, source, clinician)
    assert created
    assert photo.content_type == f"image/{stored_format}"
    data = _assert_clean(photo)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo.file_name == f"{patient.clinic_id}/{photo.sha256[:2]}/{photo.sha256}.{photo.file_name[-3:]}"
    assert stored_files() == [storage.path_of(photo.file_name)]  # no temporary file left


@pytest.mark.django_db
def test_format_is_recognised_by_content_not_by_name(patient, photo_consent, clinician):
    photo, _ = _upload(patient, _corpus.tiff(), clinician)
    assert photo.source_format == "tiff"
    photo, _ = _upload(patient, _corpus.heic(seed=2), clinician)
    assert photo.source_format == "heic"


@pytest.mark.django_db
def test_capture_time_and_orientation_are_kept_as_fields(patient, photo_consent, clinician):
    # orientation 6: the camera was turned; the stored pixels are upright (width and height swap)
    photo, _ = _upload(patient, _corpus.jpeg(orientation=6, size=(320, 240)), clinician)
    assert photo.orientation == 6
    assert (photo.width, photo.height) == (240, 320)
    assert photo.taken_at_source == "exif"
    assert photo.taken_at == dt.datetime(2026, 3, 14, 8, 26, 53, tzinfo=dt.UTC)  # 09:26:53 in Berlin


@pytest.mark.django_db
def test_heic_orientation_is_recorded(patient, photo_consent, clinician):
    data = _corpus.encode(_corpus.pixels(), "HEIF", quality=90, exif=_corpus.exif(orientation=6))
    photo, _ = _upload(patient, data, clinician)
    assert photo.orientation == 6 and photo.content_type == "image/jpeg"
    _assert_clean(photo)


@pytest.mark.django_db
def test_script_text_as_capture_time_is_ignored(patient, photo_consent, clinician):
    photo, _ = _upload(patient, _corpus.jpeg(taken=_corpus.SCRIPT), clinician)
    assert photo.taken_at_source == "upload"
    _assert_clean(photo)


@pytest.mark.django_db
def test_a_capture_time_in_the_future_or_before_the_earliest_is_refused(patient, photo_consent, clinician):
    from django.utils import timezone

    from exoderm.core.clock import EARLIEST

    now = timezone.now()
    typos = {
        "The photo cannot have been taken in the future: check the date and time.": [
            dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
            now + dt.timedelta(hours=1),
        ],
        "The photo cannot have been taken before 01 Jan 2000: check the year.": [
            dt.datetime(1, 1, 1, tzinfo=dt.UTC),
            dt.datetime.combine(EARLIEST, dt.time(), tzinfo=dt.UTC) - dt.timedelta(seconds=1),
        ],
    }
    for message, moments in typos.items():
        for moment in moments:
            with pytest.raises(ValidationError) as excinfo:
                _upload(patient, _corpus.jpeg(seed=31), clinician, taken_at=moment)
            assert excinfo.value.message_dict == {"taken_at": [message]}
    assert Photo.objects.count() == 0 and stored_files() == []
    photo, _ = _upload(patient, _corpus.jpeg(seed=31), clinician, taken_at=now + dt.timedelta(minutes=2))
    assert photo.taken_at_source == "client"  # a device clock a little ahead counts as now


@pytest.mark.django_db
@pytest.mark.parametrize("camera_clock", ["2099:01:01 10:00:00", "1980:01:01 00:00:00"])
def test_a_camera_time_that_cannot_be_true_gives_way_to_the_upload_time(
    camera_clock, patient, photo_consent, clinician
):
    photo, _ = _upload(patient, _corpus.jpeg(taken=camera_clock), clinician)
    assert photo.taken_at_source == "upload"


@pytest.mark.django_db
def test_the_same_file_twice_is_one_photo(patient, photo_consent, clinician):
    data = _corpus.jpeg(seed=11)
    first, created = _upload(patient, data, clinician)
    again, created_again = _upload(patient, data, clinician)
    assert created and not created_again
    assert again.pk == first.pk
    assert Photo.objects.count() == 1
    assert len(stored_files()) == 1


@pytest.mark.django_db
def test_same_pixels_with_other_metadata_are_one_photo(patient, photo_consent, clinician):
    first, _ = _upload(patient, _corpus.jpeg(seed=12, text="one"), clinician)
    second, created = _upload(patient, _corpus.jpeg(seed=12, text="two"), clinician)
    assert not created and second.pk == first.pk
    assert len(stored_files()) == 1


@pytest.mark.django_db
def test_quota_exceeded_after_the_move_removes_file_and_row(patient, photo_consent, clinician):
    first, _ = _upload(patient, _corpus.jpeg(seed=21), clinician)
    clinic = patient.clinic
    clinic.photo_quota_bytes = first.size_bytes + 1000
    clinic.save()
    with pytest.raises(ValidationError) as excinfo:
        _upload(patient, _corpus.jpeg(seed=22), clinician)
    assert "storage is full" in str(excinfo.value)
    assert list(Photo.objects.values_list("pk", flat=True)) == [first.pk]
    assert stored_files() == [storage.path_of(first.file_name)]


@pytest.mark.django_db
def test_photo_consent_is_required(patient, clinician):
    with pytest.raises(RuleViolations) as excinfo:
        _upload(patient, _corpus.jpeg(), clinician)
    assert [v.rule for v in excinfo.value.violations] == ["consent-missing"]
    assert stored_files() == []


@pytest.mark.django_db
def test_withdrawn_or_treatment_only_consent_is_not_enough(patient, clinician):
    factories.ConsentRecordFactory(patient=patient)  # treatment consent
    photography = factories.ConsentRecordFactory(
        patient=patient,
        template=factories.ConsentTemplateFactory(clinic=patient.clinic, kind="photography"),
        withdrawn_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert photography.withdrawn_at
    with pytest.raises(RuleViolations):
        _upload(patient, _corpus.jpeg(), clinician)


@pytest.mark.django_db
def test_too_large_upload_stops_while_streaming(patient, photo_consent, clinician, monkeypatch):
    from exoderm.photos import services

    monkeypatch.setattr(services, "MAX_UPLOAD_BYTES", 10_000)
    with pytest.raises(ValidationError):
        _upload(patient, _corpus.png(), clinician)
    assert stored_files() == []


@pytest.mark.django_db
def test_close_up_needs_an_area_and_only_it(patient, photo_consent, clinician):
    with pytest.raises(ValidationError) as excinfo:
        _upload(patient, _corpus.jpeg(), clinician, view="close_up")
    assert "area" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        _upload(patient, _corpus.jpeg(), clinician, view="front", area="cheek_left")
    photo, _ = _upload(patient, _corpus.jpeg(), clinician, view="close_up", area="cheek_left")
    assert photo.area == "cheek_left"


@pytest.mark.django_db
def test_researcher_and_other_clinic_cannot_upload(patient, photo_consent, researcher, other_clinic):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _upload(patient, _corpus.jpeg(), researcher)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    with pytest.raises(ValidationError):
        _upload(patient, _corpus.jpeg(), stranger)
    assert stored_files() == []


def _variant(kind: str) -> bytes:
    import numpy as np
    import tifffile

    rgb = (
        np.random.default_rng(7).integers(0, 256, (200, 300, 3)).astype(np.uint8)
    )  # noise: hardest to encode
    if kind == "tiff16":
        out = io.BytesIO()
        tifffile.imwrite(out, rgb.astype(np.uint16) * 257)
        return out.getvalue()
    img = Image.fromarray(rgb)
    img = {"cmyk": img.convert("CMYK"), "rgba": img.convert("RGBA"), "grey": img.convert("L")}.get(kind, img)
    return _corpus.encode(img, "PNG" if kind == "rgba" else "JPEG")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["cmyk", "rgba", "grey", "tiff16", "noise"])
def test_camera_variants_are_accepted_as_rgb(kind, patient, photo_consent, clinician):
    photo, created = _upload(patient, _variant(kind), clinician)
    assert created and (photo.width, photo.height) == (300, 200)
    with Image.open(io.BytesIO(storage.read(photo.file_name))) as img:
        assert img.mode == "RGB"


@pytest.mark.django_db
def test_an_upload_broken_off_midway_leaves_nothing(patient, photo_consent, clinician):
    data = _corpus.png(seed=9)

    def dropped_connection():
        yield data[:50_000]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        upload_photo(
            patient=patient, chunks=dropped_connection(), view="front", timepoint="baseline", by=clinician
        )
    assert Photo.objects.count() == 0
    assert stored_files() == []


@pytest.mark.django_db
def test_the_same_file_for_another_patient_is_refused(patient, photo_consent, clinician):
    data = _corpus.jpeg(seed=13)
    _upload(patient, data, clinician)
    other = factories.PatientFactory(clinic=patient.clinic)
    factories.ConsentRecordFactory(patient=other, template=photo_consent.template, recorded_by=clinician)
    with pytest.raises(ValidationError) as excinfo:
        _upload(other, data, clinician)
    assert "another patient" in str(excinfo.value)
    with pytest.raises(ValidationError):
        _upload(other, _corpus.jpeg(seed=13, text="other metadata, same pixels"), clinician)
    assert Photo.objects.filter(patient=other).count() == 0
    assert len(stored_files()) == 1
