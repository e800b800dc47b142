"""The results' figures: inline SVG for the page (server-rendered: no script, no CDN) and
matplotlib (Agg, bundled fonts) PNG/SVG for the report and papers.

Each figure is drawn from :class:`~exoderm.studies.analysis.results.StudyResults` only: change from
baseline per arm and visit with its CI, the per-participant paired changes (a slope chart), the
GAIS distribution per arm (stacked bars), the healing curves per arm (or pooled while blinded) and
the CONSORT flow.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from exoderm.studies.analysis.data import BASELINE
from exoderm.studies.analysis.results import POOLED, StudyResults, visit_label
from exoderm.studies.models import EndpointKind

COLOURS = ["#1f6f8b", "#d1495b", "#66a182", "#edae49", "#6c5b7b", "#2e4057"]
GAIS_COLOURS = {1: "#1a9850", 2: "#91cf60", 3: "#d9ef8b", 4: "#cccccc", 5: "#d73027"}
GAIS_NAMES = {1: "very much improved", 2: "much improved", 3: "improved", 4: "no change", 5: "worse"}


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[str, float | None, float | None, float | None]]  # visit, estimate, low, high


def change_series(results: StudyResults) -> tuple[str, list[Series]]:
    """Per arm (or pooled) the mean change from baseline at each visit of the first metric
    endpoint (the primary one if it is a metric), with its CI."""
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
                points.append((row.visit, found.estimate, found.ci_low, found.ci_high))
        series.append(Series(arm, points))
    return f"{first.metric} ({first.region})", series


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


def change_svg(results: StudyResults, title: str) -> str:
    label, series = change_series(results)
    values = [v for s in series for _v, e, lo, hi in s.points for v in (e, lo, hi) if v is not None]
    if not values:
        return ""
    width, height, left, right, top, bottom = 560, 260, 60, 120, 20, 220
    visits = [p[0] for p in series[0].points]
    low, high, y = _scale([*values, 0.0], top, bottom)
    step = (width - left - right) / max(len(visits) - 1, 1)
    body = [_guide(y(0), left, width - right, dashed=True)]
    for index, visit in enumerate(visits):
        body.append(
            _el(
                "text",
                visit,
                x=f"{left + index * step:.1f}",
                y=bottom + 18,
                text_anchor="middle",
                font_size=11,
            )
        )
    for tick in (low, (low + high) / 2, high):
        body.append(
            f'<text x="{left - 6}" y="{y(tick):.1f}" text-anchor="end" font-size="11">{tick:.1f}</text>'
        )
    for number, s in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        path = []
        for index, (_visit, estimate, ci_low, ci_high) in enumerate(s.points):
            x = left + index * step + (number - (len(series) - 1) / 2) * 6
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
        body.append(
            _el("text", s.name, x=width - right + 10, y=top + 16 * (number + 1), fill=colour, font_size=12)
        )
    body.append(f'<text x="{left}" y="12" font-size="12">{escape(label)}</text>')
    return _svg(width, height, body, title)


def slopes_svg(results: StudyResults, title: str) -> str:
    found = slopes(results)
    if not found:
        return ""
    width, height, top, bottom = 320, 260, 20, 220
    _low, _high, y = _scale([v for _a, b, c in found for v in (b, c)], top, bottom)
    arms = sorted({a for a, _b, _c in found})
    body = [
        f'<text x="80" y="{bottom + 18}" text-anchor="middle" font-size="11">baseline</text>',
        _el(
            "text",
            visit_label(results.data.visits[-1]),
            x=240,
            y=bottom + 18,
            text_anchor="middle",
            font_size=11,
        ),
    ]
    for arm, before, after in found:
        colour = COLOURS[arms.index(arm) % len(COLOURS)]
        body.append(
            _el(
                "line",
                x1=80,
                y1=f"{y(before):.1f}",
                x2=240,
                y2=f"{y(after):.1f}",
                stroke=colour,
                stroke_opacity=0.7,
            )
        )
    for number, arm in enumerate(arms):
        body.append(
            _el(
                "text",
                arm,
                x=262,
                y=top + 16 * (number + 1),
                fill=COLOURS[number % len(COLOURS)],
                font_size=12,
            )
        )
    return _svg(width, height, body, title)


def gais_svg(results: StudyResults, title: str) -> str:
    distribution = gais_distribution(results)
    if not distribution:
        return ""
    width, bar, gap, top = 760, 26, 14, 10
    height = top + len(distribution) * (bar + gap) + 40
    body = []
    for row, (arm, counts) in enumerate(distribution.items()):
        total = sum(counts.values())
        x, y0 = 80.0, top + row * (bar + gap)
        body.append(
            f'<text x="72" y="{y0 + bar * 0.7:.1f}" text-anchor="end" font-size="12">{escape(arm)}</text>'
        )
        for code in range(1, 6):
            share = counts.get(code, 0) / total
            w = share * (width - 100)
            if w:
                body.append(
                    f'<rect x="{x:.1f}" y="{y0}" width="{w:.1f}" height="{bar}" fill="{GAIS_COLOURS[code]}">'
                    f"<title>{escape(GAIS_NAMES[code])}: {counts.get(code, 0)}</title></rect>"
                )
            x += w
    legend_y = top + len(distribution) * (bar + gap) + 14
    for code in range(1, 6):
        lx = 80 + (code - 1) * 135
        body.append(f'<rect x="{lx}" y="{legend_y}" width="10" height="10" fill="{GAIS_COLOURS[code]}"/>')
        body.append(
            f'<text x="{lx + 14}" y="{legend_y + 9}" font-size="10">{escape(GAIS_NAMES[code])}</text>'
        )
    return _svg(width, height, body, title)


def healing_svg(results: StudyResults, title: str, *, days_label: str, share_label: str) -> str:
    """The healing curves per arm: mean redness as a share of its peak by day after the session,
    with the half-way line that the days-to-half result reads."""
    series = healing_series(results)
    if not series:
        return ""
    width, height, left, right, top, bottom = 560, 260, 60, 120, 20, 220
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
    for number, (arm, points) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        path = " ".join(f"{x(day):.1f},{y(share):.1f}" for day, share, _n in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for day, share, n in points:
            body.append(
                f'<circle cx="{x(day):.1f}" cy="{y(share):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(arm)}: {day} d, {share:.2f} (n={n})</title></circle>"
            )
        body.append(
            _el("text", arm, x=width - right + 10, y=top + 16 * (number + 1), fill=colour, font_size=12)
        )
    return _svg(width, height, body, title)


def consort_svg(results: StudyResults, labels: dict[str, str], title: str) -> str:
    """Boxes of the CONSORT flow; ``labels`` gives the (translated) words of each box."""
    c = results.consort
    rows = [
        f"{labels['assessed']}: {c.assessed}",
        f"{labels['excluded']}: {c.excluded}"
        + "".join(f" · {escape(k)} {v}" for k, v in c.excluded_by_reason.items()),
        f"{labels['randomized']}: {c.randomized}",
        f"{labels['allocated']}: " + ", ".join(f"{k} {v}" for k, v in c.allocated.items()),
        f"{labels['lost']}: {c.lost_to_follow_up}",
        f"{labels['analysed']}: " + ", ".join(f"{k} {v}" for k, v in c.analysed.items()),
    ]
    width, box, gap = 560, 30, 16
    body = []
    for index, text in enumerate(rows):
        y0 = 6 + index * (box + gap)
        body.append(
            f'<rect x="60" y="{y0}" width="440" height="{box}" rx="4" fill="#f4f7f9" stroke="#1f6f8b"/>'
        )
        body.append(f'<text x="280" y="{y0 + 19}" text-anchor="middle" font-size="12">{escape(text)}</text>')
        if index:
            body.append(f'<line x1="280" y1="{y0 - gap}" x2="280" y2="{y0}" stroke="#1f6f8b"/>')
    return _svg(width, 6 + len(rows) * (box + gap), body, title)


# --- matplotlib (report, papers) ------------------------------------------------------------------


def matplotlib_figures(results: StudyResults, *, fmt: str = "png") -> dict[str, bytes]:
    """The change, GAIS and healing figures as ``fmt`` (png for the PDF, svg or pdf for papers)."""
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
        axes.set_ylabel(f"change, {label}")
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
                    label=GAIS_NAMES[code] if row == 0 else None,
                )
                left += share
        axes.set_yticks(range(len(distribution)), list(distribution))
        axes.set_xlim(0, 1)
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
                label=arm,
                color=COLOURS[number % len(COLOURS)],
            )
        axes.axhline(0.5, color="#999", linestyle="--", linewidth=0.8)
        axes.axhline(0, color="#999", linewidth=0.8)
        axes.set_xlabel("days after the session")
        axes.set_ylabel("redness, share of its peak")
        axes.legend(frameon=False)
        figure.tight_layout()
        figures["healing"] = _save(figure, fmt)
        plt.close(figure)
    return figures


def _save(figure: object, fmt: str) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format=fmt)  # type: ignore[attr-defined]
    return out.getvalue()
