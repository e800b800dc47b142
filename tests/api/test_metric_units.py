"""The unit of a metric in the outcome rows follows the engine version that measured it."""

from __future__ import annotations

from exoderm.evidence.selectors import UNITS, unit_of


def test_tone_and_texture_are_relative_from_engine_1_3_and_l_star_before():
    for key in ("tone_sd_L", "texture_rms"):
        assert unit_of(key, "1.3.0") == UNITS[key] == "% of L*+16"
        assert unit_of(key, "2.0.0") == "% of L*+16"
        assert unit_of(key, "1.2.0") == "L*"
        assert unit_of(key, "0.9.0") == "L*"


def test_redness_excess_is_relative_from_engine_1_5_and_a_star_before():
    assert unit_of("a_excess_mean", "1.5.0") == UNITS["a_excess_mean"] == "% of L*+16"
    assert unit_of("a_excess_mean", "1.4.0") == "a*"
    assert unit_of("a_excess_mean", "1.2.0") == "a*"


def test_other_units_do_not_depend_on_the_engine():
    assert unit_of("L_median", "1.2.0") == unit_of("L_median", "1.3.0") == "L*"
    assert unit_of("spot_count", "1.2.0") == "count"
