"""The stylesheet's colour pairs meet WCAG 2.2 AA: 4.5:1 for text, 3:1 for focus rings and borders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "src/exoderm/web/static/web/exoderm.css").read_text()
VARS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return VARS.get(name, name)


@pytest.mark.parametrize(
    ("text", "background", "minimum"),
    [
        ("fg", "bg", 4.5),
        ("fg", "card", 4.5),
        ("muted", "bg", 4.5),
        ("muted", "card", 4.5),
        ("accent", "card", 4.5),
        ("accent", "bg", 4.5),
        ("accent-fg", "accent", 4.5),
        ("ok", "ok-soft", 4.5),
        ("warn", "warn-soft", 4.5),
        ("danger", "danger-soft", 4.5),
        ("accent", "accent-soft", 4.5),
        ("#ffffff", "danger", 4.5),
        ("#ffffff", "#12324f", 4.5),  # navigation on the top bar
        ("#12324f", "#ffffff", 4.5),  # the current section's tab
        ("muted", "#eef1f5", 4.5),  # table headers and muted badges
        ("focus", "card", 3.0),
        ("focus", "bg", 3.0),
        ("#ffd166", "#12324f", 3.0),  # focus ring on the top bar
    ],
)
def test_colour_pairs_meet_wcag_aa(text, background, minimum):
    assert contrast(colour(text), colour(background)) >= minimum
