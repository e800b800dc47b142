"""The temperature chart: range band, every excursion a dot, gaps shaded, long logs thinned."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from exoderm.products.coldchain import check
from exoderm.web.charts import MAX_POINTS, temperature_chart

START = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def log(count, *, hot=(), skip=()):
    return [
        (START + dt.timedelta(minutes=15 * i), Decimal("-5.0") if i in hot else Decimal("-20.0"))
        for i in range(count)
        if i not in skip
    ]


def chart(readings):
    found = check(readings, minimum=Decimal("-25"), maximum=Decimal("-15"), interval_minutes=15)
    return str(temperature_chart(readings, minimum=Decimal("-25"), maximum=Decimal("-15"), found=found))


def test_excursions_and_gaps_are_marked():
    svg = chart(log(40, hot={7, 30}, skip={20, 21, 22}))
    assert svg.count('class="excursion"') == 2
    assert svg.count('class="gap"') == 1
    assert 'class="range"' in svg and svg.count('class="limit"') == 2
    assert "style=" not in svg


def test_a_long_log_is_thinned_but_keeps_its_peaks():
    readings = log(20_000, hot={12_345})
    svg = chart(readings)
    points = svg.split('points="', 1)[1].split('"', 1)[0].split()
    assert len(points) <= MAX_POINTS + 2
    assert svg.count('class="excursion"') == 1
    top = min(float(p.split(",")[1]) for p in points)  # the highest temperature is the smallest y
    dot_y = float(svg.split('class="excursion" cx="', 1)[1].split('cy="', 1)[1].split('"', 1)[0])
    assert abs(top - dot_y) < 0.1


def test_no_readings_no_chart():
    assert chart([]) == ""
