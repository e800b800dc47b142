"""One metric over a course's photos as an inline SVG: the baseline, the noise band around it
and each later photo marked by whether its change lies beyond the noise.

Server-rendered like the temperature chart (:mod:`exoderm.web.charts`): no chart library, no
script, colours from CSS classes (the CSP forbids inline styles).
"""

from __future__ import annotations

from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from exoderm.photos.selectors import BASELINE, Trend, TrendPoint, Verdict, number_text

WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 14, 34

#: The CSS class of a point, by its verdict.
POINT_CLASS = {
    BASELINE: "baseline",
    Verdict.BEYOND_NOISE: "beyond",
    Verdict.NO_CHANGE: "within",
    Verdict.NOT_JUDGED: "unjudged",
}


def _verdict_words(point: TrendPoint) -> str:
    if point.verdict == BASELINE:
        return _("baseline")
    if point.verdict == Verdict.BEYOND_NOISE:
        return _("beyond the noise")
    if point.verdict == Verdict.NO_CHANGE:
        return _("no measurable change")
    return _("cannot be judged")


def trend_chart(trend: Trend, *, chart_id: str) -> SafeString:
    """The SVG markup of ``trend``; ``chart_id`` makes its title and description ids unique."""
    measured = [p for p in trend.points if p.value is not None]
    if not measured:
        return SafeString("")
    base = trend.baseline.value
    band = [(p, p.mdc) for p in measured if p.mdc is not None and base is not None]
    values = [p.value for p in measured if p.value is not None]
    if base is not None:
        values += [base + mdc for _p, mdc in band] + [base - mdc for _p, mdc in band]
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, abs(high) * 0.02, 1e-6)
    low, high = low - pad, high + pad
    times = [p.taken_at.timestamp() for p in measured]
    start, end = min(times), max(times)
    if end <= start:
        start, end = start - 86400, end + 86400

    def x(point: TrendPoint) -> float:
        return LEFT + (point.taken_at.timestamp() - start) / (end - start) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    noise = SafeString("")
    if band and base is not None:
        # the band steps with each comparison's own minimal detectable change (it depends on the
        # photos' scale and calibration); it starts at the baseline with the first one
        baseline_x = x(trend.baseline)
        upper = [(baseline_x, base + band[0][1])] + [(x(p), base + mdc) for p, mdc in band]
        lower = [(baseline_x, base - band[0][1])] + [(x(p), base - mdc) for p, mdc in band]
        corners = " ".join(f"{px:.1f},{y(v):.1f}" for px, v in upper + lower[::-1])
        noise = format_html('<polygon class="noise" points="{}"/>', corners)
    reference = SafeString("")
    if base is not None:
        reference = format_html(
            '<line class="reference" x1="{}" x2="{}" y1="{}" y2="{}"/>',
            LEFT,
            WIDTH - RIGHT,
            _n(y(base)),
            _n(y(base)),
        )
    line = " ".join(f"{x(p):.1f},{y(p.value):.1f}" for p in measured if p.value is not None)
    dots = format_html_join(
        "",
        '<circle class="{}" cx="{}" cy="{}" r="5"><title>{}: {} ({})</title></circle>',
        (
            (
                POINT_CLASS.get(p.verdict, "unjudged"),
                _n(x(p)),
                _n(y(p.value)),
                _day(p),
                number_text(p.value),
                _verdict_words(p),
            )
            for p in measured
            if p.value is not None
        ),
    )
    axis_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end">{}</text>',
        ((LEFT - 6, _n(y(v) + 4), number_text(v)) for v in (high - pad, low + pad)),
    )
    first, last = measured[0], measured[-1]
    date_labels = format_html(
        '<text x="{}" y="{}" text-anchor="start">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>',
        LEFT,
        HEIGHT - 10,
        _day(first),
        WIDTH - RIGHT,
        HEIGHT - 10,
        _day(last),
    )
    beyond = sum(1 for p in measured if p.verdict == Verdict.BEYOND_NOISE)
    description = _(
        "%(label)s on %(count)d photos from %(start)s to %(end)s, baseline %(base)s; "
        "%(beyond)d of the later photos differ from the baseline beyond the measurement noise."
    ) % {
        "label": trend.label,
        "count": len(measured),
        "start": _day(first),
        "end": _day(last),
        "base": "–" if base is None else number_text(base),
        "beyond": beyond,
    }
    return format_html(
        '<svg class="chart trend" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc"'
        ' xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        "{noise}{reference}"
        '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{axis}"/>'
        '<line class="axis" x1="{left}" x2="{right}" y1="{axis}" y2="{axis}"/>'
        '<polyline class="series" points="{line}"/>{dots}{axis_labels}{date_labels}</svg>',
        w=WIDTH,
        h=HEIGHT,
        id=chart_id,
        title=trend.label,
        desc=description,
        noise=noise,
        reference=reference,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        axis=HEIGHT - BOTTOM,
        line=line,
        dots=dots,
        axis_labels=axis_labels,
        date_labels=date_labels,
    )


def _n(value: float) -> str:
    return f"{value:.1f}"


def _day(point: TrendPoint) -> str:
    return formats.date_format(localtime(point.taken_at), "SHORT_DATE_FORMAT")
