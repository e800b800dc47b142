"""Reads for photos: lists, analysis status, before/after comparison, timelines, healing curves.

Everything here reads stored :class:`~exoderm.photos.models.Analysis` rows of the current engine
version; no image is opened and no metric is measured again.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.access import get_in_clinic, in_clinic
from exoderm.core.areas import FACE_PARTS, Area
from exoderm.patients.selectors import open_records
from exoderm.photos.engine import AIMS, compare_records, current_version
from exoderm.photos.models import Analysis, AnalysisStatus, Photo, PhotoEvent, Reanalysis, Timepoint, View

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from exoderm.clinics.models import Clinic
    from exoderm.patients.models import Patient

HEALING_DAYS = 14
HEALING_METRICS = ("red_area_pct", "a_excess_mean")

#: Metric keys of skin-metrics.md with their label and the direction the therapy aims for
#: (skinlab's ``AIMS``: "lower", "higher" or None when a change has no good or bad side).
_LABELS: dict[str, Promise] = {
    "L_median": gettext_lazy("lightness (L*)"),
    "a_median": gettext_lazy("redness of the skin tone (a*)"),
    "b_median": gettext_lazy("yellowness of the skin tone (b*)"),
    "ita_deg": gettext_lazy("skin tone angle (ITA°)"),
    "tone_sd_L": gettext_lazy("unevenness of tone"),
    "spot_count": gettext_lazy("pigmented spots (count)"),
    "spot_area_mm2": gettext_lazy("pigmented spot area (mm²)"),
    "spot_area_pct": gettext_lazy("pigmented spot area (%)"),
    "red_area_pct": gettext_lazy("red area (%)"),
    "a_excess_mean": gettext_lazy("redness intensity"),
    "wrinkle_count": gettext_lazy("fine lines (count)"),
    "wrinkle_length_mm": gettext_lazy("fine line length (mm)"),
    "wrinkle_density": gettext_lazy("fine line density (mm/cm²)"),
    "texture_rms": gettext_lazy("fine roughness"),
    "pore_count": gettext_lazy("pores (count)"),
    "pore_density": gettext_lazy("pore density (per cm²)"),
}
METRICS: dict[str, tuple[Promise, str | None]] = {key: (label, AIMS[key]) for key, label in _LABELS.items()}


class Verdict:
    BEYOND_NOISE = "beyond_noise"
    NO_CHANGE = "no_measurable_change"
    NOT_JUDGED = "not_judged"


def photos_of(*, patient: Patient) -> QuerySet[Photo]:
    """The patient's photos, oldest first, each with its analysis by the current engine version."""
    current = Analysis.objects.filter(engine_version=current_version())
    return (
        in_clinic(Photo, patient.clinic)
        .filter(patient=patient)
        .select_related("visit", "session", "uploaded_by")
        .prefetch_related(Prefetch("analyses", queryset=current, to_attr="current_analyses"))
        .order_by("taken_at", "id")
    )


def photo_of(*, clinic: Clinic, photo_id: Any) -> Photo:
    """One photo of the clinic (``NotFound`` for another clinic's id)."""
    return get_in_clinic(open_records(Photo.objects.select_related("patient")), clinic, photo_id)


def trashed_photos_of(*, patient: Patient) -> QuerySet[Photo]:
    """The patient's photos in the trash, most recently deleted first."""
    trashed = Photo.with_trashed.filter(trashed_at__isnull=False)
    return (
        in_clinic(trashed, patient.clinic)
        .filter(patient=patient)
        .select_related("trashed_by")
        .order_by("-trashed_at", "-id")
    )


def photo_events_of(*, patient: Patient) -> QuerySet[PhotoEvent]:
    """The audit trail of the patient's photo deletions, oldest first."""
    return in_clinic(PhotoEvent.objects.all(), patient.clinic).filter(patient=patient).order_by("at", "id")


def photo_with_trashed(*, clinic: Clinic, photo_id: Any, trashed_only: bool = False) -> Photo:
    """One photo of the clinic whether in the trash or not (for restoring and erasing only)."""
    photos = open_records(Photo.with_trashed.select_related("patient", "patient__identity"))
    if trashed_only:
        photos = photos.filter(trashed_at__isnull=False)
    return get_in_clinic(photos, clinic, photo_id)


