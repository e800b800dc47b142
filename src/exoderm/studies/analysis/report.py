"""The study report as a PDF (fpdf2), in German or English: design, CONSORT flow, baseline
characteristics, the endpoints table, figures (matplotlib), adverse events, deviations, and the
software and engine versions and mdc values that produced the numbers."""

from __future__ import annotations

import io
from collections import Counter

from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from fpdf import FPDF, FontFace

from exoderm.photos.selectors import without_minus_zero
from exoderm.studies.analysis import names
from exoderm.studies.analysis.figures import matplotlib_figures
from exoderm.studies.analysis.results import StudyResults, software_versions


def _latin1(text: str) -> str:
    """The core PDF fonts hold Latin-1 (German included); anything else becomes '?'."""
    return text.replace("–", "-").replace("×", "x").encode("latin-1", "replace").decode("latin-1")


def _number(value: float | None, digits: int = 2) -> str:
    """A value to ``digits`` decimals in the report language's format (``-1,50`` in German)."""
    if value is None:
        return "-"
    return number_format(without_minus_zero(round(value, digits)), decimal_pos=digits, use_l10n=True)


def _interval(low: float | None, high: float | None, digits: int) -> str:
    if low is None and high is None:  # no interval (no data yet): one dash, as the other cells
        return _number(None)
    return _("%(low)s to %(high)s") % {"low": _number(low, digits), "high": _number(high, digits)}


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<" + _number(0.001, 3) if value < 0.001 else _number(value, 3)


CELL_PADDING = 1.0  # mm left and right of a table cell's text


def _column_widths(pdf: FPDF, rows: list[list[str]]) -> list[float]:
    """The widths (mm) of a table of ``rows`` (the first the bold header) across the page: each
    column as wide as its longest word, and what is left of the page's width shared out by how
    much more each column's longest cell would need to fit on one line."""

    def width(text: str, bold: bool) -> float:
        pdf.set_font(style="B" if bold else "")
        return pdf.get_string_width(_latin1(text)) + 2 * CELL_PADDING + 0.5

    columns = list(zip(*rows, strict=True))
    words = [
        max(width(word, n == 0) for n, cell in enumerate(c) for word in cell.split() or [""]) for c in columns
    ]
    lines = [max(width(cell, n == 0) for n, cell in enumerate(c)) for c in columns]
    pdf.set_font(style="")
    room = pdf.epw - sum(words)
    wanted = [line - word for line, word in zip(lines, words, strict=True)]
    if room <= 0 or not sum(wanted):
        return words
    share = min(1.0, room / sum(wanted))
    widths = [word + extra * share for word, extra in zip(words, wanted, strict=True)]
    # a table narrower than the page: the rest to the columns evenly
    spare = (pdf.epw - sum(widths)) / len(widths)
    return [w + spare for w in widths]


def report_pdf(results: StudyResults, *, language: str) -> bytes:
    with translation.override(language):
        return _report(results, language)


