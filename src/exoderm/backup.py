"""`exoderm backup DEST` and `exoderm restore SRC`: one consistent copy of the database and the photo
store, taken while the service runs, and its restore into an empty installation, verified.

A backup directory holds (mode 0700, files 0600):

- ``db.sqlite3`` (SQLite's online backup API: one snapshot, writers go on) or ``db.dump``
  (``pg_dump --format=custom`` of a snapshot exported by a REPEATABLE READ transaction, in which
  the row counts and the list of photo files are read too: all three describe the same instant);
- ``photos/<clinic>/<xx>/<sha256>.<ext>``: every photo file the snapshot names, copied as it lies
  on disk, i.e. encrypted (files are immutable and content-addressed, so a copy taken after the
  snapshot is the snapshot's file). Overlays are not copied: they are rendered again on demand;
- ``manifest.json``: versions, vendor, time, the row count of every table, the SHA-256 of every
  photo file's stored bytes, and the fingerprint of the master key that wraps the data keys.

The clinics' data keys travel inside the database, wrapped. **The master key is not in the
backup**: without it nobody, the owner included, can decrypt the photos of a restored backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model

import exoderm
from exoderm.vault.files import make_private_dir

MANIFEST = "manifest.json"
SQLITE_FILE = "db.sqlite3"
PG_DUMP_FILE = "db.dump"
PHOTOS = "photos"
FORMAT = 1
COPY_CHUNK = 1024 * 1024
MASTER_KEY_WARNING = (
    "THE MASTER KEY IS NOT IN THIS BACKUP. The photos in it are encrypted with data keys that only "
    "the master key ({source}, fingerprint {fingerprint}) unwraps: keep a copy of that key safe and "
    "apart from the backups, or the photos of this backup are lost for good."
)

Say = Callable[[str], None]


class Refused(Exception):
    """The backup or restore cannot start (target not empty, tool missing, wrong key): exit 2."""


class VerificationFailed(Exception):
    """The restored data differ from the manifest: exit 1."""


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, int]
    photo_names: list[str]
    master_key_ids: list[str]


def _table_and_column(model: type[Model], field: str) -> tuple[str, str]:
    concrete = model._meta.get_field(field)
    assert isinstance(concrete, Field) and concrete.column is not None  # a concrete field has its column
    return model._meta.db_table, concrete.column


def _photo_table() -> tuple[str, str]:
    from exoderm.photos.models import Photo

    return _table_and_column(Photo, "file_name")


def _key_table() -> tuple[str, str]:
    from exoderm.vault.models import DataKey

    return _table_and_column(DataKey, "master_key_id")


def _private_file(path: Path) -> int:
    """A new file with mode 0600 (never an existing one), open for writing."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy ``source`` to a new private file ``target``; the SHA-256 of the bytes. Not fsynced one
    by one (a thousand fsyncs cost ten times the copy): the caller syncs once when all are written."""
    digest = hashlib.sha256()
    make_private_dir(target.parent)
    with source.open("rb") as src, os.fdopen(_private_file(target), "wb") as dst:
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# SQLite


def _sqlite_read_snapshot(db: sqlite3.Connection) -> Snapshot:
    tables = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts = {name: int(db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]) for name in tables}
    photo_table, file_column = _photo_table()
    key_table, key_column = _key_table()
    names = [row[0] for row in db.execute(f'SELECT DISTINCT "{file_column}" FROM "{photo_table}" ORDER BY 1')]
    key_ids = [row[0] for row in db.execute(f'SELECT DISTINCT "{key_column}" FROM "{key_table}" ORDER BY 1')]
    return Snapshot(counts, names, key_ids)


def _sqlite_backup(dest: Path) -> Snapshot:
    connection.ensure_connection()
    source = connection.connection
    target_path = dest / SQLITE_FILE
    os.close(_private_file(target_path))  # sqlite3 would create it with the umask's mode
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)  # all pages in one step: one read transaction, one instant
        return _sqlite_read_snapshot(target)
    finally:
        target.close()


# PostgreSQL


def _pg_environment() -> dict[str, str]:
    """libpq's variables for the configured database (so no password is on a command line)."""
    db = connection.settings_dict
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db.get("NAME")),
        ("PGSSLMODE", (db.get("OPTIONS") or {}).get("sslmode")),
    ):
        if value:
            env[variable] = str(value)
    return env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Refused(f"{name} is not on PATH: install PostgreSQL's client tools (Debian: postgresql-client)")
    return path


def _pg_connect() -> Any:
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
        **(db.get("OPTIONS") or {}),
    )


