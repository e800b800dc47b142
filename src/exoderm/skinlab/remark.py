"""A remark of the engine: English text that another language can be worded from."""

from __future__ import annotations

from typing import Any

__all__ = ["Remark"]


class Remark(str):
    """An engine's reason or note: its English text, with ``kind`` and ``params`` for a caller
    that words it in another language. Being a ``str``, it prints, joins and serialises as the
    text. The kinds are listed where remarks are made (:func:`exoderm.skinlab.compare.compare`,
    :func:`exoderm.skinlab.quality.usability_problems`).
    """

    kind: str
    params: dict[str, Any]

    def __new__(cls, text: str, kind: str = "", **params: Any) -> Remark:
        self = super().__new__(cls, text)
        self.kind = kind
        self.params = params
        return self
