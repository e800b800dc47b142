"""Content-addressed photo storage under ``MEDIA_ROOT/photos`` (never below a public URL).

Layout: ``photos/<clinic_id>/<sha256[:2]>/<sha256>.<ext>`` for stored photos,
``photos/.derived/`` for files rendered from a photo (its overlay, named after the photo's file
and gone with it) and ``photos/.tmp/`` for uploads in flight. The temporary directory lies in
the same file system, so that the final :func:`os.replace` is atomic: a reader sees either no
file or the whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings

CHUNK = 1024 * 1024


def root() -> Path:
    return Path(settings.MEDIA_ROOT) / "photos"


def tmp_dir() -> Path:
    path = root() / ".tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def relative_name(*, clinic_id: int, sha256: str, extension: str) -> str:
    return f"{clinic_id}/{sha256[:2]}/{sha256}.{extension}"


def path_of(name: str) -> Path:
    path = (root() / name).resolve()
    if root().resolve() not in path.parents:  # a stored name never leaves the photo root
        raise ValueError(f"photo path {name!r} lies outside the photo storage")
    return path


@contextlib.contextmanager
def temp_file(suffix: str = "") -> Iterator[Path]:
    """A temporary file in the photo file system, removed on exit whatever happened."""
    fd, name = tempfile.mkstemp(dir=tmp_dir(), suffix=suffix)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def write_stream(chunks: Iterable[bytes], path: Path, *, max_bytes: int) -> tuple[str, int]:
    """Write ``chunks`` to ``path``, fsync it, return (sha256, size). Stops with ``ValueError``
    once more than ``max_bytes`` arrived, so an endless upload never fills the disk."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as fh:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(size)
            digest.update(chunk)
            fh.write(chunk)
        _sync(fh)
    return digest.hexdigest(), size


def write_bytes(data: bytes, path: Path) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        _sync(fh)


def _sync(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def place(temp: Path, name: str) -> bool:
    """Move ``temp`` to the stored ``name`` atomically. Returns True if the name was new (the
    caller then owns it and removes it again if its database row is not written)."""
    target = path_of(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    existed = target.exists()
    temp.replace(target)
    _sync_dir(target.parent)
    return not existed


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(name: str) -> None:
    """Remove a stored photo and every file derived from it."""
    path_of(name).unlink(missing_ok=True)
    for derived in _derived_dir(name).glob(f"{Path(name).name}.*"):
        derived.unlink(missing_ok=True)


def _derived_dir(name: str) -> Path:
    return root() / ".derived" / Path(name).parent


def derived_path(name: str, label: str) -> Path:
    """Where a file rendered from the stored photo ``name`` is kept; ``label`` says what it is and
    from what (e.g. the engine version), so that a change of either names a new file."""
    if not label or "/" in label or label.startswith("."):
        raise ValueError(f"bad label for a derived file: {label!r}")
    path_of(name)  # the same check that the name stays inside the photo storage
    return _derived_dir(name) / f"{Path(name).name}.{label}"


def write_derived(data: bytes, path: Path) -> None:
    """Write a derived file atomically: a concurrent reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with temp_file(suffix=path.suffix) as temp:
        write_bytes(data, temp)
        temp.replace(path)


def derived_files() -> Iterator[tuple[str, str]]:
    """Every derived file as (the photo's relative name, the derived file's label)."""
    base = root() / ".derived"
    if not base.exists():
        return
    for path in base.glob("*/*/*"):
        parts = path.name.split(".", 2)  # <sha256>.<ext>.<label>
        if path.is_file() and len(parts) == 3:
            yield f"{path.parent.relative_to(base).as_posix()}/{parts[0]}.{parts[1]}", parts[2]


def stored_names() -> Iterator[tuple[str, float]]:
    """Every stored photo file as (relative name, modification time)."""
    base = root()
    if not base.exists():
        return
    for path in base.glob("*/*/*"):
        if path.is_file() and not path.parent.parent.name.startswith("."):
            yield path.relative_to(base).as_posix(), path.stat().st_mtime


def sweep_temp(older_than_seconds: float) -> int:
    """Remove temporary files a killed upload left behind. Returns how many."""
    removed = 0
    limit = time.time() - older_than_seconds
    for path in tmp_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
