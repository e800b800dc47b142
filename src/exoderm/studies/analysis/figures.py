"""The results' figures: inline SVG for the page (server-rendered: no script, no CDN) and
matplotlib (Agg, bundled fonts) PNG/SVG for the report and papers.

Each figure is drawn from :class:`~exoderm.studies.analysis.results.StudyResults` only: change from
baseline per arm and visit with its CI, the per-participant paired changes (a slope chart), the
GAIS distribution per arm (stacked bars), the healing curves per arm (or pooled while blinded) and
the CONSORT flow. Metrics, regions, visits, arms, GAIS scores and the reasons for not enrolling are
named as the results page names them (:mod:`.names`), in the active language.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from django.utils.formats import get_format, number_format
from django.utils.translation import gettext as _

from exoderm.studies.analysis.data import BASELINE
from exoderm.studies.analysis.names import (
    arm_name,
    exclusion_reason_name,
    gais_name,
    metric_name,
    visit_name,
)
from exoderm.studies.analysis.results import POOLED, StudyResults
from exoderm.studies.models import EndpointKind

COLOURS = ["#1f6f8b", "#d1495b", "#66a182", "#edae49", "#6c5b7b", "#2e4057"]
GAIS_COLOURS = {1: "#1a9850", 2: "#91cf60", 3: "#d9ef8b", 4: "#cccccc", 5: "#d73027"}
# about how wide one character of an 11 px label is, to tell whether the visits' names fit side by side
TEXT_WIDTH = 6.0


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[str, float | None, float | None, float | None]]  # visit, estimate, low, high


def change_series(results: StudyResults) -> tuple[str, list[Series]]:
    """Per arm (or pooled) the mean change from baseline at each visit of the first metric
    endpoint (the primary one if it is a metric), with its CI; the endpoint, arms and visits by
    their names."""
    metric = [e for e in results.endpoints if e.kind == EndpointKind.METRIC]
    if not metric:
        return "", []
    first = min(metric, key=lambda e: (not e.primary, e.endpoint))
    rows = [e for e in metric if e.endpoint == first.endpoint]
    arms = sorted({s.arm for row in rows for s in row.per_arm})
    series = []
    for arm in arms:
        points = []
        for row in rows:
            found = next((s.result for s in row.per_arm if s.arm == arm), None)
            if found is not None:
                visit = visit_name((row.session_number, row.weeks_after_session))
                points.append((visit, found.estimate, found.ci_low, found.ci_high))
        series.append(Series(arm_name(arm, results.arm_names), points))
    return metric_name(first.metric, first.region), series


def slopes(results: StudyResults) -> list[tuple[str, float, float]]:
    """Per participant and side: (arm or side, baseline value, last visit's value) of the first
    metric endpoint."""
    endpoints = [e for e in results.data.endpoints if e.kind == EndpointKind.METRIC]
    if not endpoints:
        return []
    endpoint = endpoints[0]
    last = results.data.visits[-1] if results.data.visits else BASELINE
    found = []
    for p in results.data.participants:
        for side in results.data.sides:
            before = p.metrics.get((endpoint.pk, side, BASELINE))
            after = p.metrics.get((endpoint.pk, side, last))
            if before and after and before.value is not None and after.value is not None:
                found.append((p.arms.get(side, POOLED), before.value, after.value))
    return found


def gais_distribution(results: StudyResults) -> dict[str, Counter[int]]:
    """Per arm (or pooled) how many sides got each GAIS at the primary GAIS visit (raters' mean,
    rounded)."""
    gais = next((e for e in results.data.endpoints if e.kind == EndpointKind.GAIS), None)
    if gais is None:
        return {}
    visit = (gais.session_number, gais.weeks_after_session)
    found: dict[str, Counter[int]] = {}
    for p in results.data.participants:
        for side in results.data.sides:
            scores = p.gais.get((visit, side))
            if scores:
                arm = p.arms.get(side, POOLED)
                found.setdefault(arm, Counter())[round(sum(scores.values()) / len(scores))] += 1
    return dict(sorted(found.items()))


def healing_series(results: StudyResults) -> dict[str, list[tuple[int, float, int]]]:
    """Per arm (or pooled while the allocation is hidden) the healing curve: for each whole day
    after the sessions, the mean redness as a share of its peak over the sides' curves with a
    photo that day (1 the peak, 0 the redness before the session), and how many curves that is."""
    found: dict[str, dict[int, list[float]]] = {}
    for p in results.data.participants:
        for side, curves in p.healing_curves.items():
            arm = p.arms.get(side, POOLED)
            for curve in curves:
                for days, share in curve:
                    found.setdefault(arm, {}).setdefault(round(days), []).append(share)
    return {
        arm: [(day, sum(shares) / len(shares), len(shares)) for day, shares in sorted(by_day.items())]
        for arm, by_day in sorted(found.items())
    }


# --- SVG ----------------------------------------------------------------------------------------


def _el(tag: str, text: str = "", **attributes: object) -> str:
    """One SVG element; attribute names with ``_`` become ``-``, the text is escaped."""
    attrs = " ".join(f'{name.rstrip("_").replace("_", "-")}="{value}"' for name, value in attributes.items())
    return f"<{tag} {attrs}>{escape(text)}</{tag}>" if text else f"<{tag} {attrs}/>"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" role="img" '
        f'class="figure" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _tick(value: float) -> str:
    """An axis value to one decimal in the reader's number format (``-5,6`` in German)."""
    return number_format(round(value, 1) + 0.0, decimal_pos=1, use_l10n=True)


def _reader_format(*axes: Any) -> None:
    """Numbered matplotlib axes in the reader's number format: matplotlib's own tick text (its
    choice of decimals and its minus sign) with the language's decimal separator."""
    from matplotlib.ticker import ScalarFormatter

    separator = get_format("DECIMAL_SEPARATOR")

    class ReaderFormatter(ScalarFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return super().__call__(x, pos).replace(".", separator)

    for axis in axes:
        axis.set_major_formatter(ReaderFormatter())


def _guide(y: float, x0: float, x1: float, *, dashed: bool = False) -> str:
    """A grey horizontal reference line (zero, or the half-way level), dashed or solid."""
    dash = {"stroke_dasharray": "4 3"} if dashed else {}
    return _el("line", x1=x0, y1=f"{y:.1f}", x2=x1, y2=f"{y:.1f}", stroke="#999", **dash)


def _scale(
    values: list[float], low_px: float, high_px: float
) -> tuple[float, float, Callable[[float], float]]:
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.1
    low, high = low - pad, high + pad

    def to_px(value: float) -> float:
        return high_px - (value - low) / (high - low) * (high_px - low_px)

    return low, high, to_px


def _legend(names: list[str], *, x: float, y: float) -> list[str]:
    """The arms' names in their colours, one a line from ``y`` down: below the plot, where a long
    name has the figure's width."""
    return [
        _el("text", name, x=x, y=f"{y + 16 * number:.1f}", fill=COLOURS[number % len(COLOURS)], font_size=12)
        for number, name in enumerate(names)
    ]


def _ticks(labels: list[str], xs: list[float], y: float, room: float) -> tuple[list[str], float]:
    """The visits' names under the x axis and the height they take: slanted where one is wider than
    the ``room`` between two ticks, so that neighbours do not overlap."""
    widest = max((len(label) for label in labels), default=0) * TEXT_WIDTH
    if widest <= room:
        return [
            _el("text", label, x=f"{x:.1f}", y=y, text_anchor="middle", font_size=11)
            for label, x in zip(labels, xs, strict=True)
        ], 18
    return [
        _el(
            "text",
            label,
            x=f"{x:.1f}",
            y=y,
            text_anchor="end",
            font_size=11,
            transform=f"rotate(-30 {x:.1f} {y})",
        )
        for label, x in zip(labels, xs, strict=True)
    ], widest / 2 + 18


def change_svg(results: StudyResults, title: str) -> str:
    label, series = change_series(results)
    values = [v for s in series for _v, e, lo, hi in s.points for v in (e, lo, hi) if v is not None]
    if not values:
        return ""
    width, left, right, top, bottom = 560, 60, 20, 24, 220
    visits = [p[0] for p in series[0].points]
    low, high, y = _scale([*values, 0.0], top, bottom)
    # each visit in the middle of its share of the width, so its name stays inside the figure
    step = (width - left - right) / max(len(visits), 1)
    xs = [left + (index + 0.5) * step for index in range(len(visits))]
    body = [_guide(y(0), left, width - right, dashed=True)]
    ticks, tick_height = _ticks(visits, xs, bottom + 18, step)
    body += ticks
    for tick in (low, (low + high) / 2, high):
        body.append(
            f'<text x="{left - 6}" y="{y(tick):.1f}" text-anchor="end" font-size="11">{_tick(tick)}</text>'
        )
    for number, s in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        path = []
        for index, (_visit, estimate, ci_low, ci_high) in enumerate(s.points):
            x = xs[index] + (number - (len(series) - 1) / 2) * 6
            if ci_low is not None and ci_high is not None:
                body.append(
                    _el(
                        "line",
                        x1=f"{x:.1f}",
                        y1=f"{y(ci_low):.1f}",
                        x2=f"{x:.1f}",
                        y2=f"{y(ci_high):.1f}",
                        stroke=colour,
                    )
                )
            if estimate is not None:
                path.append(f"{x:.1f},{y(estimate):.1f}")
                body.append(f'<circle cx="{x:.1f}" cy="{y(estimate):.1f}" r="3.5" fill="{colour}"/>')
        body.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    legend_y = bottom + tick_height + 16
    body += _legend([s.name for s in series], x=left, y=legend_y)
    body.append(_el("text", label, x=left, y=14, font_size=12))
    return _svg(width, round(legend_y + 16 * len(series)), body, title)


def slopes_svg(results: StudyResults, title: str) -> str:
    found = slopes(results)
    if not found:
        return ""
    width, top, bottom, before_x, after_x = 360, 20, 220, 90, 250
    _low, _high, y = _scale([v for _a, b, c in found for v in (b, c)], top, bottom)
    arms = sorted({a for a, _b, _c in found})
    ticks, tick_height = _ticks(
        [visit_name(BASELINE), visit_name(results.data.visits[-1])],
        [before_x, after_x],
        bottom + 18,
        after_x - before_x,
    )
    body = list(ticks)
    for arm, before, after in found:
        colour = COLOURS[arms.index(arm) % len(COLOURS)]
        body.append(
            _el(
                "line",
                x1=before_x,
                y1=f"{y(before):.1f}",
                x2=after_x,
                y2=f"{y(after):.1f}",
                stroke=colour,
                stroke_opacity=0.7,
            )
        )
    legend_y = bottom + tick_height + 16
    body += _legend([arm_name(arm, results.arm_names) for arm in arms], x=20, y=legend_y)
    return _svg(width, round(legend_y + 16 * len(arms)), body, title)


def gais_svg(results: StudyResults, title: str) -> str:
    distribution = gais_distribution(results)
    if not distribution:
        return ""
    # each arm's name above its bar, where a long name has the whole width
    width, label, bar, gap, top, left = 760, 16, 26, 12, 4, 20
    row_height = label + bar + gap
    height = top + len(distribution) * row_height + 24
    body = []
    for row, (arm, counts) in enumerate(distribution.items()):
        total = sum(counts.values())
        x, y0 = float(left), top + row * row_height + label
        body.append(_el("text", arm_name(arm, results.arm_names), x=left, y=y0 - 4, font_size=12))
        for code in range(1, 6):
            share = counts.get(code, 0) / total
            w = share * (width - 2 * left)
            if w:
                body.append(
                    f'<rect x="{x:.1f}" y="{y0}" width="{w:.1f}" height="{bar}" fill="{GAIS_COLOURS[code]}">'
                    f"<title>{escape(gais_name(code))}: {counts.get(code, 0)}</title></rect>"
                )
            x += w
    legend_y = top + len(distribution) * row_height + 4
    for code in range(1, 6):
        lx = left + (code - 1) * 145
        body.append(f'<rect x="{lx}" y="{legend_y}" width="10" height="10" fill="{GAIS_COLOURS[code]}"/>')
        body.append(_el("text", gais_name(code), x=lx + 14, y=legend_y + 9, font_size=10))
    return _svg(width, height, body, title)


def healing_svg(results: StudyResults, title: str, *, days_label: str, share_label: str) -> str:
    """The healing curves per arm: mean redness as a share of its peak by day after the session,
    with the half-way line that the days-to-half result reads."""
    series = healing_series(results)
    if not series:
        return ""
    width, left, right, top, bottom = 560, 60, 20, 20, 220
    last_day = max(day for points in series.values() for day, _share, _n in points)
    shares = [share for points in series.values() for _day, share, _n in points]
    _low, _high, y = _scale([*shares, 0.0, 1.0], top, bottom)

    def x(day: float) -> float:
        return left + day / max(last_day, 1) * (width - left - right)

    body = [
        _guide(y(0), left, width - right),
        _guide(y(0.5), left, width - right, dashed=True),
        _el("text", "½", x=left - 8, y=f"{y(0.5) + 4:.1f}", text_anchor="end", font_size=11),
        _el("text", "1", x=left - 8, y=f"{y(1) + 4:.1f}", text_anchor="end", font_size=11),
        _el("text", "0", x=left - 8, y=f"{y(0) + 4:.1f}", text_anchor="end", font_size=11),
        _el(
            "text",
            days_label,
            x=(left + width - right) / 2,
            y=bottom + 34,
            text_anchor="middle",
            font_size=11,
        ),
        _el("text", share_label, x=4, y=top - 6, font_size=11),
    ]
    for day in range(0, last_day + 1, max(1, last_day // 7)):
        body.append(
            _el("text", str(day), x=f"{x(day):.1f}", y=bottom + 16, text_anchor="middle", font_size=10)
        )
    names = [arm_name(arm, results.arm_names) for arm in series]
    for number, (name, points) in enumerate(zip(names, series.values(), strict=True)):
        colour = COLOURS[number % len(COLOURS)]
        path = " ".join(f"{x(day):.1f},{y(share):.1f}" for day, share, _n in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for day, share, n in points:
            body.append(
                f'<circle cx="{x(day):.1f}" cy="{y(share):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: {day} d, {share:.2f} (n={n})</title></circle>"
            )
    legend_y = bottom + 56
    body += _legend(names, x=left, y=legend_y)
    return _svg(width, legend_y + 16 * len(series), body, title)


def consort_svg(results: StudyResults, labels: dict[str, str], title: str) -> str:
    """Boxes of the CONSORT flow; ``labels`` gives the (translated) words of each box. The excluded
    box names each reason on a line of its own."""
    c = results.consort

    def per_arm(counts: dict[str, int]) -> str:
        return ", ".join(f"{arm_name(arm, results.arm_names)} {n}" for arm, n in counts.items())

    boxes = [
        [f"{labels['assessed']}: {c.assessed}"],
        [
            f"{labels['excluded']}: {c.excluded}",
            *(f"{exclusion_reason_name(reason)}: {n}" for reason, n in c.excluded_by_reason.items()),
        ],
        [f"{labels['randomized']}: {c.randomized}"],
        [f"{labels['allocated']}: {per_arm(c.allocated)}"],
        [f"{labels['lost']}: {c.lost_to_follow_up}"],
        [f"{labels['analysed']}: {per_arm(c.analysed)}"],
    ]
    width, line_height, padding, gap = 560, 16, 7, 16
    body = []
    y0 = 6
    for index, lines in enumerate(boxes):
        box = len(lines) * line_height + 2 * padding
        body.append(
            f'<rect x="60" y="{y0}" width="440" height="{box}" rx="4" fill="#f4f7f9" stroke="#1f6f8b"/>'
        )
        for number, text in enumerate(lines):
            y = y0 + padding + 12 + number * line_height
            body.append(
                _el("text", text, x=280, y=y, text_anchor="middle", font_size=12 if number == 0 else 11)
            )
        if index:
            body.append(f'<line x1="280" y1="{y0 - gap}" x2="280" y2="{y0}" stroke="#1f6f8b"/>')
        y0 += box + gap
    return _svg(width, y0, body, title)


# --- matplotlib (report, papers) ------------------------------------------------------------------


def matplotlib_figures(results: StudyResults, *, fmt: str = "png") -> dict[str, bytes]:
    """The change, GAIS and healing figures as ``fmt`` (png for the PDF, svg or pdf for papers),
    worded in the active language (the report's)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figures: dict[str, bytes] = {}
    label, series = change_series(results)
    if series:
        figure, axes = plt.subplots(figsize=(6, 3.2), dpi=150)
        for number, s in enumerate(series):
            xs = [i + (number - (len(series) - 1) / 2) * 0.06 for i in range(len(s.points))]
            estimates = [e if e is not None else float("nan") for _v, e, _lo, _hi in s.points]
            errors = [
                [(e - lo) if e is not None and lo is not None else 0 for _v, e, lo, _hi in s.points],
                [(hi - e) if e is not None and hi is not None else 0 for _v, e, _lo, hi in s.points],
            ]
            axes.errorbar(
                xs, estimates, yerr=errors, marker="o", capsize=3, label=s.name, color=COLOURS[number]
            )
        axes.axhline(0, color="#999", linestyle="--", linewidth=0.8)
        axes.set_xticks(range(len(series[0].points)), [p[0] for p in series[0].points])
        axes.set_ylabel(_("change from baseline") + f"\n{label}", fontsize=8)
        _reader_format(axes.yaxis)
        axes.legend(frameon=False)
        figure.tight_layout()
        figures["change"] = _save(figure, fmt)
        plt.close(figure)
    distribution = gais_distribution(results)
    if distribution:
        figure, axes = plt.subplots(figsize=(6, 0.7 + 0.5 * len(distribution)), dpi=150)
        for row, (_arm, counts) in enumerate(distribution.items()):
            left = 0.0
            total = sum(counts.values())
            for code in range(1, 6):
                share = counts.get(code, 0) / total
                axes.barh(
                    row,
                    share,
                    left=left,
                    color=GAIS_COLOURS[code],
                    label=gais_name(code) if row == 0 else None,
                )
                left += share
        axes.set_yticks(range(len(distribution)), [arm_name(arm, results.arm_names) for arm in distribution])
        axes.set_xlim(0, 1)
        _reader_format(axes.xaxis)
        axes.legend(ncol=5, fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.25))
        figure.tight_layout()
        figures["gais"] = _save(figure, fmt)
        plt.close(figure)
    healing = healing_series(results)
    if healing:
        figure, axes = plt.subplots(figsize=(6, 3.2), dpi=150)
        for number, (arm, points) in enumerate(healing.items()):
            axes.plot(
                [day for day, _share, _n in points],
                [share for _day, share, _n in points],
                marker="o",
                label=arm_name(arm, results.arm_names),
                color=COLOURS[number % len(COLOURS)],
            )
        axes.axhline(0.5, color="#999", linestyle="--", linewidth=0.8)
        axes.axhline(0, color="#999", linewidth=0.8)
        axes.set_xlabel(_("days after the session"))
        axes.set_ylabel(_("share of the peak"))
        _reader_format(axes.xaxis, axes.yaxis)
        axes.legend(frameon=False)
        figure.tight_layout()
        figures["healing"] = _save(figure, fmt)
        plt.close(figure)
    return figures


def _save(figure: object, fmt: str) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format=fmt)  # type: ignore[attr-defined]
    return out.getvalue()