def current_analysis(photo: Photo) -> Analysis | None:
    prefetched = getattr(photo, "current_analyses", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return Analysis.objects.filter(photo=photo, engine_version=current_version()).first()


@dataclass(frozen=True)
class Progress:
    total: int
    by_status: dict[str, int]
    analysed_by_current_engine: int
    engine_version: str

    @property
    def percent(self) -> float:
        return 100.0 if not self.total else round(100.0 * self.analysed_by_current_engine / self.total, 1)


def analysis_progress(*, clinic: Clinic, patient: Patient | None = None) -> Progress:
    """How many of the clinic's (or one patient's) photos are analysed by the current engine."""
    photos = in_clinic(Photo, clinic)
    if patient is not None:
        photos = photos.filter(patient=patient)
    counts = Counter(
        {
            row["analysis_status"]: row["n"]
            for row in photos.order_by().values("analysis_status").annotate(n=Count("id"))
        }
    )
    done = Analysis.objects.filter(photo__in=photos, engine_version=current_version()).count()
    return Progress(
        total=sum(counts.values()),
        by_status=dict(counts),
        analysed_by_current_engine=done,
        engine_version=current_version(),
    )


@dataclass(frozen=True)
class MetricChange:
    key: str
    label: str
    before: float | None
    after: float | None
    delta: float | None
    mdc: float | None
    verdict: str
    better: bool | None  # beyond the noise in the direction the therapy aims for; None if neither

    @property
    def words(self) -> str:
        if self.verdict == Verdict.NO_CHANGE:
            return _("no measurable change")
        if self.verdict == Verdict.NOT_JUDGED:
            return _("cannot be judged")
        assert self.delta is not None
        return (_("higher by %(delta)s") if self.delta > 0 else _("lower by %(delta)s")) % {
            "delta": number_text(abs(self.delta))
        }


@dataclass(frozen=True)
class Comparison:
    before: Photo
    after: Photo
    comparable: bool
    reasons: list[str]
    notes: list[str]
    regions: dict[str, list[MetricChange]] = field(default_factory=dict)

    def changes_beyond_noise(self) -> list[tuple[str, MetricChange]]:
        return [(r, c) for r, rows in self.regions.items() for c in rows if c.verdict == Verdict.BEYOND_NOISE]


def number_text(value: float) -> str:
    """A measured value or change for a sentence: to two decimals (none from 100), trailing zeros
    dropped, in the active language's number format."""
    digits = f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"
    decimals = len(digits.partition(".")[2])
    return number_format(without_minus_zero(round(value, decimals)), decimal_pos=decimals, use_l10n=True)


def without_minus_zero(value: float) -> float:
    """``value`` with the sign of a zero dropped: a change rounded to nothing is "0", never "-0"."""
    return value + 0.0  # IEEE 754: -0.0 + 0.0 is +0.0, every other value stays as it is


def compare_photos(*, before: Photo, after: Photo) -> Comparison | None:
    """Per-region metric changes from ``before`` to ``after``, from their stored analyses.

    A change is ``beyond_noise`` only if skinlab judged it larger than the minimal detectable
    change of a comparable pair; inside the noise it is 'no measurable change'; without a
    repeatability study or for photos that are not comparable it is 'cannot be judged'.
    None while either photo has no analysis by the current engine version.
    """
    a, b = current_analysis(before), current_analysis(after)
    if a is None or b is None:
        return None
    raw = compare_records(a.data, b.data, lossless=(before.stored_lossless, after.stored_lossless))
    regions: dict[str, list[MetricChange]] = {}
    for region, metrics in raw["regions"].items():
        rows = []
        for key, c in metrics.items():
            label, aim = METRICS.get(key, (key, None))
            if c["beyond_noise"] is True:
                verdict = Verdict.BEYOND_NOISE
            elif c["beyond_noise"] is False:
                verdict = Verdict.NO_CHANGE
            else:
                verdict = Verdict.NOT_JUDGED
            better = None
            if verdict == Verdict.BEYOND_NOISE and aim is not None and c["delta"]:
                better = (c["delta"] < 0) == (aim == "lower")
            rows.append(
                MetricChange(key, str(label), c["before"], c["after"], c["delta"], c["mdc"], verdict, better)
            )
        regions[region] = rows
    return Comparison(before, after, raw["comparable"], raw["reasons"], raw["notes"], regions)


def baseline_photo(*, patient: Patient, view: str, area: str = "") -> Photo | None:
    """The photo later ones of this view (and area) are compared with: the first baseline photo,
    else the first photo of the view; None when there is none."""
    photos = photos_of(patient=patient).filter(view=view, area=area)
    return photos.filter(timepoint=Timepoint.BASELINE).first() or photos.first()


def baseline_and_latest(*, patient: Patient, view: str, area: str = "") -> tuple[Photo, Photo] | None:
    """The first baseline photo and the newest photo of one view (and area), if there are two."""
    photos = [p for p in photos_of(patient=patient).filter(view=view, area=area)]
    baselines = [p for p in photos if p.timepoint == Timepoint.BASELINE] or photos[:1]
    if not baselines or photos[-1].pk == baselines[0].pk:
        return None
    return baselines[0], photos[-1]


def analysed_views(*, patient: Patient) -> list[tuple[str, str]]:
    """The (view, area) pairs of which the patient has analysed, usable photos, in view order."""
    found = {
        (photo.view, photo.area)
        for photo in photos_of(patient=patient)
        if (analysis := current_analysis(photo)) is not None and analysis.usable
    }
    return sorted(found, key=lambda pair: (View.values.index(pair[0]), pair[1]))


@dataclass(frozen=True)
class Point:
    taken_at: dt.datetime
    value: float | None
    photo_id: int
    timepoint: str


def region_label(region: str) -> str:
    """The name of an analysed region in the active language (``full``: the whole close-up)."""
    if region == "full":
        return _("Whole photo")
    return str(Area(region).label) if region in Area.values else region


def analysed_regions() -> list[tuple[str, str]]:
    """The regions an analysis reports, each with its name in the active language: the whole photo
    (a close-up), the whole face and the face regions of the engine (``skinlab.face.REGIONS``, in
    its order, which ``Area`` keeps)."""
    regions = ["full", Area.FACE, *(area for area in Area.values if area in FACE_PARTS)]
    return [(region, region_label(region)) for region in regions]


def region_for(view: str) -> str:
    return "full" if view == View.CLOSE_UP else "face"


def timelines(
    *, patient: Patient, metrics: list[str], view: str, area: str = "", region: str = ""
) -> dict[str, list[Point]]:
    """Several metrics of one region over the course from one read of the analyses (two queries)."""
    region = region or region_for(view)
    result: dict[str, list[Point]] = {metric: [] for metric in metrics}
    for photo in photos_of(patient=patient).filter(view=view, area=area):
        analysis = current_analysis(photo)
        if analysis is not None and analysis.usable:
            for metric in metrics:
                point = Point(photo.taken_at, analysis.metric(region, metric), photo.pk, photo.timepoint)
                result[metric].append(point)
    return result


def timeline(*, patient: Patient, metric: str, view: str, area: str = "", region: str = "") -> list[Point]:
    """One metric of one region over the course, one point per analysed, usable photo of the view."""
    return timelines(patient=patient, metrics=[metric], view=view, area=area, region=region)[metric]


@dataclass(frozen=True)
class TrendPoint:
    taken_at: dt.datetime
    photo_id: int
    value: float | None
    #: The minimal detectable change of this photo's comparison with the baseline; None for the
    #: baseline itself and where no noise estimate exists.
    mdc: float | None
    verdict: str  # a Verdict, or BASELINE for the baseline photo


BASELINE = "baseline"


@dataclass(frozen=True)
class Trend:
    """One metric of one region over a view's photos, each judged against the baseline photo."""

    key: str
    label: str
    aim: str | None
    region: str
    points: list[TrendPoint]

    @property
    def baseline(self) -> TrendPoint:
        return next(p for p in self.points if p.verdict == BASELINE)


def trends(*, patient: Patient, view: str, area: str = "", region: str = "") -> list[Trend]:
    """Every metric of ``region`` (default: the whole face or photo) over the analysed, usable
    photos of one view (and area), oldest first, each later photo with the verdict and minimal
    detectable change of its comparison with the baseline photo (the comparison page's, so the
    chart and the page agree). Metrics not measured in the region are left out."""
    region = region or region_for(view)
    photos = [
        photo
        for photo in photos_of(patient=patient).filter(view=view, area=area)
        if (analysis := current_analysis(photo)) is not None and analysis.usable
    ]
    if not photos:
        return []
    baseline = next((p for p in photos if p.timepoint == Timepoint.BASELINE), photos[0])
    changes: dict[int, dict[str, MetricChange]] = {}
    for photo in photos:
        if photo.pk != baseline.pk:
            comparison = compare_photos(before=baseline, after=photo)
            rows = comparison.regions.get(region, []) if comparison is not None else []
            changes[photo.pk] = {change.key: change for change in rows}
    result = []
    for key, (label, aim) in METRICS.items():
        points = []
        for photo in photos:
            analysis = current_analysis(photo)
            value = analysis.metric(region, key) if analysis is not None else None
            if photo.pk == baseline.pk:
                points.append(TrendPoint(photo.taken_at, photo.pk, value, None, BASELINE))
                continue
            change = changes[photo.pk].get(key)
            verdict = change.verdict if change is not None else Verdict.NOT_JUDGED
            mdc = change.mdc if change is not None and verdict != Verdict.NOT_JUDGED else None
            points.append(TrendPoint(photo.taken_at, photo.pk, value, mdc, verdict))
        if any(point.value is not None for point in points):
            result.append(Trend(key, str(label), aim, region, points))
    return result


@dataclass(frozen=True)
class HealingCurve:
    session_id: int
    performed_at: dt.datetime
    before: Point | None  # the last photo before the session, the curve's reference
    points: list[tuple[float, Point]]  # (days after the session, value)


def healing_curves(
    *,
    patient: Patient,
    metric: str = "red_area_pct",
    view: str = View.FRONT,
    area: str = "",
    region: str = "",
) -> list[HealingCurve]:
    """Per treatment session: ``metric`` of the photos taken in the ``HEALING_DAYS`` after it
    (and before the next session), with the last photo before the session as reference."""
    if metric not in HEALING_METRICS:
        raise ValueError(f"healing curves use {HEALING_METRICS}, not {metric!r}")
    from exoderm.treatments.models import TreatmentSession

    points = timeline(patient=patient, metric=metric, view=view, area=area, region=region)
    sessions = list(TreatmentSession.objects.filter(patient=patient).order_by("performed_at"))
    curves = []
    for i, session in enumerate(sessions):
        end = session.performed_at + dt.timedelta(days=HEALING_DAYS)
        if i + 1 < len(sessions):
            end = min(end, sessions[i + 1].performed_at)
        before = [p for p in points if p.taken_at <= session.performed_at]
        after = [
            ((p.taken_at - session.performed_at).total_seconds() / 86400, p)
            for p in points
            if session.performed_at < p.taken_at <= end
        ]
        curves.append(HealingCurve(session.pk, session.performed_at, before[-1] if before else None, after))
    return curves


@dataclass(frozen=True)
class GalleryDay:
    day: dt.date
    photos: list[Photo]  # in view order: front, left, right, close-ups by area


def gallery(*, patient: Patient) -> list[GalleryDay]:
    """The patient's photos by the clinic's calendar day they were taken (newest day first), each
    day's in view order."""
    tz = zoneinfo.ZoneInfo(patient.clinic.time_zone)
    days: dict[dt.date, list[Photo]] = {}
    photos = in_clinic(Photo, patient.clinic).filter(patient=patient).order_by("-taken_at", "id")
    for photo in photos:
        days.setdefault(photo.taken_at.astimezone(tz).date(), []).append(photo)
    order = {view: index for index, view in enumerate(View.values)}
    return [
        GalleryDay(day, sorted(members, key=lambda p: (order.get(p.view, len(order)), p.area, p.taken_at)))
        for day, members in days.items()
    ]


#: The consent under which a before/after image may leave the record: the patient's consent to
#: share their photos (the photography consent covers documentation and measurement only).
SHARING_CONSENT_KIND = ConsentKind.MARKETING


def may_share_photos(*, patient: Patient, at: dt.datetime | None = None) -> bool:
    """Whether ``patient`` holds a consent in force (current version, signed, not withdrawn) to
    share their photos, at ``at`` (default now)."""
    return active_consent(patient=patient, kind=SHARING_CONSENT_KIND, at=at or timezone.now()) is not None


def statuses(*, clinic: Clinic, photo_ids: list[int]) -> dict[int, str]:
    """Analysis status per photo id (for a page that polls several photos at once)."""
    rows = in_clinic(Photo, clinic).filter(pk__in=photo_ids).values_list("pk", "analysis_status")
    return dict(rows)


__all__ = [
    "HEALING_DAYS",
    "METRICS",
    "AnalysisStatus",
    "Comparison",
    "GalleryDay",
    "HealingCurve",
    "MetricChange",
    "Point",
    "Progress",
    "Trend",
    "TrendPoint",
    "Verdict",
    "analysed_views",
    "analysis_progress",
    "baseline_and_latest",
    "baseline_photo",
    "compare_photos",
    "current_analysis",
    "gallery",
    "healing_curves",
    "may_share_photos",
    "photo_of",
    "photo_with_trashed",
    "photos_of",
    "statuses",
    "timeline",
    "timelines",
    "trashed_photos_of",
    "trends",
]


#: The rate of a re-analysis is measured over this window (or since its start, if shorter).
REANALYSIS_RATE_WINDOW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class ReanalysisProgress:
    """Where a re-analysis stands, counted from the database at one moment.

    ``done``: photos of the run with a result of its version; ``failed``: photos the run queued
    whose analysis failed (not measurable, unreadable); ``queued``: waiting or being analysed;
    ``not_queued``: the rest, which the run's queuing has not reached yet.
    """

    run: Reanalysis
    total: int
    done: int
    failed: int
    queued: int
    per_minute: float

    @property
    def not_queued(self) -> int:
        return max(0, self.total - self.done - self.failed - self.queued)

    @property
    def complete(self) -> bool:
        return self.run.queued_up_to >= self.run.last_photo_id and self.done + self.failed >= self.total

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * (self.done + self.failed) / self.total)

    @property
    def seconds_left(self) -> float | None:
        """At the measured rate; None while nothing was measured in the window (not started, stalled)."""
        if self.complete:
            return 0.0
        if not self.per_minute:
            return None
        return 60 * (self.total - self.done - self.failed) / self.per_minute


