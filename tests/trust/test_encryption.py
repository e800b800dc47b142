"""Encryption at rest: photo files and overlays encrypted with per-clinic data keys wrapped by the
master key; the store decrypts and verifies; rotation; tampering found; private file modes."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from PIL import Image, UnidentifiedImageError

from exoderm.consent.models import ConsentKind
from exoderm.photos import storage
from exoderm.photos.models import Analysis, AnalysisStatus, Photo
from exoderm.photos.services import photo_overlay, upload_photo
from exoderm.vault import cipher, keys
from exoderm.vault.models import DataKey
from exoderm.vault.services import current_data_key
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_jpeg, phantom_png

SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")


@pytest.fixture(autouse=True)
def private_store(settings, tmp_path):
    """A photo store and a master key file of this test's own (created on first use)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXODERM_MASTER_KEY = ""
    settings.EXODERM_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    return settings


def _consenting_patient(clinic):
    patient = factories.PatientFactory(clinic=clinic)
    template = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY, version=1)
    factories.ConsentRecordFactory(patient=patient, template=template)
    return patient


@pytest.fixture
def upload(clinic, clinician, django_capture_on_commit_callbacks):
    patient = _consenting_patient(clinic)

    def make(data: bytes, *, by=clinician, owner=patient) -> Photo:
        with django_capture_on_commit_callbacks(execute=True):
            photo, created = upload_photo(
                patient=owner, chunks=[data], by=by, view="close_up", area="cheek_left",
                timepoint="follow_up", mm_per_px=MM_PER_PX,
            )  # fmt: skip
        assert created
        photo.refresh_from_db()
        return photo

    return make


def _raw(photo: Photo) -> bytes:
    return storage.path_of(photo.file_name).read_bytes()


