"""Errors that carry domain meaning across entry points (API, pages, imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One broken protocol rule: its stable id, a message in the active language, where it applies."""

    rule: str
    message: str
    field: str = ""
    severity: str = "block"

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
