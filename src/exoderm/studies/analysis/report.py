"""The study report as a PDF (fpdf2), in German or English: design, CONSORT flow, baseline
characteristics, the endpoints table, figures (matplotlib), adverse events, deviations, and the
software and engine versions and mdc values that produced the numbers."""

from __future__ import annotations

import io
from collections import Counter

from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF

from exoderm.studies.analysis.figures import matplotlib_figures
from exoderm.studies.analysis.results import StudyResults, software_versions


def _latin1(text: str) -> str:
    """The core PDF fonts hold Latin-1 (German included); anything else becomes '?'."""
    return text.replace("–", "-").replace("×", "x").encode("latin-1", "replace").decode("latin-1")


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


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
    line(f"{_('Design')}: {study.get_design_display()} · {_('Blinding')}: {study.get_blinding_display()}")
    if study.registry_id:
        line(f"{_('Registry')}: {study.registry_id}")
    for code, name in sorted(results.arm_names.items()):
        line(f"{_('Arm')} {code}: {name}")
    line(
        _("Results by arm (the study is unblinded).")
        if results.by_arm
        else _("Results pooled over the arms: the study is still blinded.")
    )

    heading(_("Participant flow (CONSORT)"))
    c = results.consort
    line(f"{_('Assessed for eligibility')}: {c.assessed}")
    line(f"{_('Excluded')}: {c.excluded} " + ", ".join(f"{k} {v}" for k, v in c.excluded_by_reason.items()))
    line(f"{_('Randomized')}: {c.randomized}")
    line(f"{_('Allocated')}: " + ", ".join(f"{k} {v}" for k, v in c.allocated.items()))
    line(f"{_('Lost to follow-up')}: {c.lost_to_follow_up}")
    line(f"{_('Analysed (primary endpoint)')}: " + ", ".join(f"{k} {v}" for k, v in c.analysed.items()))

    heading(_("Baseline characteristics"))
    participants = results.data.participants
    ages = Counter(p.age_band or "?" for p in participants)
    types = Counter(p.fitzpatrick for p in participants)
    line(f"{_('Age band')}: " + ", ".join(f"{k}: {v}" for k, v in sorted(ages.items())))
    line(f"{_('Fitzpatrick skin type')}: " + ", ".join(f"{k}: {v}" for k, v in sorted(types.items())))
    line(_("Sex is not recorded by exoderm."))

    heading(_("Endpoints"))
    widths = [44, 16, 20, 22, 30, 16, 10, 22]
    header = [_("Endpoint"), _("Visit"), _("Role"), _("Estimate"), _("95% CI"), _("p"), "n", _("Comparison")]
    pdf.set_font("Helvetica", "B", 8)
    for width, text in zip(widths, header, strict=True):
        pdf.cell(width, 5, _latin1(text), border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)

    def table_row(cells: list[str]) -> None:
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 4.6, _latin1(text[:40]))
        pdf.ln()

    for row in results.endpoints:
        r = row.result
        name = f"{row.metric} {row.region}".strip() if row.metric else row.rating
        cells = [
            name,
            row.visit,
            row.role,
            _number(r.estimate),
            f"{_number(r.ci_low)} to {_number(r.ci_high)}",
            _p(r.p_value),
            str(r.n),
            row.comparison,
        ]
        table_row(cells)
    healing = results.healing.result
    table_row(
        [
            _("Healing: days to half"),
            _("sessions"),
            results.healing.role,
            _number(healing.estimate, 1),
            f"{_number(healing.ci_low, 1)} to {_number(healing.ci_high, 1)}",
            _p(healing.p_value),
            str(healing.n),
            results.healing.comparison,
        ]
    )
    for summary in results.healing.per_arm:
        r = summary.result
        line(
            f"{_('Healing: days to half')}, {summary.arm}: {_number(r.estimate, 1)} "
            f"({_number(r.ci_low, 1)} to {_number(r.ci_high, 1)}), n {r.n}"
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
    for event in results.adverse_events:
        line(
            f"{event.term}, {_('grade')} {event.grade}, {event.relatedness or '-'}, {event.arm}: "
            f"{event.participants} {_('participants')}, {event.events} {_('events')}"
        )

    heading(_("Protocol deviations"))
    deviations = Counter(d.kind for d in results.data.deviations)
    line(", ".join(f"{k}: {v}" for k, v in sorted(deviations.items())) or _("None recorded."))

    heading(_("Software and mdc"))
    versions = software_versions()
    line(f"exoderm {versions['exoderm']}, skinlab {versions['skinlab_engine']}")
    for row in results.endpoints:
        for summary in row.responders:
            line(f"{row.metric} {row.region} {row.visit}: {summary.result.method}")
            break
    return bytes(pdf.output())