def _work() -> None:
    """Run every queued task in this process, as `exoderm worker` would."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)


@pytest.mark.django_db
def test_a_stored_photo_reveals_no_image_and_the_store_gives_back_its_pixels(upload):
    photo = upload(phantom_jpeg(1, quality=92))
    raw = _raw(photo)
    assert not raw.startswith(SIGNATURES) and raw.startswith(cipher.MAGIC)
    for marker in (b"JFIF", b"Exif", b"IEND", b"IDAT"):
        assert marker not in raw
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(raw))
    plain = storage.read(photo.file_name)
    assert hashlib.sha256(plain).hexdigest() == photo.sha256  # content addressing: the plaintext
    with Image.open(io.BytesIO(plain)) as img:
        assert img.format == "JPEG" and img.size == (photo.width, photo.height)


@pytest.mark.django_db
def test_another_clinics_key_or_another_master_key_decrypts_nothing(upload, other_clinic):
    photo = upload(phantom_png(2))
    _version, other_key = current_data_key(clinic_id=other_clinic.pk)
    with pytest.raises(cipher.DecryptionError), storage.path_of(photo.file_name).open("rb") as fh:
        b"".join(cipher.open_sealed(fh, key_for=lambda v: other_key, context=photo.file_name.encode()))

    # the clinic's data key itself: the configured master key unwraps it, any other does not
    row = DataKey.objects.get(clinic=photo.clinic)
    master = keys.master_key()
    keys.unwrap(master, row.wrapped, clinic_id=row.clinic_id, version=row.version)
    with pytest.raises(InvalidTag):
        keys.unwrap(AESGCM.generate_key(bit_length=256), row.wrapped, clinic_id=row.clinic_id, version=1)
    with pytest.raises(InvalidTag):  # nor is it another clinic's key, wrapped by the same master key
        keys.unwrap(master, row.wrapped, clinic_id=other_clinic.pk, version=1)
    assert master not in row.wrapped and bytes(row.wrapped).find(base64.b64encode(master)) == -1


@pytest.mark.django_db
def test_a_file_moved_under_another_name_or_clinic_does_not_decrypt(upload, other_clinic):
    photo = upload(phantom_png(3))
    current_data_key(clinic_id=other_clinic.pk)  # the other clinic has a key: it is not the one
    raw = _raw(photo)
    sha = "ab" * 32
    for name in (
        f"{photo.clinic_id}/ab/{sha}.png",
        f"{other_clinic.pk}/{photo.sha256[:2]}/{photo.sha256}.png",
    ):
        target = storage.path_of(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        with pytest.raises(storage.UnreadableFile, match="fails authentication"):
            storage.read(name)


@pytest.mark.django_db
def test_the_photo_view_and_the_api_serve_the_original_bytes(client, api_as, upload, clinician):
    photo = upload(phantom_png(4))
    client.force_login(clinician)
    page = client.get(f"/photos/{photo.pk}/file")
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    assert hashlib.sha256(page.content).hexdigest() == photo.sha256
    api = api_as(clinician).get(f"/api/v1/photos/{photo.pk}/file")
    assert api.status_code == 200 and api.content == page.content


@pytest.mark.django_db(transaction=True)
def test_the_worker_analyses_and_the_overlay_is_stored_encrypted(upload):
    photo = upload(phantom_png(5))
    _work()
    photo.refresh_from_db()
    assert photo.analysis_status == AnalysisStatus.DONE
    assert Analysis.objects.filter(photo=photo).count() == 1
    png = photo_overlay(photo=photo)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    [(name, label)] = list(storage.derived_files())
    derived = storage.derived_path(name, label).read_bytes()
    assert derived.startswith(cipher.MAGIC) and b"IHDR" not in derived
    assert photo_overlay(photo=photo) == png  # read back through the store


@pytest.mark.django_db
def test_a_tampered_byte_fails_loudly_and_never_as_a_server_error(client, api_as, upload, clinician, caplog):
    photo = upload(phantom_png(6))
    path = storage.path_of(photo.file_name)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))

    with pytest.raises(storage.UnreadableFile, match="chunk 0 fails authentication"):
        storage.read(photo.file_name)
    client.force_login(clinician)
    with caplog.at_level(logging.ERROR, logger="exoderm.photos.storage"):
        page = client.get(f"/photos/{photo.pk}/file")
    assert page.status_code == 409
    assert b"failed its integrity check" in page.content and photo.file_name.encode() not in page.content
    assert any(photo.file_name in record.getMessage() for record in caplog.records)
    api = api_as(clinician).get(f"/api/v1/photos/{photo.pk}/file")
    assert api.status_code == 409 and api["Content-Type"] == "application/problem+json"
    assert api.json()["title"] == "The stored file failed its integrity check."


@pytest.mark.django_db(transaction=True)
def test_the_worker_marks_a_tampered_photo_failed(upload):
    photo = upload(phantom_png(7))
    path = storage.path_of(photo.file_name)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x80  # the last chunk's tag
    path.write_bytes(bytes(raw))
    _work()
    photo.refresh_from_db()
    assert photo.analysis_status == AnalysisStatus.FAILED
    assert "fails authentication" in photo.analysis_error


def test_sealed_files_round_trip_and_cut_or_reordered_chunks_fail():
    key = AESGCM.generate_key(bit_length=256)
    for size in (0, 1, cipher.CHUNK - 1, cipher.CHUNK, 2 * cipher.CHUNK, 2 * cipher.CHUNK + 12345):
        data = os.urandom(size)
        sealed = io.BytesIO()
        # fed in odd pieces: the format's chunks do not depend on how the bytes arrive
        cipher.seal(
            (data[i : i + 70000] for i in range(0, size, 70000)), sealed, key=key, key_version=1, context=b"n"
        )
        blob = sealed.getvalue()
        opened = b"".join(cipher.open_sealed(io.BytesIO(blob), key_for=lambda v: key, context=b"n"))
        assert opened == data
        assert len(blob) == cipher.HEADER_SIZE + size + cipher.TAG * max(1, -(-size // cipher.CHUNK))
    # cut after the first of three chunks: what is left was not sealed as the end
    unit = cipher.CHUNK + cipher.TAG
    for broken in (
        blob[: cipher.HEADER_SIZE + unit],
        blob[: cipher.HEADER_SIZE] + blob[cipher.HEADER_SIZE + unit : cipher.HEADER_SIZE + 2 * unit]
        + blob[cipher.HEADER_SIZE : cipher.HEADER_SIZE + unit] + blob[cipher.HEADER_SIZE + 2 * unit :],
    ):  # fmt: skip
        with pytest.raises(cipher.DecryptionError):
            b"".join(cipher.open_sealed(io.BytesIO(broken), key_for=lambda v: key, context=b"n"))
    with pytest.raises(cipher.DecryptionError):
        b"".join(cipher.open_sealed(io.BytesIO(blob), key_for=lambda v: key, context=b"other name"))


@pytest.mark.django_db
def test_rotation_keeps_every_photo_readable_and_the_old_master_key_unwraps_nothing(
    upload, clinic, other_clinic, settings, tmp_path
):
    other_user = factories.UserFactory(clinic=other_clinic, role="clinician")
    photos = [upload(phantom_png(8)), upload(phantom_jpeg(9, quality=90))]
    photos.append(upload(phantom_png(10), by=other_user, owner=_consenting_patient(other_clinic)))
    photo_overlay(photo=photos[0])  # an overlay under the old key, to be dropped and re-rendered
    old_master = keys.master_key()
    before = {p.pk: _raw(p) for p in photos}

    new_file = tmp_path / "new.key"
    call_command("rotate_keys", new_key_file=new_file, data_keys=True, stdout=io.StringIO())
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    settings.EXODERM_MASTER_KEY_FILE = new_file
    keys.forget_unwrapped()

    new_master = keys.master_key(create=False)
    assert DataKey.objects.count() == 2  # one per clinic: the old data keys are gone
    for row in DataKey.objects.all():
        assert row.version == 2 and row.master_key_id == keys.fingerprint(new_master)
        with pytest.raises(InvalidTag):
            keys.unwrap(old_master, row.wrapped, clinic_id=row.clinic_id, version=row.version)
    for photo in photos:
        assert _raw(photo) != before[photo.pk]
        assert storage.key_version(storage.path_of(photo.file_name)) == 2
        assert hashlib.sha256(storage.read(photo.file_name)).hexdigest() == photo.sha256
    assert list(storage.derived_files()) == []

    # a second run finds nothing to do and changes nothing
    out = io.StringIO()
    call_command("rotate_keys", new_key_file=new_file, stdout=out)
    assert "0 data keys re-wrapped" in out.getvalue()


@pytest.mark.django_db
def test_a_process_with_the_wrong_master_key_makes_no_key(upload, other_clinic, settings):
    upload(phantom_png(11))
    settings.EXODERM_MASTER_KEY = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
    with pytest.raises(keys.KeyError_, match="wrapped by master key"):
        current_data_key(clinic_id=other_clinic.pk)
    assert not DataKey.objects.filter(clinic=other_clinic).exists()


@pytest.mark.django_db
def test_plain_files_of_an_older_data_dir_are_read_and_encrypted_in_place(upload):
    photo = upload(phantom_png(12))
    plain = storage.read(photo.file_name)
    path = storage.path_of(photo.file_name)
    path.write_bytes(plain)  # as an installation before encryption at rest stored it
    assert storage.read(photo.file_name) == plain
    out = io.StringIO()
    call_command("encrypt_photos", stdout=out)
    assert "1 encrypted now" in out.getvalue()
    assert storage.is_sealed(path) and storage.read(photo.file_name) == plain
    call_command("encrypt_photos", stdout=out)
    assert "0 encrypted now" in out.getvalue()


@pytest.mark.django_db
def test_photo_files_and_directories_are_private(upload):
    photo = upload(phantom_png(13))
    path = storage.path_of(photo.file_name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, storage.root(), storage.root().parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(Path(keys.master_key_source()).stat().st_mode) == 0o600


@pytest.mark.off_postgres  # its installation is SQLite in a new data directory, whatever the pass
def test_a_new_data_dir_and_its_sqlite_database_are_owner_only(tmp_path):
    data_dir = tmp_path / "fresh" / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MEDIA_ROOT"}}
    env |= {"EXODERM_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "exoderm.settings"}
    subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "manage", "migrate", "--verbosity", "0"],
        env=env, check=True, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    database = data_dir / "exoderm.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
