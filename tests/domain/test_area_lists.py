"""Areas named in a line: their labels hold commas of their own ("Wange, links"), so a list of
them must not read as more areas than it has (a QA walk read "Stirn, Wange, links, Wange, rechts")."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import translation

from exoderm.core.areas import area_list, label_list


def test_labels_with_a_comma_of_their_own_are_separated_by_semicolons():
    with translation.override("de"):
        assert area_list(["forehead", "cheek_left", "cheek_right"]) == "Stirn; Wange, links; Wange, rechts"
    with translation.override("en"):
        assert area_list(["forehead", "cheek_left"]) == "Forehead; Cheek, left"


def test_labels_without_commas_keep_the_comma():
    assert label_list(["Face", "Neck"]) == "Face, Neck"
    assert area_list([]) == ""


def test_an_unknown_code_is_shown_as_it_is():
    with translation.override("en"):
        assert area_list(["forehead", "elbow"]) == "Forehead, elbow"


@pytest.mark.parametrize(
    ("language", "expected"), [("de", "Stirn; Wange, links"), ("en", "Forehead; Cheek, left")]
)
def test_the_pages_filter_words_areas_in_a_line(language, expected):
    with translation.override(language):
        text = Template("{% load web %}{{ areas|area_labels }}").render(
            Context({"areas": ["forehead", "cheek_left"]})
        )
    assert text == expected
