"""Content-addressed photo storage under ``MEDIA_ROOT/photos`` (never below a public URL).

Layout: ``photos/<clinic_id>/<sha256[:2]>/<sha256>.<ext>`` for stored photos,
``photos/.derived/`` for files rendered from a photo (its overlay, named after the photo's file
and gone with it) and ``photos/.tmp/`` for uploads in flight. The temporary directory lies in
the same file system, so that the final :func:`os.replace` is atomic: a reader sees either no
file or the whole file.

Stored photos and derived files are encrypted (:mod:`exoderm.vault.cipher`: AES-256-GCM in 1 MiB
chunks) with the clinic's data key, and bound to their name: a file copied under another name or
into another clinic's directory does not decrypt. Names stay the SHA-256 of the plaintext, which
:func:`read` verifies. Everything that needs a photo's pixels reads them through :func:`read`;
files written before encryption (no header) are still read, and ``exoderm manage encrypt_photos``
encrypts them. Directories are created 0700, files 0600 (``mkstemp``'s mode, kept by the rename).
Uploads in flight lie in ``.tmp/`` unencrypted until they are validated and stored (seconds; a
killed upload's leftovers are swept by ``photo_housekeeping``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings

from exoderm.vault import cipher, keys
from exoderm.vault.files import make_private_dir

CHUNK = 1024 * 1024
DERIVED = ".derived"

logger = logging.getLogger(__name__)


class UnreadableFile(Exception):
    """A stored file that fails decryption or its integrity check (tampered, truncated, copied
    under another name, or the master key is not the one that wraps its data key)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"the stored file {name} cannot be read: {reason}")
        self.name = name
        self.reason = reason


def root() -> Path:
    return Path(settings.MEDIA_ROOT) / "photos"


def tmp_dir() -> Path:
    return make_private_dir(root() / ".tmp")


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


def clinic_of(relative: str) -> int:
    """The clinic a stored or derived file belongs to, from its name (``<clinic>/…`` or
    ``.derived/<clinic>/…``)."""
    parts = Path(relative).parts
    return int(parts[1] if parts[0] == DERIVED else parts[0])


def write_sealed(chunks: Iterable[bytes], path: Path, *, name: str) -> None:
    """Encrypt ``chunks`` into ``path`` for the stored (or derived) file ``name`` and fsync it."""
    from exoderm.vault.services import current_data_key

    version, key = current_data_key(clinic_id=clinic_of(name))
    with path.open("wb") as fh:
        cipher.seal(chunks, fh, key=key, key_version=version, context=name.encode())
        _sync(fh)


def _plain_chunks(path: Path, name: str) -> Iterator[bytes]:
    """The file's plaintext chunk by chunk, decrypted if it is sealed (files of before the
    encryption are not). Raises :class:`UnreadableFile` on a failed authentication."""
    from exoderm.vault.services import data_key

    clinic_id = clinic_of(name)
    with path.open("rb") as fh:
        if not cipher.is_sealed(fh.read(len(cipher.MAGIC))):
            fh.seek(0)
            while chunk := fh.read(CHUNK):
                yield chunk
            return
        fh.seek(0)
        try:
            yield from cipher.open_sealed(
                fh,
                key_for=lambda version: data_key(clinic_id=clinic_id, version=version),
                context=name.encode(),
            )
        except (cipher.DecryptionError, keys.KeyError_) as error:
            raise UnreadableFile(name, str(error)) from None


def _verified(chunks: Iterable[bytes], name: str) -> Iterator[bytes]:
    """``chunks``, checked at their end against the SHA-256 the stored name carries."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != Path(name).name.split(".", 1)[0]:
        raise UnreadableFile(name, "its content does not match the SHA-256 in its name")


def stream(name: str) -> Iterator[bytes]:
    """The bytes of the stored photo ``name`` chunk by chunk, decrypted and authenticated; the hash
    in its name is checked after the last chunk, so a consumer that must not pass on a bad file
    (a download) uses :func:`read`, one that writes into something it can discard (an archive) may
    stream. Raises :class:`UnreadableFile` (logged)."""
    try:
        yield from _verified(_plain_chunks(path_of(name), name), name)
    except UnreadableFile as error:
        logger.error("photo store: %s", error)
        raise


def read(name: str) -> bytes:
    """The bytes of the stored photo ``name``: decrypted, authenticated and checked against the
    hash in its name. The one way to a photo's pixels. Raises :class:`UnreadableFile` (logged)."""
    return b"".join(stream(name))


def is_sealed(path: Path) -> bool:
    with path.open("rb") as fh:
        return cipher.is_sealed(fh.read(len(cipher.MAGIC)))


def key_version(path: Path) -> int | None:
    """The data key version a stored file is encrypted with; None for a plain (older) file."""
    with path.open("rb") as fh:
        head = fh.read(cipher.HEADER_SIZE)
    return cipher.key_version_of(head) if cipher.is_sealed(head) else None


def reseal(name: str) -> None:
    """Encrypt the stored file ``name`` again with its clinic's newest data key (a plain file for
    the first time), streaming and verified, and replace it atomically; its derived files go
    (they are rendered again when asked for). A failure leaves the old file as it was."""
    path = path_of(name)
    with temp_file(".reseal") as temp:
        write_sealed(_verified(_plain_chunks(path, name), name), temp, name=name)
        temp.replace(path)
    _sync_dir(path.parent)
    _remove_derived(name)


def _sync(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def place(temp: Path, name: str) -> bool:
    """Move ``temp`` to the stored ``name`` atomically. Returns True if the name was new (the
    caller then owns it and removes it again if its database row is not written)."""
    target = path_of(name)
    make_private_dir(target.parent)
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
    _remove_derived(name)


def _remove_derived(name: str) -> None:
    for derived in _derived_dir(name).glob(f"{Path(name).name}.*"):
        derived.unlink(missing_ok=True)


def _derived_dir(name: str) -> Path:
    return root() / DERIVED / Path(name).parent


def derived_path(name: str, label: str) -> Path:
    """Where a file rendered from the stored photo ``name`` is kept; ``label`` says what it is and
    from what (e.g. the engine version), so that a change of either names a new file."""
    if not label or "/" in label or label.startswith("."):
        raise ValueError(f"bad label for a derived file: {label!r}")
    path_of(name)  # the same check that the name stays inside the photo storage
    return _derived_dir(name) / f"{Path(name).name}.{label}"


def write_derived(data: bytes, path: Path) -> None:
    """Write a derived file encrypted and atomically: a concurrent reader sees the whole file or none."""
    make_private_dir(path.parent)
    with temp_file(suffix=path.suffix) as temp:
        write_sealed([data], temp, name=_derived_name(path))
        temp.replace(path)


def read_derived(path: Path) -> bytes:
    """A derived file's bytes, decrypted; ``FileNotFoundError`` if it was not rendered yet.
    Raises :class:`UnreadableFile` (logged) if it fails authentication."""
    name = _derived_name(path)
    try:
        return b"".join(_plain_chunks(path, name))
    except UnreadableFile as error:
        logger.error("photo store: %s", error)
        raise


def _derived_name(path: Path) -> str:
    return path.relative_to(root()).as_posix()


def derived_files() -> Iterator[tuple[str, str]]:
    """Every derived file as (the photo's relative name, the derived file's label)."""
    base = root() / DERIVED
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
