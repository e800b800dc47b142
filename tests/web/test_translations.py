"""The German catalogue is complete: every source string translated, and the compiled .mo current."""

from __future__ import annotations

import gettext
import io
import itertools
import re
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "exoderm"
PO = SRC / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _unquote(text: str) -> str:
    return "".join(
        re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), part)
        for part in re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    )


def po_entries() -> dict[str, list[str]]:
    """msgid (singular) -> its msgstr values, for every live entry of the .po file."""
    entries = {}
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#") or line.startswith("#,")]
        if any(line.startswith("#,") and "fuzzy" in line for line in lines):
            entries.setdefault("__fuzzy__", []).append(block)
        text = "\n".join(line for line in lines if not line.startswith("#"))
        found = re.search(r'^msgid ((?:".*"\n?)+)', text, re.M)
        if not found:
            continue
        msgid = _unquote(found.group(1))
        strs = [_unquote(m) for m in re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', text, re.M)]
        entries[msgid] = strs
    return entries


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert "__fuzzy__" not in entries, entries.get("__fuzzy__")
    untranslated = [msgid for msgid, strs in entries.items() if msgid and not all(strs)]
    assert untranslated == []
    assert len(entries) > 600


def test_the_compiled_catalogue_matches_the_po_file():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    singular = {key if isinstance(key, str) else key[0] for key in compiled}
    assert {msgid for msgid in po_entries() if msgid} <= singular


def source_strings() -> set[str]:
    """Literal strings marked for translation in our Python modules and templates."""
    found = set()
    python = re.compile(r"""\b(?:_|gettext|gettext_lazy)\(\s*(["'])((?:(?!\1)[^\\]|\\.)*)\1\s*[,)]""")
    template = re.compile(r'\{% (?:translate|trans) "((?:[^"\\]|\\.)*)"|_\("((?:[^"\\]|\\.)*)"\)')
    for path in SRC.rglob("*.py"):
        if "skinlab" in path.parts or "migrations" in path.parts:
            continue
        found |= {m.replace('\\"', '"') for _quote, m in python.findall(path.read_text(encoding="utf-8"))}
    for path in SRC.rglob("*.html"):
        for first, second in template.findall(path.read_text(encoding="utf-8")):
            # makemessages escapes a literal percent sign of a template string as %%.
            found.add((first or second).replace("%", "%%"))
    return found


def test_every_marked_source_string_is_in_the_catalogue():
    missing = sorted(source_strings() - set(po_entries()))
    assert missing == [], "run makemessages -l de and translate: " + "; ".join(missing)


def test_no_string_is_marked_for_translation_inside_an_f_string():
    """makemessages (xgettext) does not look inside f-strings: a ``_("...")`` there never reaches
    the catalogue, and its text stays English in a German report ("Age band" did)."""
    inside = []
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        depth = 0
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
        for token, following in itertools.pairwise(tokens):
            if token.type == tokenize.FSTRING_START:
                depth += 1
            elif token.type == tokenize.FSTRING_END:
                depth -= 1
            elif depth and token.string in {"_", "gettext", "gettext_lazy"} and following.string == "(":
                inside.append(f"{path.relative_to(SRC)}:{token.start[0]}")
    assert inside == []


def test_the_empty_choice_of_a_select_is_german():
    """Django 6.1's blank choice label, which Django's own German catalogue lacks, comes from ours."""
    from django.db.models.fields import BLANK_CHOICE_LABEL
    from django.utils import translation

    with translation.override("de"):
        assert str(BLANK_CHOICE_LABEL) == "- Bitte auswählen -"
