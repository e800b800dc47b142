"""Errors that carry domain meaning across entry points (API, pages, imports)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken protocol rule: its stable id, a message in the active language, where it applies.

    ``params`` holds the values the message was worded from, for a rule whose message is stored
    and worded again later in the reader's language (see ``treatments.protocol.warning_message``).
    """

    rule: str
    message: str
    field: str = ""
    severity: str = "block"
    # (dataclasses.field in full: the name ``field`` is taken by the attribute above)
    params: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, str]:
        data = {"rule": self.rule, "message": self.message}
        if self.field:
            data["field"] = self.field
        return data


class RuleViolations(Exception):
    """A write refused because it breaks one or more rules; nothing of it was saved."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations = violations