def reanalysis_progress(run: Reanalysis, *, now: dt.datetime | None = None) -> ReanalysisProgress:
    """Count a run's progress in three aggregate queries, whatever the number of photos.

    The photo counts are one pass over the run's range of photo ids (primary key, or the clinic's
    index); done and the rate are counted on the analyses' (engine version, photo) and (engine
    version, created) indexes.
    """
    now = now or timezone.now()
    photos = Photo.objects.filter(pk__lte=run.last_photo_id)
    analyses = Analysis.objects.filter(engine_version=run.engine_version, photo_id__lte=run.last_photo_id)
    if run.clinic_id is not None:
        photos = photos.filter(clinic_id=run.clinic_id)
        analyses = analyses.filter(photo__clinic_id=run.clinic_id)
    counts = photos.aggregate(
        total=Count("pk"),
        # failed before the run reached it: the run will queue it again, so it is not yet counted
        failed=Count("pk", filter=Q(analysis_status=AnalysisStatus.FAILED, pk__lte=run.queued_up_to)),
        queued=Count("pk", filter=Q(analysis_status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING])),
    )
    since = max(run.started_at, now - REANALYSIS_RATE_WINDOW)
    minutes = max((now - since).total_seconds() / 60, 1 / 60)
    recent = analyses.filter(created_at__gt=since).count()
    return ReanalysisProgress(
        run=run,
        total=counts["total"],
        done=analyses.count(),
        failed=counts["failed"],
        queued=counts["queued"],
        per_minute=recent / minutes,
    )


def latest_reanalysis(clinic: Clinic) -> Reanalysis | None:
    """The clinic's newest re-analysis (open or finished), None if it never ran one."""
    return Reanalysis.objects.filter(clinic=clinic).order_by("-started_at", "-id").first()


def open_reanalyses() -> QuerySet[Reanalysis]:
    """Every re-analysis not finished yet, of all clinics (for the metrics)."""
    return Reanalysis.objects.filter(finished_at__isnull=True).order_by("pk")
