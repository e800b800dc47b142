"""Treatment areas: one vocabulary for procedures, applications, screening and photo regions.

Facial sub-areas carry the region names of skin-metrics.md, so that a treated area maps onto
the analysed regions of a photo. ``face`` contains its sub-areas: exosomes applied to the
cheeks after a full-face procedure went onto treated skin.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _


class Area(models.TextChoices):
    FACE = "face", _("Face")
    # The halves of a split-face study: each covers its side's regions (midline regions belong to
    # neither half alone, so a half-face application never counts as covering them).
    FACE_LEFT = "face_left", _("Left half of the face")
    FACE_RIGHT = "face_right", _("Right half of the face")
    FOREHEAD = "forehead", _("Forehead")
    GLABELLA = "glabella", _("Glabella")
    PERIORBITAL_LEFT = "periorbital_left", _("Periorbital, left")
    PERIORBITAL_RIGHT = "periorbital_right", _("Periorbital, right")
    CHEEK_LEFT = "cheek_left", _("Cheek, left")
    CHEEK_RIGHT = "cheek_right", _("Cheek, right")
    NOSE = "nose", _("Nose")
    PERIORAL = "perioral", _("Perioral")
    CHIN = "chin", _("Chin")
    NECK = "neck", _("Neck")
    DECOLLETAGE = "decolletage", _("Décolletage")
    SCALP = "scalp", _("Scalp")
    HANDS = "hands", _("Back of the hands")


FACE_PARTS = frozenset(
    {
        Area.FOREHEAD,
        Area.GLABELLA,
        Area.PERIORBITAL_LEFT,
        Area.PERIORBITAL_RIGHT,
        Area.CHEEK_LEFT,
        Area.CHEEK_RIGHT,
        Area.NOSE,
        Area.PERIORAL,
        Area.CHIN,
    }
)


HALVES: dict[str, frozenset[str]] = {
    Area.FACE_LEFT: frozenset({Area.PERIORBITAL_LEFT, Area.CHEEK_LEFT}),
    Area.FACE_RIGHT: frozenset({Area.PERIORBITAL_RIGHT, Area.CHEEK_RIGHT}),
}


#: The endings of the areas of one side of the body (``cheek_left``, ``periorbital_right``): a
#: split-face study names one and means it and its mirror image.
SIDE_SUFFIXES = ("_left", "_right")


def label_list(labels: Iterable[str]) -> str:
    """Labels in a line: ', ' between them, or '; ' when one holds a comma of its own ("Cheek,
    left"), so that "Forehead; Cheek, left; Cheek, right" reads as three and not five."""
    texts = [str(label) for label in labels]
    return ("; " if any("," in text for text in texts) else ", ").join(texts)


def area_list(areas: Iterable[str]) -> str:
    """Area codes by their (translated) names in a line (:func:`label_list`); an unknown code as it is."""
    return label_list(str(Area(a).label) if a in Area.values else a for a in areas)


def expand(areas: Iterable[str]) -> set[str]:
    """The areas and everything they contain (``face`` stands for all its parts and both halves,
    a half for the regions of its side)."""
    result = set(areas)
    if Area.FACE in result:
        result |= FACE_PARTS | set(HALVES)
    for half in HALVES.keys() & result:
        result |= HALVES[half]
    return result


def uncovered(areas: Iterable[str], *, by: Iterable[str]) -> list[str]:
    """The ``areas`` not covered by the areas ``by`` (in the given order)."""
    covered = expand(by)
    return [area for area in areas if not expand([area]) <= covered]


def overlaps(first: Iterable[str], second: Iterable[str]) -> bool:
    return bool(expand(first) & expand(second))


def validate_areas(value: object) -> None:
    """Model-field validator: a non-empty list of known area codes without repeats."""
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not value:
        raise ValidationError(_("Name at least one area."))
    unknown = [item for item in value if item not in Area.values]
    if unknown:
        raise ValidationError(
            _("Unknown area: %(areas)s. Known areas: %(known)s."),
            params={"areas": ", ".join(map(str, unknown)), "known": ", ".join(Area.values)},
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("An area is listed twice."))
