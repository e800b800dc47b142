"""Template helpers for the pages: sortable headers, pager, badges, navigation state."""

from __future__ import annotations

from typing import Any

from django import template
from django.db import models
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.web.listing import Listing

register = template.Library()


@register.simple_tag
def sort_header(listing: Listing, key: str, label: str, css: str = "") -> str:
    """A ``<th>`` whose link sorts by ``key``, toggling the direction, with ``aria-sort`` set."""
    current = listing.sort.removeprefix("-")
    descending = listing.sort.startswith("-")
    if current == key:
        aria = "descending" if descending else "ascending"
        target = key if descending else f"-{key}"
        arrow = " ▼" if descending else " ▲"
    else:
        aria, target, arrow = "none", key, ""
    return format_html(
        '<th scope="col" class="{}" aria-sort="{}">'
        '<a href="{}">{}<span aria-hidden="true">{}</span></a></th>',
        css,
        aria,
        listing.query(sort=target, page=None),
        label,
        arrow,
    )


@register.inclusion_tag("web/partials/pager.html")
def pager(listing: Listing) -> dict[str, Any]:
    page = listing.page
    return {
        "page": page,
        "previous": listing.query(page=page.previous_page_number()) if page.has_previous() else "",
        "next": listing.query(page=page.next_page_number()) if page.has_next() else "",
    }


@register.simple_tag(takes_context=True)
def current(context: template.Context, *prefixes: str) -> str:
    """``aria-current="page"`` on the navigation link of the section the page belongs to.

    A prefix written ``!/booking/settings/`` excludes its pages: they belong to another section
    (the administration) though their addresses lie below this one's."""
    request = context.get("request")
    path = request.path if request is not None else ""
    if any(path.startswith(prefix[1:]) for prefix in prefixes if prefix.startswith("!")):
        return ""
    for prefix in prefixes:
        if prefix.startswith("!"):
            continue
        if path == prefix if prefix == "/" else path.startswith(prefix):
            return mark_safe('aria-current="page"')
    return ""


@register.filter
def badge(value: str, label: str = "") -> str:
    """A status badge; the CSS class comes from the status code, the text from its label."""
    return format_html('<span class="badge badge-{}">{}</span>', value, label or value)


@register.simple_tag
def yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


@register.filter
def minus(value: int, other: int) -> int:
    return int(value) - int(other or 0)


@register.filter
def get(mapping: dict[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.filter(name="can")
def can_filter(user: Any, action: str) -> bool:
    """``{% if user|can:"manage_clinic" %}``: the role table of exoderm.core.permissions."""
    from exoderm.core.permissions import Action, can

    return can(user, Action(action))


@register.filter
def area_labels(areas: list[str]) -> str:
    """Area codes as their (translated) names, in a line."""
    from exoderm.core.areas import area_list

    return area_list(areas or [])


RULE_LABELS = {
    "exosome-requires-barrier-disruption": gettext_lazy("Barrier disruption first"),
    "application-area-not-treated": gettext_lazy("Area not treated"),
    "application-window": gettext_lazy("Application window"),
    "lot-not-usable": gettext_lazy("Lot not usable"),
    "use-window-exceeded": gettext_lazy("Use-by time exceeded"),
    "consent-missing": gettext_lazy("Consent missing"),
    "contraindication": gettext_lazy("Contraindication"),
    "dose-out-of-range": gettext_lazy("Dose out of range"),
}


@register.filter
def rule_label(rule: str) -> str:
    """The protocol rule's name in the user's language (its stable id where none is known)."""
    return str(RULE_LABELS.get(rule, rule))


@register.filter
def vial_verb(storage_form: str) -> str:
    """The vial action that starts the use-by time for a product of this storage form."""
    return "reconstitute" if storage_form == "lyophilized" else "thaw"


@register.filter
def role_label(role: str) -> str:
    """A role as the audit trail stores it (``clinic_admin``), by its name in the user's language."""
    from exoderm.clinics.models import Role

    return str(Role(role).label) if role in Role.values else role


def _labelled_choices() -> dict[str, type[models.Choices]]:
    from exoderm.consent.models import ConsentKind
    from exoderm.core.areas import Area
    from exoderm.core.contraindications import ScreeningItem
    from exoderm.photos.models import View

    return {"screening": ScreeningItem, "consent": ConsentKind, "view": View, "area": Area}


@register.filter
def label_of(code: str, choices: str) -> str:
    """A stored code (``active_infection``, ``close_up``) of the named choices (``screening``,
    ``consent``, ``view``, ``area``) by its label in the user's language; a code no longer known
    as stored."""
    known = _labelled_choices()[choices]
    return str(known(code).label) if code in known.values else code


@register.filter
def object_type_label(object_type: str) -> str:
    """A recorded object's model (``patients.patient``) by its name in the user's language; a type
    no longer known keeps its stored name, which is what the trail's hash covers."""
    from django.apps import apps

    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return object_type
    return str(model._meta.verbose_name)
