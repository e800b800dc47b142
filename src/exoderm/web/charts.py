"""A temperature log as an inline SVG: the allowed range as a band, excursions and gaps marked.

Server-rendered, so the page needs no chart library and no script; colours come from the CSS
classes, so the SVG needs no inline style either (the CSP forbids it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from exoderm.products.coldchain import CheckResult

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
# The line needs no more points than the chart has pixels: longer logs are reduced to the lowest
# and highest reading of each slice, so no peak disappears (and every excursion keeps its own dot).
MAX_POINTS = 800


def temperature_chart(
    readings: Sequence[tuple[dt.datetime, Decimal]], *, minimum: Decimal, maximum: Decimal, found: CheckResult
) -> SafeString:
    """The SVG markup of the log ``readings`` (ordered by time) against ``[minimum, maximum]``."""
    if not readings:
        return SafeString("")
    times = [moment.timestamp() for moment, _c in readings]
    values = [float(c) for _m, c in readings]
    low = min([*values, float(minimum)])
    high = max([*values, float(maximum)])
    pad = max((high - low) * 0.08, 0.5)
    low, high = low - pad, high + pad
    start, end = times[0], times[-1] if times[-1] > times[0] else times[0] + 1

    def x(t: float) -> float:
        return LEFT + (t - start) / (end - start) * (WIDTH - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in _thin(list(zip(times, values, strict=True))))
    band_top, band_bottom = y(float(maximum)), y(float(minimum))
    gaps = format_html_join(
        "",
        '<rect class="gap" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        (
            (
                _n(x(g.start.timestamp())),
                TOP,
                _n(max(x(g.end.timestamp()) - x(g.start.timestamp()), 2)),
                HEIGHT - TOP - BOTTOM,
                _("No readings from %(start)s to %(end)s") % {"start": _when(g.start), "end": _when(g.end)},
            )
            for g in found.gaps
        ),
    )
    dots = format_html_join(
        "",
        '<circle class="excursion" cx="{}" cy="{}" r="4"><title>{} · {} °C</title></circle>',
        (
            (
                x(e.recorded_at.timestamp()),
                y(float(e.celsius)),
                _when(e.recorded_at),
                formats.localize(e.celsius),
            )
            for e in found.excursions
        ),
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (_n(x(t)), HEIGHT - 12, _when(dt.datetime.fromtimestamp(t, tz=dt.UTC)))
            for t in _spread(start, end, 5)
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end">{} °C</text>',
        ((LEFT - 6, _n(y(float(v)) + 4), formats.localize(v)) for v in (maximum, minimum)),
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title chart-desc"'
        ' xmlns="http://www.w3.org/2000/svg">'
        '<title id="chart-title">{title}</title><desc id="chart-desc">{desc}</desc>'
        '<rect class="range" x="{left}" y="{bt}" width="{bw}" height="{bh}"/>'
        '<line class="limit" x1="{left}" x2="{right}" y1="{bt}" y2="{bt}"/>'
        '<line class="limit" x1="{left}" x2="{right}" y1="{bb}" y2="{bb}"/>'
        "{gaps}"
        '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{axis}"/>'
        '<line class="axis" x1="{left}" x2="{right}" y1="{axis}" y2="{axis}"/>'
        '<polyline class="series" points="{points}"/>{dots}{ticks}{labels}</svg>',
        w=WIDTH,
        h=HEIGHT,
        title=_("Temperature log"),
        desc=_(
            "%(count)d readings from %(start)s to %(end)s; allowed range %(min)s to %(max)s °C; "
            "%(excursions)d excursions, %(gaps)d gaps."
        )
        % {
            "count": len(readings),
            "start": _when(readings[0][0]),
            "end": _when(readings[-1][0]),
            "min": formats.localize(minimum),
            "max": formats.localize(maximum),
            "excursions": len(found.excursions),
            "gaps": len(found.gaps),
        },
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        axis=HEIGHT - BOTTOM,
        bt=_n(band_top),
        bb=_n(band_bottom),
        bw=WIDTH - LEFT - RIGHT,
        bh=_n(band_bottom - band_top),
        gaps=gaps,
        points=points,
        dots=dots,
        ticks=ticks,
        labels=labels,
    )


def _thin(series: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most about MAX_POINTS points: per slice its lowest and highest reading, in time order."""
    size = -(-len(series) // (MAX_POINTS // 2))
    if size <= 1:
        return series
    result = []
    for start in range(0, len(series), size):
        part = series[start : start + size]
        low, high = min(part, key=lambda p: p[1]), max(part, key=lambda p: p[1])
        result.extend(sorted({low, high}))
    return result


def _n(value: float) -> str:
    return f"{value:.1f}"


def _when(moment: dt.datetime) -> str:
    return formats.date_format(localtime(moment), "SHORT_DATETIME_FORMAT")


def _spread(start: float, end: float, count: int) -> list[float]:
    return [start + (end - start) * i / (count - 1) for i in range(count)]
