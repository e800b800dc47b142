"""The direction the therapy aims each metric at.

Its own module, free of NumPy and OpenCV, so that a web process can word a comparison without
loading the engine.
"""

from __future__ import annotations

__all__ = ["AIMS"]

#: "lower" (less pigment, redness, lines, roughness, pores), "higher" (brighter skin) or None where
#: a change has no good or bad side (the skin tone's hue). A change beyond the noise is better or
#: worse by it. Keys: every metric of :data:`exoderm.skinlab.metrics.METRIC_KEYS`.
AIMS: dict[str, str | None] = {
    "L_median": "higher",
    "a_median": None,
    "b_median": None,
    "ita_deg": "higher",
    "tone_sd_L": "lower",
    "spot_count": "lower",
    "spot_area_mm2": "lower",
    "spot_area_pct": "lower",
    "red_area_pct": "lower",
    "a_excess_mean": "lower",
    "wrinkle_count": "lower",
    "wrinkle_length_mm": "lower",
    "wrinkle_density": "lower",
    "texture_rms": "lower",
    "pore_count": "lower",
    "pore_density": "lower",
}
