"""Paging and sorting for every list page: one helper, so every list behaves the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 25


@dataclass
class Listing:
    """One page of a sorted list, with what the headers and the pager need to build links."""

    page: Page
    sort: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> Any:
        return self.page.object_list

    def query(self, **changes: Any) -> str:
        """The query string of this list with ``changes`` applied (``None`` removes a key)."""
        params = {**self.params, "sort": self.sort, "page": str(self.page.number), **changes}
        return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def listing(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    sorts: dict[str, tuple[str, ...]],
    default: str,
    keep: tuple[str, ...] = (),
    per_page: int = PER_PAGE,
) -> Listing:
    """Sort ``queryset`` by the ``sort`` parameter (a key of ``sorts``, ``-`` for descending) and page it.

    Unknown sort keys fall back to ``default``; ``keep`` names the parameters (such as a search)
    that page and sort links carry along.
    """
    sort = request.GET.get("sort", default)
    key = sort.removeprefix("-")
    if key not in sorts:
        sort, key = default, default.removeprefix("-")
    order = sorts[key]
    if sort.startswith("-"):
        order = tuple(o[1:] if o.startswith("-") else f"-{o}" for o in order)
    page = Paginator(queryset.order_by(*order), per_page).get_page(request.GET.get("page"))
    params = {name: request.GET[name] for name in keep if request.GET.get(name)}
    return Listing(page=page, sort=sort, params=params)
