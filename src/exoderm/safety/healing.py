"""The healing curve per half of the face: redness in the days after a session, from the photos
taken then (a read; nothing is measured here, only stored analyses are used).

For each side (the patient's own left and right) the curve takes one series of comparable photos:
close-ups of an area of that side (region ``full``), else the front view's regions of that side
(``cheek_left`` and ``periorbital_left``, their values averaged by area). Of the candidates the
one with the most photos in the window counts, close-ups first on a tie. The last photo of the same
series before the session is the reference: the redness the skin had before it.

``days_to_half`` answers "how long until the redness is back to half its peak": the peak is the
highest value after the session; half of it means half of the excess over the reference (half of
the peak itself when there is no reference). The day is interpolated linearly between the last
photo above that level and the first at or below it; ``None`` while no photo after the peak is
back there (or the redness never rose above the reference).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exoderm.photos.models import Photo, View
from exoderm.photos.selectors import (
    HEALING_DAYS,
    HEALING_METRICS,
    Verdict,
    compare_photos,
    current_analysis,
    photos_of,
)
from exoderm.safety.models import Side
from exoderm.treatments.models import TreatmentSession

if TYPE_CHECKING:
    from exoderm.patients.models import Patient
    from exoderm.photos.models import Analysis

SIDES: dict[str, str] = {Side.FACE_LEFT: "_left", Side.FACE_RIGHT: "_right"}
"""The sides a curve is drawn for, with the suffix of their region and area names."""


@dataclass(frozen=True)
class HealingPoint:
    days: float
    """Days since the session (fractional)."""
    value: float
    photo_id: int
    beyond_noise: bool | None
    """Changed beyond the measurement noise against the reference: True if any of the side's regions
    did, False if each was judged and none did, None when it cannot be judged (no reference, photos
    not comparable, no repeatability study for the metric)."""


@dataclass(frozen=True)
class SideCurve:
    side: str
    view: str
    area: str
    regions: list[str]
    reference: HealingPoint | None
    """The last photo of the series before the session (``days`` negative)."""
    points: list[HealingPoint]
    peak: HealingPoint | None
    half_level: float | None
    days_to_half: float | None


@dataclass(frozen=True)
class SessionHealing:
    session_id: int
    performed_at: dt.datetime
    metric: str
    window_days: float
    """Days the curve covers: ``HEALING_DAYS``, or up to the next session if that comes sooner."""
    sides: dict[str, SideCurve]


def _side_value(analysis: Analysis, regions: list[str], metric: str) -> float | None:
    """The metric over ``regions`` of one analysis, weighted by each region's area (for a single
    region its value): None when no region has it."""
    total = weight = 0.0
    measured = analysis.data.get("regions", {})
    for region in regions:
        value = analysis.metric(region, metric)
        if value is None:
            continue
        area = float(measured.get(region, {}).get("area_px") or 0) or 1.0
        total, weight = total + value * area, weight + area
    return total / weight if weight else None


def _beyond_noise(reference: Photo | None, photo: Photo, regions: list[str], metric: str) -> bool | None:
    if reference is None:
        return None
    comparison = compare_photos(before=reference, after=photo)
    if comparison is None:
        return None
    verdicts = [
        change.verdict
        for region in regions
        for change in comparison.regions.get(region, [])
        if change.key == metric
    ]
    if Verdict.BEYOND_NOISE in verdicts:
        return True
    if verdicts and all(verdict == Verdict.NO_CHANGE for verdict in verdicts):
        return False
    return None


def _series_candidates(photos: list[Photo], suffix: str) -> list[tuple[str, str, list[str]]]:
    """(view, area, regions) of the series that can show one side: close-ups of its areas first."""
    close_up_areas = sorted({p.area for p in photos if p.view == View.CLOSE_UP and p.area.endswith(suffix)})
    candidates = [(str(View.CLOSE_UP), area, ["full"]) for area in close_up_areas]
    candidates.append((str(View.FRONT), "", [f"cheek{suffix}", f"periorbital{suffix}"]))
    return candidates


def _half_way(
    reference: float | None, points: list[HealingPoint]
) -> tuple[HealingPoint | None, float | None, float | None]:
    """The peak, the level that is half of it and the interpolated day the curve got back there."""
    if not points:
        return None, None, None
    peak = max(points, key=lambda point: point.value)
    base = reference if reference is not None else 0.0
    if peak.value <= base:
        return peak, None, None  # no rise above where the skin was: nothing to heal
    level = base + (peak.value - base) / 2
    previous = peak
    for point in points[points.index(peak) + 1 :]:
        if point.value <= level:
            fraction = (previous.value - level) / (previous.value - point.value)
            return peak, level, round(previous.days + fraction * (point.days - previous.days), 1)
        previous = point
    return peak, level, None


def _side_curve(
    session: TreatmentSession, end: dt.datetime, photos: list[Photo], side: str, metric: str
) -> SideCurve | None:
    best: tuple[int, SideCurve] | None = None
    for view, area, regions in _series_candidates(photos, SIDES[side]):
        series: list[tuple[Photo, float]] = []
        for photo in photos:
            if photo.view != view or photo.area != area or photo.taken_at > end:
                continue
            analysis = current_analysis(photo)
            if analysis is None or not analysis.usable:
                continue
            value = _side_value(analysis, regions, metric)
            if value is not None:
                series.append((photo, value))
        before = [(p, v) for p, v in series if p.taken_at <= session.performed_at]
        after = [(p, v) for p, v in series if p.taken_at > session.performed_at]
        if not after:
            continue
        reference_photo = before[-1][0] if before else None

        def days(photo: Photo) -> float:
            return (photo.taken_at - session.performed_at).total_seconds() / 86400

        reference = (
            HealingPoint(days(before[-1][0]), before[-1][1], before[-1][0].pk, None) if before else None
        )
        points = [
            HealingPoint(days(p), v, p.pk, _beyond_noise(reference_photo, p, regions, metric))
            for p, v in after
        ]
        peak, level, to_half = _half_way(reference.value if reference else None, points)
        curve = SideCurve(side, view, area, regions, reference, points, peak, level, to_half)
        if best is None or len(points) > best[0]:
            best = (len(points), curve)
    return best[1] if best else None


def _healing(
    session: TreatmentSession, following: dt.datetime | None, photos: list[Photo], metric: str
) -> SessionHealing:
    end = session.performed_at + dt.timedelta(days=HEALING_DAYS)
    if following is not None:
        end = min(end, following)
    in_window = [photo for photo in photos if photo.taken_at <= end]
    sides = {}
    for side in SIDES:
        curve = _side_curve(session, end, in_window, side, metric)
        if curve is not None:
            sides[side] = curve
    window = (end - session.performed_at).total_seconds() / 86400
    return SessionHealing(session.pk, session.performed_at, metric, window, sides)


def _checked(metric: str) -> None:
    if metric not in HEALING_METRICS:
        raise ValueError(f"healing curves use {HEALING_METRICS}, not {metric!r}")


def session_healing(*, session: TreatmentSession, metric: str = "red_area_pct") -> SessionHealing:
    """The healing curve of each side after ``session`` (a session the caller read within its
    clinic): the redness ``metric`` of the photos taken in the ``HEALING_DAYS`` after it, up to the
    next session. A side without such photos is left out of ``sides``."""
    _checked(metric)
    following = (
        TreatmentSession.objects.filter(patient_id=session.patient_id, performed_at__gt=session.performed_at)
        .order_by("performed_at")
        .values_list("performed_at", flat=True)
        .first()
    )
    photos = list(photos_of(patient=session.patient))
    return _healing(session, following, photos, metric)


def latest_healing(
    *,
    patient: Patient,
    sessions: Sequence[TreatmentSession] | None = None,
    latest: int = 3,
    metric: str = "red_area_pct",
) -> list[SessionHealing]:
    """The healing curves after the patient's ``latest`` sessions (newest first), those with
    photos of a side after them only. ``sessions`` are the patient's sessions newest first, if the
    caller read them already; two or three queries however many sessions and photos."""
    _checked(metric)
    if sessions is None:
        sessions = list(TreatmentSession.objects.filter(patient=patient).order_by("-performed_at", "-pk"))
    if not sessions:
        return []
    return healing_after(sessions=sessions[:latest], photos=list(photos_of(patient=patient)), metric=metric)


def healing_after(
    *, sessions: Sequence[TreatmentSession], photos: list[Photo], metric: str = "red_area_pct"
) -> list[SessionHealing]:
    """The healing curves after ``sessions`` (one patient's consecutive sessions, newest first:
    each curve ends at the session after it) from ``photos``, the patient's photos the caller read
    oldest first with their current analyses (``photos_of``); those with photos of a side only."""
    _checked(metric)
    found = []
    for index, session in enumerate(sessions):
        following = sessions[index - 1].performed_at if index else None
        healing = _healing(session, following, photos, metric)
        if healing.sides:
            found.append(healing)
    return found
