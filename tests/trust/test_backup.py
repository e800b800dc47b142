"""The backup drill: demo data with photos, a backup taken while another process writes, a restore
into another installation, every count and hash equal, and the restored service serves the same
patients and photos. Runs on the database of the test run: SQLite files, or scratch PostgreSQL
databases on the same server."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from exoderm.vault import cipher

SEED = "from exoderm.demo import seed_demo; seed_demo()"

# Creates patients through the domain service until told to stop; marks when it has started.
WRITER = """
import datetime as dt, pathlib, sys
from exoderm.clinics.models import User
from exoderm.patients.services import create_patient
ready, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
user = User.objects.filter(role="clinician").order_by("pk").first()
written = 0
while not stop.exists():
    create_patient(
        clinic=user.clinic, by=user, fitzpatrick=3, glogau=2, given_name="Writer",
        family_name=f"Drill{written}", date_of_birth=dt.date(1980, 1, 1),
    )
    written += 1
    ready.touch()
print(written)
"""

# What a restored installation holds and serves, read through Django in its own process.
INSPECT = """
import hashlib, json
from django.db import connection
from django.test import Client
from exoderm.clinics.models import User
from exoderm.patients.models import Patient
from exoderm.photos.models import Photo

with connection.cursor() as cursor:
    tables = {}
    for name in connection.introspection.table_names(cursor):
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
        tables[name] = cursor.fetchone()[0]
user = User.objects.filter(role="clinician").order_by("pk").first()
client = Client()
client.force_login(user)
patients = {}
for patient in Patient.objects.select_related("identity").filter(clinic=user.clinic).order_by("pk")[:8]:
    page = client.get(f"/patients/{patient.pk}/")
    patients[patient.code] = [page.status_code, patient.identity.family_name in page.content.decode()]
photos = {}
for photo in Photo.with_trashed.filter(clinic=user.clinic):
    served = client.get(f"/photos/{photo.pk}/file")
    photos[photo.file_name] = [served.status_code, hashlib.sha256(served.content).hexdigest(), photo.sha256]
codes = sorted(Patient.objects.values_list("code", flat=True))
print(json.dumps({"tables": tables, "patients": patients, "photos": photos, "codes": codes}))
"""


class Installation:
    """One exoderm installation of the drill: its data directory and its database."""

    def __init__(self, root: Path, database_url: str | None, master_key_file: Path) -> None:
        self.data_dir = root
        self.database_url = database_url
        self.master_key_file = master_key_file

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "MEDIA_ROOT", "EXODERM_MASTER_KEY", "DJANGO_SETTINGS_MODULE"}
        }  # fmt: skip
        env |= {
            "EXODERM_DATA_DIR": str(self.data_dir),
            "EXODERM_MASTER_KEY_FILE": str(self.master_key_file),
            "DJANGO_SETTINGS_MODULE": "exoderm.settings",
            "ALLOWED_HOSTS": "testserver",
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def exoderm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exoderm.cli", *args], env=self.env(), capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip

    def django(self, script: str, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", f"import django\ndjango.setup()\n{script}", *args],
            env=self.env(), capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        return result.stdout

    def start(self, script: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", f"import django\ndjango.setup()\n{script}", *args],
            env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip


def _admin_connection():
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres", user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, autocommit=True,
    )  # fmt: skip


@pytest.fixture
def installations(tmp_path) -> Iterator:
    """``make(name)``: a new, empty installation; on PostgreSQL with a scratch database of its own,
    dropped afterwards. All share one master key file, as the operator's restore would."""
    created: list[str] = []
    master_key_file = tmp_path / "keys" / "master.key"

    def make(name: str, *, key_file: Path = master_key_file) -> Installation:
        url = None
        if connection.vendor == "postgresql":
            database = f"vault_drill_{name}_{uuid.uuid4().hex[:8]}"
            with _admin_connection() as admin:
                admin.execute(f'CREATE DATABASE "{database}"')
            created.append(database)
            db = settings.DATABASES["default"]
            auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
            url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{database}"
        return Installation(tmp_path / name, url, key_file)

    yield make
    if created:
        with _admin_connection() as admin:
            for database in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _stored_hashes(media: Path) -> dict[str, str]:
    base = media / "photos"
    return {
        path.relative_to(base).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in base.glob("*/*/*")
        if path.is_file() and not path.relative_to(base).parts[0].startswith(".")
    }


