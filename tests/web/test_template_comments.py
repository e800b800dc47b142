"""Django's ``{# … #}`` comment ends on its own line: one spread over two lines is printed on the
page (the Today page showed its comment to the front desk). Longer ones use ``{% comment %}``."""

from __future__ import annotations

from pathlib import Path

import exoderm

TEMPLATES = Path(exoderm.__file__).parent


def test_no_template_comment_spans_lines():
    open_comments = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("templates/**/*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert not open_comments, open_comments
