"""A correction records only what it changed: a field whose value is the same (a time typed back
in the clinic's zone, a list with the same content) is not in the revision's changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from exoderm.records.models import Revision
from exoderm.records.services import changed_fields
from tests import factories

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """The values a browser would send for the page's form: inputs, selected options, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in {"submit", "button", "file"} or (kind in {"checkbox", "radio"} and "checked" not in a):
                return
            self.values.append((a["name"], a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value") or ""))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.values.append((self._textarea, self._text))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text += data


def form_values(html: str) -> dict[str, list[str]]:
    parser = _FormValues()
    parser.feed(html)
    values: dict[str, list[str]] = {}
    for name, value in parser.values:
        values.setdefault(name, []).append(value)
    return values


def test_correcting_only_the_needle_depth_records_only_the_procedures(client, clinic):
    scene = factories.SessionScene(clinic)
    session = scene.record()
    client.force_login(scene.clinician)
    url = reverse("session-correct", args=[session.pk])
    data = form_values(client.get(url).content.decode())
    assert data["procedures-0-needle_depth_mm"] == ["1.00"]
    data["procedures-0-needle_depth_mm"] = ["1.5"]
    data["reason"] = ["Depth typed wrong"]
    data.pop("add", None)
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    revision = Revision.objects.get()
    assert set(revision.changes) == {"procedures"}
    old, new = revision.changes["procedures"]
    assert old[0]["params"]["needle_depth_mm"] == "1.00" and new[0]["params"]["needle_depth_mm"] == "1.50"


def test_a_time_in_another_zone_and_equal_lists_are_no_change():
    at = dt.datetime(2026, 12, 7, 4, 50, tzinfo=dt.UTC)
    berlin = at.astimezone(ZoneInfo("Europe/Berlin"))
    before = {"performed_at": at, "areas": ["face"], "rows": [{"at": at, "ml": Decimal("1.50")}], "n": 1}
    after = {
        "performed_at": berlin,
        "areas": ["face"],
        "rows": [{"at": berlin, "ml": Decimal("1.5")}],
        "n": 2,
    }
    assert changed_fields(before, after) == {"n": [1, 2]}