def _pg_read_snapshot(cursor: Any) -> Snapshot:
    from psycopg import sql

    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for name in tables:
        cursor.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(name)))
        counts[name] = int(cursor.fetchone()[0])
    photo_table, file_column = _photo_table()
    key_table, key_column = _key_table()
    names, key_ids = [], []
    if photo_table in counts:
        cursor.execute(
            sql.SQL("SELECT DISTINCT {} FROM {} ORDER BY 1").format(
                sql.Identifier(file_column), sql.Identifier(photo_table)
            )
        )
        names = [row[0] for row in cursor.fetchall()]
    if key_table in counts:
        cursor.execute(
            sql.SQL("SELECT DISTINCT {} FROM {} ORDER BY 1").format(
                sql.Identifier(key_column), sql.Identifier(key_table)
            )
        )
        key_ids = [row[0] for row in cursor.fetchall()]
    return Snapshot(counts, names, key_ids)


def _pg_backup(dest: Path) -> Snapshot:
    pg_dump = _pg_tool("pg_dump")
    with _pg_connect() as conn, conn.cursor() as cursor:
        # The exported snapshot lives as long as this transaction: pg_dump reads the same instant
        # as the counts and the photo list below, whatever is written meanwhile.
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot_id = cursor.fetchone()[0]
        snapshot = _pg_read_snapshot(cursor)
        target = dest / PG_DUMP_FILE
        os.close(_private_file(target))
        result = subprocess.run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", f"--file={target}"],
            env=_pg_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        cursor.execute("COMMIT")
    if result.returncode != 0:
        raise Refused(f"pg_dump failed: {result.stderr.strip()}")
    return snapshot


# Backup


def _empty_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Refused(f"{dest} exists and is not an empty directory: a backup goes into a new one")
    make_private_dir(dest)
    dest.chmod(0o700)


