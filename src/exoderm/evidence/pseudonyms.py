"""Study pseudonyms: keyed hashes (HMAC-SHA-256 under the clinic's secret) of record ids.

A pseudonym names a patient (``S-…``) or a photo (``I-…``) in study data. It is stable (the same
record always gets the same pseudonym, so exports of different days join), it says nothing about
the patient code or the database ids staff see (those appear in pages and URLs), and without the
clinic's :class:`~exoderm.evidence.models.PseudonymKey` it cannot be computed or inverted. Only
the study data for researchers carries it; no page or response for clinical staff does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction

from exoderm.evidence.models import PseudonymKey

KEY_BYTES = 32
#: 12 base32 characters: 60 bits, so two records of a clinic practically never share a pseudonym.
LENGTH = 12
PATIENT_PREFIX = "S-"
PHOTO_PREFIX = "I-"


def clinic_secret(clinic_id: int) -> bytes:
    """The clinic's key, made on first use (a second request racing for it reads the winner's)."""
    found = PseudonymKey.objects.filter(clinic_id=clinic_id).values_list("secret", flat=True).first()
    if found is not None:
        return bytes(found)
    try:
        with transaction.atomic():
            PseudonymKey.objects.create(clinic_id=clinic_id, secret=secrets.token_bytes(KEY_BYTES))
    except IntegrityError:
        pass
    return bytes(PseudonymKey.objects.values_list("secret", flat=True).get(clinic_id=clinic_id))


class Pseudonymizer:
    """Pseudonyms of one clinic's records, under its secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _keyed(self, kind: str, pk: int) -> str:
        digest = hmac.new(self._secret, f"{kind}:{pk}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:LENGTH]

    def patient(self, pk: int) -> str:
        return PATIENT_PREFIX + self._keyed("patient", pk)

    def photo(self, pk: int) -> str:
        return PHOTO_PREFIX + self._keyed("photo", pk)


def for_clinic(clinic_id: int) -> Pseudonymizer:
    return Pseudonymizer(clinic_secret(clinic_id))
