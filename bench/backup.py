"""Backup benchmark: `exoderm backup` and `exoderm restore` of 100,000 sessions and 1,000 photos.

Run ``uv run python -m bench.backup``. For SQLite and for PostgreSQL the script runs itself in
child processes with their own ``EXODERM_DATA_DIR`` and ``DATABASE_URL`` (fresh SQLite files under
``var/bench/backup/``; fresh databases ``exoderm_bench_backup`` and ``exoderm_bench_restore`` on
postgres://postgres@127.0.0.1:5432, override the server with ``BENCH_POSTGRES_SERVER``):

1. *seed*: migrate, the recall benchmark's 100,000 sessions (bulk inserts), and 1,000 small real
   JPEGs stored through the photo store (so encrypted, one data key) with their rows;
2. *backup*: :func:`exoderm.backup.create_backup` into a new directory, timed; then, as the
   yardstick, a plain copy of the same bytes (the database file or dump and the photo files);
3. *restore*: :func:`exoderm.backup.restore_backup` into the empty second installation, timed,
   including its verification (row counts, hashes, and every photo decrypted and checked).

MB/s is the backup's size divided by the time. The ratio is against the plain copy of the same run.
The result goes into docs/benchmarks.md, section ``backup``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHOTOS = 1_000
ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "backup"
POSTGRES_SERVER = os.getenv("BENCH_POSTGRES_SERVER", "postgres://postgres@127.0.0.1:5432")


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()


def _jpeg(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.normal(150, 30, (240, 320, 3)).clip(0, 255)).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=85)
    return out.getvalue()


def seed() -> None:
    """Migrate and fill the database of the environment; print its counts as JSON."""
    _setup()
    from django.core.management import call_command
    from django.utils import timezone

    from bench.recall import _seed
    from exoderm.clinics.models import User
    from exoderm.patients.models import Patient
    from exoderm.photos import storage
    from exoderm.photos.models import Photo
    from exoderm.treatments.models import TreatmentSession

    call_command("migrate", interactive=False, verbosity=0)
    _seed()
    user = User.objects.order_by("pk").first()
    assert user is not None and user.clinic_id is not None
    patients = list(Patient.objects.order_by("pk")[:PHOTOS])
    rows = []
    for index, patient in enumerate(patients):
        data = _jpeg(index)
        sha256 = hashlib.sha256(data).hexdigest()
        name = storage.relative_name(clinic_id=user.clinic_id, sha256=sha256, extension="jpg")
        with storage.temp_file(".bench") as temp:
            storage.write_sealed([data], temp, name=name)
            storage.place(temp, name)
        rows.append(
            Photo(
                clinic_id=user.clinic_id, patient=patient, timepoint="baseline", view="front",
                taken_at=timezone.now(), taken_at_source="upload", source_format="jpeg",
                source_sha256=sha256, source_size=len(data), file_name=name, sha256=sha256,
                content_type="image/jpeg", size_bytes=len(data), width=320, height=240, uploaded_by=user,
            )
        )  # fmt: skip
    Photo.objects.bulk_create(rows, batch_size=500)
    print(json.dumps({"sessions": TreatmentSession.objects.count(), "photos": Photo.objects.count()}))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def backup(dest: str) -> None:
    """Time a backup into ``dest`` and a plain copy of the same bytes; print JSON."""
    _setup()
    from django.conf import settings
    from django.db import connection

    from exoderm.backup import PG_DUMP_FILE, SQLITE_FILE, create_backup

    target = Path(dest)
    started = time.perf_counter()
    create_backup(target, say=lambda line: None)
    seconds = time.perf_counter() - started
    size = _size(target)

    # the yardstick: the same bytes copied as plain files (for PostgreSQL the dump stands in for
    # the database, which cannot be copied as a file while it runs)
    plain = target.with_name(target.name + "-plain")
    database_file = (
        Path(connection.settings_dict["NAME"]) if connection.vendor == "sqlite" else target / PG_DUMP_FILE
    )
    started = time.perf_counter()
    plain.mkdir()
    shutil.copyfile(database_file, plain / (SQLITE_FILE if connection.vendor == "sqlite" else PG_DUMP_FILE))
    shutil.copytree(
        Path(settings.MEDIA_ROOT) / "photos", plain / "photos", ignore=shutil.ignore_patterns(".*")
    )
    copy_seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "bytes": size, "copy_seconds": copy_seconds}))


def restore(src: str) -> None:
    """Time a restore of ``src`` into the (empty) installation of the environment; print JSON."""
    _setup()
    from exoderm.backup import restore_backup

    started = time.perf_counter()
    restore_backup(Path(src), say=lambda line: None)
    print(json.dumps({"seconds": time.perf_counter() - started}))


def _child(step: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.backup", step, *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_postgres(name: str) -> str:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_SERVER}/{name}"


def run(vendor: str) -> dict[str, Any]:
    base = WORK / vendor
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    common = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MEDIA_ROOT", "EXODERM_MASTER_KEY"}
    }
    common |= {
        "DJANGO_SETTINGS_MODULE": "exoderm.settings",
        "EXODERM_MASTER_KEY_FILE": str(base / "master.key"),
    }
    source = {**common, "EXODERM_DATA_DIR": str(base / "source")}
    target = {**common, "EXODERM_DATA_DIR": str(base / "target")}
    if vendor == "postgresql":
        source["DATABASE_URL"] = _fresh_postgres("exoderm_bench_backup")
        target["DATABASE_URL"] = _fresh_postgres("exoderm_bench_restore")
    seeded = _child("seed", env=source)
    made = _child("backup", str(base / "backup"), env=source)
    restored = _child("restore", str(base / "backup"), env=target)
    return {"vendor": vendor, **seeded, "backup": made, "restore": restored}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    results = [run(vendor) for vendor in ("sqlite", "postgresql")]
    lines = [
        "## Backup and restore",
        "",
        "`python -m bench.backup`: 100,000 sessions (the recall benchmark's data) and 1,000 photos "
        "(320×240 JPEGs, stored encrypted) in one clinic. *Backup* is `exoderm backup` (database "
        "snapshot, photo files copied, manifest); *restore* is `exoderm restore` into an empty "
        "installation including its verification (row counts, file hashes, every photo decrypted). "
        "*Plain copy* copies the same bytes with `shutil` in the same run.",
        "",
        "| database | sessions | photos | backup size | backup | plain copy | backup / copy | restore "
        "(verified) | restore / copy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        made, restored = result["backup"], result["restore"]
        mb = made["bytes"] / 1024**2
        lines.append(
            f"| {result['vendor']} | {result['sessions']:,} | {result['photos']:,} | {mb:.1f} MB "
            f"| {made['seconds']:.2f} s ({mb / made['seconds']:.0f} MB/s) | {made['copy_seconds']:.2f} s "
            f"({mb / made['copy_seconds']:.0f} MB/s) | {made['seconds'] / made['copy_seconds']:.1f}× "
            f"| {restored['seconds']:.2f} s ({mb / restored['seconds']:.0f} MB/s) "
            f"| {restored['seconds'] / made['copy_seconds']:.1f}× |"
        )
    table = "\n".join(lines)
    print(table)
    from bench._report import write_section

    write_section("backup", table)


STEPS: dict[str, Callable[..., None]] = {"seed": seed, "backup": backup, "restore": restore}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in STEPS:
        STEPS[sys.argv[1]](*sys.argv[2:])
    else:
        main()
