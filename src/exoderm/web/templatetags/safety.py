"""The patient page's adverse-event section and the healing curve drawn as an inline SVG.

The chart is server-rendered, like the temperature chart (``web/charts.py``): no script, no chart
library, colours from CSS classes (the CSP forbids inline styles).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from exoderm.core.areas import Area
from exoderm.core.permissions import Action, can
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.photos.selectors import METRICS
from exoderm.safety import healing, selectors
from exoderm.safety.healing import HealingPoint, SessionHealing, SideCurve
from exoderm.safety.models import Side

register = template.Library()

#: How many of the patient's latest sessions the patient page draws a healing curve for.
CURVES_ON_PATIENT_PAGE = 3

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 40
CSS_OF_SIDE = {Side.FACE_LEFT: "side-left", Side.FACE_RIGHT: "side-right"}


@register.inclusion_tag("web/safety/_patient_events.html", takes_context=True)
def adverse_events_section(context: template.Context, patient: Patient) -> dict[str, Any]:
    """The patient's adverse events with the add form, and the healing curves of their latest
    sessions that have photos after them."""
    from exoderm.web.views.safety import AdverseEventForm, patient_sessions

    user = context["request"].user
    sessions = list(patient_sessions(patient))
    return {
        "patient": patient,
        "user": user,
        "csrf_token": context.get("csrf_token"),
        "events": list(selectors.adverse_events_of(patients=[patient])),
        "may_record": can(user, Action.RECORD_ADVERSE_EVENT),
        "may_correct": can(user, Action.CORRECT_ADVERSE_EVENT),
        "form": AdverseEventForm(sessions=sessions, initial={"onset": clinic_today(patient.clinic)}),
        "curves": healing.latest_healing(patient=patient, sessions=sessions, latest=CURVES_ON_PATIENT_PAGE),
    }


@register.filter
def area_label(area: str) -> str:
    """One area code as its (translated) name."""
    return str(Area(area).label) if area in Area.values else area


def _n(value: float) -> str:
    return f"{value:.1f}"


def _number(value: float) -> str:
    return formats.localize(round(value, 1), use_l10n=True)


def side_summary(curve: SideCurve) -> str:
    """One sentence on the side's curve: its peak and when it was back to half of it."""
    if curve.peak is None:
        return ""
    words = {
        "side": str(Side(curve.side).label),
        "peak": _number(curve.peak.value),
        "day": _number(curve.peak.days),
    }
    if curve.days_to_half is not None:
        words["half"] = _number(curve.days_to_half)
        return _("%(side)s: peak %(peak)s on day %(day)s, back to half of it after %(half)s days.") % words
    if curve.half_level is None:
        return _("%(side)s: %(peak)s at most, no rise above the value before the session.") % words
    return _("%(side)s: peak %(peak)s on day %(day)s, not back to half of it yet.") % words


def _point_title(curve: SideCurve, point: HealingPoint) -> str:
    words = {"side": Side(curve.side).label, "day": _number(point.days), "value": _number(point.value)}
    return _("%(side)s, day %(day)s: %(value)s") % words


@register.filter
def healing_summary(found: SessionHealing) -> list[str]:
    return [side_summary(curve) for curve in found.sides.values()]


@register.filter
def healing_chart(found: SessionHealing) -> SafeString:
    """The SVG of the sides' curves: the value before the session as a thin line, the photos after
    it as dots (filled: beyond the measurement noise), the day each side was back to half its
    peak as a dashed mark."""
    curves = list(found.sides.values())
    if not curves:
        return SafeString("")
    values = [p.value for c in curves for p in c.points] + [c.reference.value for c in curves if c.reference]
    high = max(values) * 1.1 or 1.0
    end = max([found.window_days, *(p.days for c in curves for p in c.points)])

    def x(days: float) -> float:
        return LEFT + days / end * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (high - value) / high * (HEIGHT - TOP - BOTTOM)

    parts = []
    for curve in curves:
        css = CSS_OF_SIDE.get(Side(curve.side), "")
        if curve.reference is not None:
            parts.append(
                format_html(
                    '<line class="reference {}" x1="{}" x2="{}" y1="{y}" y2="{y}"/>',
                    css,
                    LEFT,
                    WIDTH - RIGHT,
                    y=_n(y(curve.reference.value)),
                )
            )
        points = " ".join(f"{_n(x(p.days))},{_n(y(p.value))}" for p in curve.points)
        parts.append(format_html('<polyline class="series {}" points="{}"/>', css, points))
        parts.append(
            format_html_join(
                "",
                '<circle class="point {}{}" cx="{}" cy="{}" r="4"><title>{}</title></circle>',
                (
                    (
                        css,
                        " beyond" if p.beyond_noise else "",
                        _n(x(p.days)),
                        _n(y(p.value)),
                        _point_title(curve, p),
                    )
                    for p in curve.points
                ),
            )
        )
        if curve.days_to_half is not None:
            parts.append(
                format_html(
                    '<line class="half {}" x1="{x}" x2="{x}" y1="{}" y2="{}"/>',
                    css,
                    TOP,
                    HEIGHT - BOTTOM,
                    x=_n(x(curve.days_to_half)),
                )
            )
    step = 1 if end <= 7 else 2
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        ((_n(x(day)), HEIGHT - BOTTOM + 16, day) for day in range(0, int(end) + 1, step)),
    )
    label, _aim = METRICS[found.metric]
    return format_html(
        '<svg class="chart healing" viewBox="0 0 {w} {h}" role="img" aria-labelledby="healing-{id}-title'
        ' healing-{id}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="healing-{id}-title">{title}</title><desc id="healing-{id}-desc">{desc}</desc>'
        '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{axis}"/>'
        '<line class="axis" x1="{left}" x2="{right}" y1="{axis}" y2="{axis}"/>'
        "{parts}{ticks}"
        '<text x="{left_label}" y="{top_label}" text-anchor="end">{high}</text>'
        '<text x="{left_label}" y="{axis}" text-anchor="end">0</text>'
        '<text x="{middle}" y="{caption}" text-anchor="middle">{days}</text></svg>',
        w=WIDTH,
        h=HEIGHT,
        id=found.session_id,
        title=_("Healing curve: %(metric)s per side after the session") % {"metric": label},
        desc=" ".join(healing_summary(found)),
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        axis=HEIGHT - BOTTOM,
        parts=SafeString("".join(parts)),
        ticks=ticks,
        left_label=LEFT - 6,
        top_label=TOP + 4,
        high=_number(high),
        middle=(LEFT + WIDTH - RIGHT) // 2,
        caption=HEIGHT - 6,
        days=_("days after the session"),
    )
