"""Template helpers for the Today page's visit lines."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

register = template.Library()


@register.simple_tag
def visit_line_url(ids: list[int], show: str, mark: str = "") -> str:
    """The address of a line naming its visits, what it shows beside the patient and, to ask
    about or do it, how to mark them."""
    query = [("visit", pk) for pk in ids] + [("show", show)] + ([("mark", mark)] if mark else [])
    return reverse("today-visits") + "?" + urlencode(query)
