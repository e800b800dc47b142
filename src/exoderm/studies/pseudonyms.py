"""Study pseudonyms of participants: keyed hashes under the clinic's secret, in the style of
:mod:`exoderm.evidence.pseudonyms` but of another kind and per study, so that a participant's
``P-…`` says nothing about their patient code, ids, or their ``S-…`` in the researchers' rows."""

from __future__ import annotations

import base64
import hashlib
import hmac

from exoderm.evidence.pseudonyms import LENGTH, clinic_secret

PARTICIPANT_PREFIX = "P-"


def participant_pseudonym(*, clinic_id: int, study_id: int, patient_id: int) -> str:
    digest = hmac.new(
        clinic_secret(clinic_id), f"study-participant:{study_id}:{patient_id}".encode(), hashlib.sha256
    ).digest()
    return PARTICIPANT_PREFIX + base64.b32encode(digest).decode()[:LENGTH]