def test_backup_during_writes_restores_elsewhere_with_every_count_and_hash(installations, tmp_path):
    source = installations("source")
    assert source.exoderm("manage", "migrate", "--verbosity", "0").returncode == 0
    source.django(SEED)
    ready, stop = tmp_path / "writer-ready", tmp_path / "writer-stop"
    writer = source.start(WRITER, str(ready), str(stop))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), writer.stderr.read() if writer.stderr else ""
        backup_dir = tmp_path / "backup"
        made = source.exoderm("backup", str(backup_dir))
    finally:
        stop.touch()
        written, errors = writer.communicate(timeout=120)
    assert writer.returncode == 0, errors
    assert made.returncode == 0, made.stderr
    assert "THE MASTER KEY IS NOT IN THIS BACKUP" in made.stdout

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["database_vendor"] == connection.vendor and manifest["master_key_included"] is False
    source_now = json.loads(source.django(INSPECT))
    # the writer went on during the backup: the snapshot holds some of its patients, not all
    snapshot_patients = manifest["tables"]["patients_patient"]
    assert int(written) > 0 and snapshot_patients < source_now["tables"]["patients_patient"]
    assert len(manifest["photos"]) >= 2
    assert manifest["photos"] == _stored_hashes(source.data_dir / "media")

    # the backup: private, and no photo in it in plaintext, no master key in it at all
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    key_text = source.master_key_file.read_text().strip().encode()
    for path in backup_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert key_text not in path.read_bytes(), path
    for name in manifest["photos"]:
        assert (backup_dir / "photos" / name).read_bytes().startswith(cipher.MAGIC)

    target = installations("target")
    restored = target.exoderm("restore", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    assert "verified:" in restored.stdout

    after = json.loads(target.django(INSPECT))
    assert after["tables"] == manifest["tables"]
    assert _stored_hashes(target.data_dir / "media") == manifest["photos"]
    assert set(after["codes"]) <= set(source_now["codes"]) and len(after["codes"]) == snapshot_patients
    assert after["patients"] and all(status == 200 and named for status, named in after["patients"].values())
    assert after["photos"].keys() == manifest["photos"].keys()
    for status, served_sha, recorded_sha in after["photos"].values():
        assert status == 200 and served_sha == recorded_sha  # the original pixels, decrypted

    # a second restore into the same installation is refused, and so is a target without the key
    again = target.exoderm("restore", str(backup_dir))
    assert again.returncode == 2 and "not empty" in again.stderr
    keyless = installations("keyless", key_file=tmp_path / "elsewhere" / "missing.key")
    refused = keyless.exoderm("restore", str(backup_dir))
    assert refused.returncode == 2 and "master key" in refused.stderr
    assert not (tmp_path / "elsewhere" / "missing.key").exists()
    # and a backup never goes into a directory that holds something
    assert source.exoderm("backup", str(backup_dir)).returncode == 2


# The photo files' hashes are checked the same whatever the database: the drill above restores
# each database server's backup whole, this one only needs an altered photo to be found.
@pytest.mark.off_postgres
def test_a_restore_finds_a_photo_altered_in_the_backup(installations, tmp_path):
    source = installations("source")
    assert source.exoderm("manage", "migrate", "--verbosity", "0").returncode == 0
    source.django(SEED)
    backup_dir = tmp_path / "backup"
    assert source.exoderm("backup", str(backup_dir)).returncode == 0
    name = next(iter(json.loads((backup_dir / "manifest.json").read_text())["photos"]))
    damaged = backup_dir / "photos" / name
    raw = bytearray(damaged.read_bytes())
    raw[cipher.HEADER_SIZE + 10] ^= 0x01
    damaged.write_bytes(bytes(raw))

    restored = installations("target").exoderm("restore", str(backup_dir))
    assert restored.returncode == 1
    assert "VERIFICATION FAILED" in restored.stderr and name in restored.stderr
