"""Secrets inside a message (the one-time intake link), encrypted at rest until the worker sends it.

Sealed with the clinic's data key in the vault's format (:mod:`exoderm.vault.cipher`) and bound to
the message's key, so a sealed link copied into another row does not open. Only the worker opens it,
to fill in the text it hands to the mail server.
"""

from __future__ import annotations

import io

from exoderm.vault import cipher
from exoderm.vault.services import current_data_key, data_key


def _context(*, clinic_id: int, key: str) -> bytes:
    return f"outbox/{clinic_id}/{key}/link".encode()


def seal_link(link: str, *, clinic_id: int, key: str) -> bytes:
    version, secret = current_data_key(clinic_id=clinic_id)
    out = io.BytesIO()
    cipher.seal(
        [link.encode()],
        out,
        key=secret,
        key_version=version,
        context=_context(clinic_id=clinic_id, key=key),
    )
    return out.getvalue()


def open_link(sealed: bytes | memoryview, *, clinic_id: int, key: str) -> str:
    """The link; :class:`exoderm.vault.cipher.DecryptionError` if the blob was altered or moved."""
    plain = b"".join(
        cipher.open_sealed(
            io.BytesIO(bytes(sealed)),
            key_for=lambda version: data_key(clinic_id=clinic_id, version=version),
            context=_context(clinic_id=clinic_id, key=key),
        )
    )
    return plain.decode()
