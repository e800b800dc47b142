"""Which texts can be stored? One rule for every text a person or a client sends.

Every text has a maximum length (the database column's, or one of the limits below for columns
without one), and no text may contain a NUL character (PostgreSQL cannot store it) or a lone
UTF-16 surrogate (no UTF-8 encoder can write it: the database driver fails). The API's input
types (``exoderm.api.types``) and the pages' forms (``exoderm.web.forms.text_field``) apply the
same limits and the same check, so that pages and API refuse the same texts.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

# Limits for texts stored in columns without a length of their own (TextField) and for the API's
# one-line inputs; a column with a shorter length of its own is checked against that too.
SHORT_TEXT = 200
"""Names, titles, codes, kinds, search words and other one-line texts."""
NOTE = 2_000
"""Addresses, reasons, notes: a few sentences."""
DOCUMENT = 100_000
"""Consent texts: a long legal document, far below anything that strains a page or the database."""

NUL = "\x00"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def nul_message() -> str:
    return gettext("Remove the NUL character (U+0000) from the text.")


def surrogate_message() -> str:
    return gettext("The text contains a lone UTF-16 surrogate, which is no character: send valid Unicode.")


def text_problem(value: str) -> str | None:
    """What makes ``value`` unstorable (a NUL character or a lone surrogate), worded; None if nothing."""
    if NUL in value:
        return nul_message()
    if _LONE_SURROGATE.search(value):
        return surrogate_message()
    return None


def validate_storable(value: str) -> None:
    """The rule of :func:`text_problem` as a Django validator, for the pages' forms."""
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(problem, code="unstorable")
