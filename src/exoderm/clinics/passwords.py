"""A password rule beside Django's: no password that contains the user's own name.

Django's ``UserAttributeSimilarityValidator`` compares the whole password with each name by a
similarity ratio (at least 0.7). A name with digits appended to reach the minimum length falls
below it: "huber12345" against "huber" scores 2 * 5 / (10 + 5) = 0.67 and passed. Lowering the
ratio would refuse unrelated passwords too; refusing the name *inside* the password is the check
that was missing.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext as _

# Shorter parts ("Li", "Ott") occur in too many unrelated words to refuse them.
SHORTEST_NAME_PART = 4


class NameInPasswordValidator:
    """Refuse a password that contains the username, first or last name, or a part of the e-mail
    address (each part of at least four letters, in any case)."""

    def __init__(self, user_attributes: tuple[str, ...] = ("username", "first_name", "last_name", "email")):
        self.user_attributes = user_attributes

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        folded = password.casefold()
        for attribute in self.user_attributes:
            value = getattr(user, attribute, None)
            if not value or not isinstance(value, str):
                continue
            parts = [value, *re.split(r"[\W_]+", value)]
            if any(len(part) >= SHORTEST_NAME_PART and part.casefold() in folded for part in parts):
                try:
                    name = str(user._meta.get_field(attribute).verbose_name)
                except FieldDoesNotExist:
                    name = attribute
                raise ValidationError(
                    _("The password must not contain the %(verbose_name)s."),
                    code="password_contains_name",
                    params={"verbose_name": name},
                )

    def get_help_text(self) -> str:
        return _("Your password must not contain your name, username or e-mail address.")