def _report(results: StudyResults, language: str) -> bytes:
    study = results.study
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, 15)
    pdf.add_page()
    pdf.set_lang(language)
    pdf.set_title(_latin1(study.title))

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def line(text: str) -> None:
        pdf.multi_cell(0, 4.6, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(study.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    line(_("Study report"))

    heading(_("Design"))
    line(
        _("Design: %(design)s · Blinding: %(blinding)s")
        % {"design": study.get_design_display(), "blinding": study.get_blinding_display()}
    )
    if study.registry_id:
        line(_("Registry: %(id)s") % {"id": study.registry_id})
    for code, name in sorted(results.arm_names.items()):
        line(_("Arm %(code)s: %(name)s") % {"code": code, "name": name})
    line(
        _("Results by arm (the study is unblinded).")
        if results.by_arm
        else _("Results pooled over the arms: the study is still blinded.")
    )

    def per_arm(counts: dict[str, int]) -> str:
        return ", ".join(f"{names.arm_name(arm, results.arm_names)} {n}" for arm, n in counts.items())

    heading(_("Participant flow (CONSORT)"))
    c = results.consort
    line(_("Assessed for eligibility: %(n)s") % {"n": c.assessed})
    line(_("Excluded: %(n)s") % {"n": c.excluded})
    for reason, count in c.excluded_by_reason.items():
        line(f"    {names.exclusion_reason_name(reason)}: {count}")
    line(_("Randomized: %(n)s") % {"n": c.randomized})
    line(_("Allocated: %(arms)s") % {"arms": per_arm(c.allocated)})
    line(_("Lost to follow-up: %(n)s") % {"n": c.lost_to_follow_up})
    line(_("Analysed (primary endpoint): %(arms)s") % {"arms": per_arm(c.analysed)})

    heading(_("Baseline characteristics"))
    participants = results.data.participants
    ages = Counter(p.age_band for p in participants)
    types = Counter(p.fitzpatrick for p in participants)
    # youngest band first, by its lower end; the unknown ages last
    bands = sorted(ages, key=lambda band: (band is None, int(band.split("-")[0]) if band else 0))
    counts = ", ".join(f"{names.age_band_name(band)}: {ages[band]}" for band in bands)
    line(_("Age band: %(counts)s") % {"counts": counts})
    counts = ", ".join(f"{names.skin_type_name(k)}: {v}" for k, v in sorted(types.items()))
    line(_("Fitzpatrick skin type: %(counts)s") % {"counts": counts})
    line(_("Sex is not recorded by exoderm."))

    heading(_("Endpoints"))
    header = [_("Endpoint"), _("Visit"), _("Role"), _("Estimate"), _("95% CI"), _("p"), "n", _("Comparison")]
    rows = [
        [
            names.endpoint_name(row),
            names.visit_name((row.session_number, row.weeks_after_session)),
            names.role_name(row.role),
            _number(row.result.estimate),
            _interval(row.result.ci_low, row.result.ci_high, 2),
            _p(row.result.p_value),
            str(row.result.n),
            names.comparison_name(row.comparison),
        ]
        for row in results.endpoints
    ]
    healing = results.healing.result
    rows.append(
        [
            _("Healing: days to half"),
            _("sessions"),
            names.role_name(results.healing.role),
            _number(healing.estimate, 1),
            _interval(healing.ci_low, healing.ci_high, 1),
            _p(healing.p_value),
            str(healing.n),
            names.comparison_name(results.healing.comparison),
        ]
    )
    pdf.set_font("Helvetica", "", 8)
    # each cell wraps its text within its column: the German names of the endpoints, visits and
    # comparisons take two lines or three, and no column is narrower than its longest word
    with pdf.table(
        col_widths=_column_widths(pdf, [header, *rows]),
        text_align="LEFT",
        line_height=4,
        padding=(CELL_PADDING / 2, CELL_PADDING),
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        for cells in [header, *rows]:
            table.row([_latin1(text) for text in cells])
    pdf.set_font("Helvetica", "", 9)
    for summary in results.healing.per_arm:
        r = summary.result
        line(
            _("Healing: days to half, %(arm)s: %(estimate)s (%(interval)s), n %(n)s")
            % {
                "arm": names.arm_name(summary.arm, results.arm_names),
                "estimate": _number(r.estimate, 1),
                "interval": _interval(r.ci_low, r.ci_high, 1),
                "n": r.n,
            }
        )
    line(
        _(
            "Healing: days until the redness after a session is back to half its peak, per side, "
            "from the healing curve (exploratory)."
        )
    )
    line(_("Missing data: complete cases, nothing imputed; the mixed model uses every observation."))

    figures = matplotlib_figures(results)
    if figures:
        heading(_("Figures"))
        for image in figures.values():
            pdf.image(io.BytesIO(image), w=170)

    heading(_("Adverse events"))
    if not results.adverse_events:
        line(_("None recorded."))
    for event in names.adverse_event_rows(results):
        line(
            _(
                "%(term)s, grade %(grade)s, %(relatedness)s, %(arm)s: "
                "%(participants)s participants, %(events)s events"
            )
            % event
        )

    heading(_("Protocol deviations"))
    deviations = Counter(d.kind for d in results.data.deviations)
    line(
        ", ".join(f"{names.deviation_kind_name(kind)}: {n}" for kind, n in sorted(deviations.items()))
        or _("None recorded.")
    )

    heading(_("Software and mdc"))
    versions = software_versions()
    line(f"exoderm {versions['exoderm']}, skinlab {versions['skinlab_engine']}")
    for row in results.endpoints:
        for summary in row.responders:
            visit = names.visit_name((row.session_number, row.weeks_after_session))
            line(f"{names.endpoint_name(row)}, {visit}: {names.method_name(summary.result.method)}")
            break
    return bytes(pdf.output())