def create_backup(dest: Path, *, say: Say = print) -> dict[str, Any]:
    """Write a backup of the running installation into ``dest`` (new or empty). Returns the manifest."""
    from exoderm import skinlab
    from exoderm.photos import storage
    from exoderm.vault import keys

    dest = dest.resolve()
    vendor = connection.vendor
    if vendor not in {"sqlite", "postgresql"}:
        raise Refused(f"backups of a {vendor} database are not supported")
    if vendor == "postgresql":
        _pg_tool("pg_dump")  # before anything is written
    _empty_destination(dest)
    started = dt.datetime.now(dt.UTC)
    snapshot = _sqlite_backup(dest) if vendor == "sqlite" else _pg_backup(dest)
    say(f"database: {len(snapshot.tables)} tables, {sum(snapshot.tables.values())} rows ({vendor})")

    photos: dict[str, str] = {}
    missing: list[str] = []
    plain: list[str] = []
    for number, name in enumerate(snapshot.photo_names, 1):
        source = storage.path_of(name)
        if not source.exists():  # purged after the snapshot: the row is in it, the file gone
            missing.append(name)
            continue
        if storage.key_version(source) is None:
            plain.append(name)
            continue
        photos[name] = _copy_hashed(source, dest / PHOTOS / name)
        if number % 500 == 0:
            say(f"photos: {number} of {len(snapshot.photo_names)} copied")
    if plain:
        shutil.rmtree(dest / PHOTOS, ignore_errors=True)
        raise Refused(
            f"{len(plain)} photo files are not encrypted yet (an older data directory): run "
            "`exoderm manage encrypt_photos` first, a backup never holds plaintext photos"
        )
    manifest = {
        "format": FORMAT,
        "exoderm_version": exoderm.__version__,
        "engine_version": skinlab.ENGINE_VERSION,
        "database_vendor": vendor,
        "database_file": SQLITE_FILE if vendor == "sqlite" else PG_DUMP_FILE,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": snapshot.tables,
        "photos": photos,
        "photos_missing": missing,
        "master_key_included": False,
        "master_key_fingerprints": snapshot.master_key_ids,
    }
    os.sync()  # every copied file on disk before the manifest says the backup is complete
    partial = dest / f".{MANIFEST}.partial"
    with os.fdopen(_private_file(partial), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    partial.replace(dest / MANIFEST)  # a backup directory with a manifest is a whole backup
    say(f"photos: {len(photos)} encrypted files copied")
    if missing:
        say(f"WARNING: {len(missing)} photo files named by the database were gone (purged meanwhile)")
    say(f"backup written to {dest}")
    fingerprints = ", ".join(snapshot.master_key_ids) or "none yet"
    say(MASTER_KEY_WARNING.format(source=keys.master_key_source(), fingerprint=fingerprints))
    return manifest


# Restore


def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{src} holds no {MANIFEST}: not an exoderm backup") from None
    if manifest.get("format") != FORMAT:
        raise Refused(f"{src}: unknown backup format {manifest.get('format')!r}")
    return manifest


def _stored_files() -> Iterator[Path]:
    from exoderm.photos import storage

    base = storage.root()
    if base.exists():
        yield from (path for path in base.rglob("*") if path.is_file())


def _refuse_unless_empty() -> None:
    tables = connection.introspection.table_names()
    if tables:
        where = connection.settings_dict["NAME"]
        raise Refused(
            f"the target database {where} is not empty ({len(tables)} tables): a restore goes into an "
            "empty database (a new EXODERM_DATA_DIR or DATABASE_URL)"
        )
    if next(_stored_files(), None) is not None:
        raise Refused(f"the target photo store {settings.MEDIA_ROOT} is not empty: restore into an empty one")


def _refuse_unless_key_fits(manifest: dict[str, Any]) -> None:
    from exoderm.vault import keys

    wanted = manifest["master_key_fingerprints"]
    if not wanted:
        return
    try:
        master = keys.master_key(create=False)
    except keys.KeyError_ as error:
        raise Refused(
            f"the backup's data keys need the master key {', '.join(wanted)}, but {error}; set "
            "EXODERM_MASTER_KEY_FILE (or EXODERM_MASTER_KEY) to the key of the backed-up installation"
        ) from None
    have = keys.fingerprint(master)
    if have not in wanted:
        raise Refused(
            f"the backup's data keys are wrapped by master key {', '.join(wanted)}; the configured one "
            f"({keys.master_key_source()}) is {have}"
        )


def _restore_sqlite(src: Path) -> None:
    target_path = Path(connection.settings_dict["NAME"])
    connection.close()
    make_private_dir(target_path.parent)
    source = sqlite3.connect(f"file:{src / SQLITE_FILE}?mode=ro", uri=True)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    target_path.chmod(0o600)


def _restore_postgres(src: Path) -> None:
    pg_restore = _pg_tool("pg_restore")
    connection.close()
    db = connection.settings_dict
    result = subprocess.run(
        [
            pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
            f"--dbname={db['NAME']}", str(src / PG_DUMP_FILE),
        ],
        env=_pg_environment(),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise VerificationFailed(f"pg_restore failed: {result.stderr.strip()}")


def _table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for name in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
            counts[name] = int(cursor.fetchone()[0])
    return counts


def restore_backup(src: Path, *, say: Say = print) -> None:
    """Restore the backup in ``src`` into the configured, empty installation and verify it against
    the manifest: row counts, the stored bytes of every photo, and that every photo decrypts to
    the content its name promises. Raises :class:`Refused` before anything is written,
    :class:`VerificationFailed` if the result differs."""
    from exoderm.photos import storage

    src = src.resolve()
    manifest = read_manifest(src)
    vendor = connection.vendor
    if manifest["database_vendor"] != vendor:
        raise Refused(f"the backup is of a {manifest['database_vendor']} database; the target is {vendor}")
    if manifest["exoderm_version"] != exoderm.__version__:
        say(
            f"note: the backup was made by exoderm {manifest['exoderm_version']}, this is "
            f"{exoderm.__version__}: run `exoderm manage migrate` after the restore"
        )
    _refuse_unless_empty()
    _refuse_unless_key_fits(manifest)

    if vendor == "sqlite":
        _restore_sqlite(src)
    else:
        _restore_postgres(src)
    say(f"database restored ({vendor})")

    problems: list[str] = []
    for name, expected in manifest["photos"].items():
        copied = _copy_hashed(src / PHOTOS / name, storage.path_of(name))
        if copied != expected:
            problems.append(f"photo {name}: stored bytes differ from the manifest")
    os.sync()
    say(f"photos: {len(manifest['photos'])} files copied")

    counts = _table_counts()
    for table, expected_count in manifest["tables"].items():
        if counts.get(table) != expected_count:
            problems.append(f"table {table}: {counts.get(table)} rows, the manifest says {expected_count}")
    for name in manifest["photos"]:
        try:
            storage.read(name)
        except storage.UnreadableFile as error:
            problems.append(str(error))
    if problems:
        raise VerificationFailed("; ".join(problems))
    say(
        f"verified: {len(counts)} tables and {sum(counts.values())} rows as in the manifest, "
        f"{len(manifest['photos'])} photos with the manifest's hashes, each decrypting to its content"
    )
