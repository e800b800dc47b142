"""The encrypted file format: AES-256-GCM in chunks, so that big files are never held whole.

Layout (all integers big-endian)::

    header   MAGIC (8) | format (1) | key version (4) | chunk size (4) | nonce prefix (7)
    chunks   AES-GCM(plaintext chunk) + 16-byte tag, each chunk ``chunk size`` bytes but the last

Each chunk's nonce is the file's random prefix, the chunk's index (4 bytes) and a flag that marks
the last chunk (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár): chunks cannot be
reordered, dropped or appended, and a file cut at a chunk boundary fails because its new last chunk
was not sealed as the last. Every chunk's associated data is the header and the file's name
(``context``), so a file copied under another name or another clinic fails to open.

Django-free: the caller supplies the key and the context.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"\x89EXOENC\n"  # not ASCII and not a JPEG/PNG/TIFF/HEIF signature
FORMAT = 1
CHUNK = 1024 * 1024
TAG = 16
_HEADER = struct.Struct(">8sBII7s")
HEADER_SIZE = _HEADER.size


class DecryptionError(Exception):
    """The file is not a sealed file of this format, or it fails authentication (wrong key, other
    name, tampered or truncated)."""


def is_sealed(head: bytes) -> bool:
    """Whether a file starting with ``head`` (at least the header's first 8 bytes) is sealed."""
    return head[: len(MAGIC)] == MAGIC


def key_version_of(head: bytes) -> int:
    """The data key version named in a sealed file's header."""
    if len(head) < HEADER_SIZE or not is_sealed(head):
        raise DecryptionError("not an encrypted file")
    return int(_HEADER.unpack(head[:HEADER_SIZE])[2])


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of exactly ``size`` (the last one shorter), one piece in memory."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    yield bytes(buffer)


def seal(chunks: Iterable[bytes], out: IO[bytes], *, key: bytes, key_version: int, context: bytes) -> None:
    """Encrypt the plaintext ``chunks`` into ``out``. Holds at most two chunks in memory."""
    header = _HEADER.pack(MAGIC, FORMAT, key_version, CHUNK, os.urandom(7))
    prefix = header[-7:]
    aad = header + context
    aead = AESGCM(key)
    out.write(header)
    pieces = _rechunk(chunks, CHUNK)
    current = next(pieces)
    index = 0
    for following in pieces:
        # a piece is the last one only if nothing follows: look one ahead
        if not following and len(current) == CHUNK:
            break
        out.write(aead.encrypt(_nonce(prefix, index, False), current, aad))
        current, index = following, index + 1
    out.write(aead.encrypt(_nonce(prefix, index, True), current, aad))


def open_sealed(fh: IO[bytes], *, key_for: Callable[[int], bytes], context: bytes) -> Iterator[bytes]:
    """Decrypt a sealed file chunk by chunk. ``key_for(version)`` gives the data key the header
    names. Raises :class:`DecryptionError` at the first chunk that fails authentication; the
    caller must not use earlier chunks as the whole file before the iteration ended."""
    header = fh.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE or not is_sealed(header):
        raise DecryptionError("not an encrypted file")
    _magic, fmt, version, chunk_size, prefix = _HEADER.unpack(header)
    if fmt != FORMAT or not 0 < chunk_size <= 64 * CHUNK:
        raise DecryptionError(f"unknown encrypted file format {fmt} (chunk size {chunk_size})")
    aead = AESGCM(key_for(version))
    aad = header + context
    current = fh.read(chunk_size + TAG)
    index = 0
    while True:
        following = fh.read(chunk_size + TAG)
        last = not following
        try:
            yield aead.decrypt(_nonce(prefix, index, last), current, aad)
        except InvalidTag:
            raise DecryptionError(f"chunk {index} fails authentication") from None
        if last:
            return
        current, index = following, index + 1
