"""The master key and the unwrapping of the clinics' data keys.

The master key comes from ``EXODERM_MASTER_KEY`` (base64 of 32 bytes) or the file
``EXODERM_MASTER_KEY_FILE`` (the same base64 text). When neither is configured, a key file is
created once in the data directory (mode 0600), so that the demo and the tests need no setup;
production keeps the key elsewhere (another disk, a secrets manager), never next to the backups.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

KEY_BYTES = 32
NONCE_BYTES = 12

_lock = threading.Lock()
# (master fingerprint, clinic, version, wrapped bytes) -> key: the wrapped bytes are part of the
# name, so that a key of the same clinic and version in another database is never taken for it
_unwrapped: dict[tuple[str, int, int, bytes], bytes] = {}
# set only by a rotation, for the rest of its run, once the data keys are wrapped by the new key
_master_override: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "master_override", default=None
)


class KeyError_(Exception):
    """A key is missing, malformed or does not fit (named so as not to shadow the builtin)."""


def fingerprint(key: bytes) -> str:
    """A short public name of a master key: which key wraps a data key, without revealing it."""
    return hashlib.sha256(b"exoderm master key fingerprint\0" + key).hexdigest()[:16]


def parse_key(text: str | bytes, *, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_(f"{source} is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyError_(f"{source} must hold {KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def read_key_file(path: Path) -> bytes:
    try:
        return parse_key(path.read_bytes(), source=f"the key file {path}")
    except FileNotFoundError:
        raise KeyError_(f"the key file {path} does not exist") from None


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file with mode 0600, atomically and never over an existing file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    temp = Path(name)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(encode_key(key) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        path.hardlink_to(temp)  # fails if the file exists: a concurrent first start keeps its key
    finally:
        temp.unlink()


def master_key(*, create: bool = True) -> bytes:
    """The configured master key. Without configuration the key file in the data directory is
    read, or created when ``create`` (a restore never creates one: it needs the backup's key)."""
    override = _master_override.get()
    if override is not None:
        return override
    if settings.EXODERM_MASTER_KEY:
        return parse_key(settings.EXODERM_MASTER_KEY, source="EXODERM_MASTER_KEY")
    path = Path(settings.EXODERM_MASTER_KEY_FILE)
    if create and not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first
            write_key_file(path, AESGCM.generate_key(bit_length=256))
    return read_key_file(path)


@contextlib.contextmanager
def using_master_key(key: bytes) -> Iterator[None]:
    """Within the block, ``key`` is the master key (a rotation that re-wrapped the data keys under
    it goes on to re-encrypt files before the configuration names it)."""
    token = _master_override.set(key)
    try:
        yield
    finally:
        _master_override.reset(token)


def master_key_source() -> str:
    """Where the master key comes from, for messages: the variable or the file's path."""
    return "EXODERM_MASTER_KEY" if settings.EXODERM_MASTER_KEY else str(settings.EXODERM_MASTER_KEY_FILE)


def _aad(clinic_id: int, version: int) -> bytes:
    return f"exoderm data key|clinic={clinic_id}|version={version}".encode()


def wrap(master: bytes, data_key: bytes, *, clinic_id: int, version: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _aad(clinic_id, version))


def unwrap(master: bytes, wrapped: bytes | memoryview, *, clinic_id: int, version: int) -> bytes:
    """The data key; :class:`cryptography.exceptions.InvalidTag` for another master key, clinic or
    version."""
    wrapped = bytes(wrapped)
    return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(clinic_id, version))


def unwrapped(
    master: bytes, wrapped: bytes | memoryview, *, clinic_id: int, version: int, master_key_id: str
) -> bytes:
    """:func:`unwrap` with an in-process cache and an error that names the keys involved."""
    wrapped = bytes(wrapped)
    cache_key = (fingerprint(master), clinic_id, version, wrapped)
    with _lock:
        known = _unwrapped.get(cache_key)
    if known is not None:
        return known
    if master_key_id != cache_key[0]:
        raise KeyError_(
            f"the data key v{version} of clinic {clinic_id} is wrapped by master key {master_key_id}, "
            f"but the configured master key ({master_key_source()}) is {cache_key[0]}"
        )
    try:
        key = unwrap(master, wrapped, clinic_id=clinic_id, version=version)
    except InvalidTag:
        raise KeyError_(f"the data key v{version} of clinic {clinic_id} does not unwrap: altered") from None
    with _lock:
        _unwrapped[cache_key] = key
    return key


def forget_unwrapped() -> None:
    """Drop the cached data keys (after a rotation, so that nothing uses a retired key)."""
    with _lock:
        _unwrapped.clear()
