"""Study data for researchers: the clinic's measured outcomes, pseudonymised, one row per value.

Read-only, built from what the photo selectors already serve: the stored analyses of the current
engine version and their comparison with the baseline photo of the same view (and area), exactly
as the compare page shows it. No image is opened and no metric is measured again.

Only patients who hold a research consent in force (the current version, signed and not
withdrawn, :func:`exoderm.consent.selectors.consenting_patient_ids`) appear; a withdrawal takes their
rows out of every later read.

Pseudonymised, not anonymised: a row names the patient and its photos by keyed hashes under the
clinic's secret (:mod:`exoderm.evidence.pseudonyms`), never by the patient code or the ids staff see,
and never carries names, contact data or dates. Times are days relative to the series' baseline
photo and to the course's first session; the date of birth is read only to give a ten-year age band
at the baseline photo. The clinic keeps the key, so callers check ``Action.VIEW_STUDY_DATA`` (a role
that sees no identified record) and every read is of the caller's own clinic.

Photos in the trash are left out (the default managers hide them), and so are photos without an
analysis by the current engine version yet (queued, failed, or waiting for ``reanalyze`` after an
upgrade); a follow-up whose baseline photo is one of those has no comparison, with the reason
``baseline_not_analysed``. Unusable photos and follow-ups
that are not comparable with their baseline are kept, flagged by ``usable``, ``comparable`` and
``not_comparable_reasons``, so that a study can report what it excluded and why.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from itertools import accumulate
from typing import TYPE_CHECKING, overload

from django.db.models import Prefetch
from django.utils import timezone

from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import consenting_patient_ids
from exoderm.core.access import in_clinic
from exoderm.core.spreadsheet import csv_text, xlsx_bytes
from exoderm.courses.models import Course
from exoderm.evidence.pseudonyms import Pseudonymizer, for_clinic
from exoderm.patients.models import PatientIdentity
from exoderm.patients.selectors import open_records
from exoderm.photos.engine import current_version
from exoderm.photos.models import Analysis, Photo, Timepoint
from exoderm.photos.selectors import (
    METRICS,
    MetricChange,
    Verdict,
    baseline_photo,
    compare_photos,
    current_analysis,
)

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic

AGE_BAND_YEARS = 10
#: The reason a follow-up has no comparison: its baseline photo has no analysis by this engine yet.
BASELINE_NOT_ANALYSED = "baseline_not_analysed"

#: The unit of each metric key in the current engine: shared/specs/skin-metrics.md's, except
#: that since engine 1.3.0 tone and texture unevenness, and since 1.5.0 the redness excess, are
#: relative to the local L* + 16, which exposure leaves alone (docs/engine-changelog.md).
UNITS: dict[str, str] = {
    "L_median": "L*",
    "a_median": "a*",
    "b_median": "b*",
    "ita_deg": "°",
    "tone_sd_L": "% of L*+16",
    "spot_count": "count",
    "spot_area_mm2": "mm²",
    "spot_area_pct": "%",
    "red_area_pct": "%",
    "a_excess_mean": "% of L*+16",
    "wrinkle_count": "count",
    "wrinkle_length_mm": "mm",
    "wrinkle_density": "mm/cm²",
    "texture_rms": "% of L*+16",
    "pore_count": "count",
    "pore_density": "1/cm²",
}

#: Metrics that older engines measured in other units: (the first version of today's unit,
#: the unit before it).
_UNITS_BEFORE = {
    "tone_sd_L": ((1, 3), "L*"),
    "texture_rms": ((1, 3), "L*"),
    "a_excess_mean": ((1, 5), "a*"),
}


def unit_of(key: str, engine_version: str) -> str:
    """The unit of metric ``key`` in an analysis made by ``engine_version`` (an older analysis
    keeps the unit it was measured in until it is analysed again)."""
    major, minor = (int(part) for part in engine_version.split(".")[:2])
    if key in _UNITS_BEFORE:
        since, before = _UNITS_BEFORE[key]
        if (major, minor) < since:
            return before
    return UNITS.get(key, "")


_METRIC_ORDER = {key: position for position, key in enumerate(METRICS)}
_BEYOND_NOISE = {Verdict.BEYOND_NOISE: True, Verdict.NO_CHANGE: False, Verdict.NOT_JUDGED: None}


@dataclass(frozen=True)
class OutcomeRow:
    """One metric of one region of one analysed photo (tidy, long form). The field order is the
    column order of the CSV."""

    pseudonym: str
    age_band: str | None
    fitzpatrick: int
    glogau: int
    course_template_id: int | None
    course_template: str | None
    days_from_course_start: float | None
    visit_kind: str | None
    session_number: int | None
    weeks_after_session: int | None
    timepoint: str
    photo: str
    view: str
    area: str
    baseline_photo: str
    days_from_baseline: float
    engine_version: str
    usable: bool
    region: str
    metric: str
    value: float | None
    unit: str
    baseline_value: float | None
    delta: float | None
    mdc: float | None
    beyond_noise: bool | None
    comparable: bool | None
    not_comparable_reasons: str


COLUMNS = [f.name for f in fields(OutcomeRow)]


@dataclass(frozen=True)
class _PhotoPart:
    """What one analysed photo adds to the rows: its (region, metric) pairs, known from its analysis
    before anything is compared."""

    photo: Photo
    baseline: Photo
    course: Course | None
    age_band: str | None
    keys: list[tuple[str, str]]
    pseudonyms: Pseudonymizer


class Outcomes(Sequence[OutcomeRow]):
    """The rows, built photo by photo when read: a page of them compares only the photos on it."""

    def __init__(self, parts: list[_PhotoPart]) -> None:
        self._parts = parts
        self._starts = list(accumulate((len(part.keys) for part in parts), initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def __iter__(self) -> Iterator[OutcomeRow]:
        for part in self._parts:
            yield from _rows_of(part)

    @overload
    def __getitem__(self, index: int) -> OutcomeRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[OutcomeRow]: ...
    def __getitem__(self, index: int | slice) -> OutcomeRow | list[OutcomeRow]:
        if isinstance(index, int):
            position = index + len(self) if index < 0 else index
            if not 0 <= position < len(self):
                raise IndexError(index)
            return self[position : position + 1][0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            return [self[i] for i in range(start, stop, step)]
        rows: list[OutcomeRow] = []
        for number in range(max(bisect_right(self._starts, start) - 1, 0), len(self._parts)):
            first = self._starts[number]
            if first >= stop:
                break
            rows.extend(_rows_of(self._parts[number])[max(start - first, 0) : stop - first])
        return rows


def outcome_rows(
    *,
    clinic: Clinic,
    course_template_id: int | None = None,
    view: str = "",
    region: str = "",
    metric: str = "",
) -> Outcomes:
    """The outcomes of the clinic's patients with research consent, in a stable order (pseudonym,
    view, area, time taken, photo, region, metric as in the spec), optionally of one course template,
    view, region or metric."""
    photos = _analysed_photos(clinic, view)
    pseudonyms = for_clinic(clinic.pk)
    courses = _courses_by_patient(clinic)
    # only the birth date leaves the identity table, and only as an age band
    births = dict(in_clinic(PatientIdentity, clinic).values_list("patient_id", "date_of_birth"))
    series: dict[tuple[int, str, str], list[Photo]] = defaultdict(list)
    for photo in photos:
        series[(photo.patient_id, photo.view, photo.area)].append(photo)
    zone = zoneinfo.ZoneInfo(clinic.time_zone)
    parts = []
    for (patient_id, series_view, area), members in series.items():
        baseline = baseline_photo(patient=members[0].patient, view=series_view, area=area)
        assert baseline is not None, "a series with an analysed photo has a first photo"
        age_band = _age_band(births.get(patient_id), timezone.localdate(baseline.taken_at, zone))
        for photo in members:
            course = _course_of(photo, courses[photo.patient_id])
            if course_template_id is not None and (
                course is None or course.template_id != course_template_id
            ):
                continue
            keys = _keys_of(_analysis_of(photo), region=region, metric=metric)
            if keys:
                parts.append(_PhotoPart(photo, baseline, course, age_band, keys, pseudonyms))
    # in pseudonym order: the patient code's order would hint at the codes
    parts.sort(key=lambda part: pseudonyms.patient(part.photo.patient_id))
    return Outcomes(parts)


def _analysed_photos(clinic: Clinic, view: str) -> list[Photo]:
    """The live photos of the clinic's patients with research consent in force (and no erasure
    request: a restricted record is hidden from every list) that have an analysis by the current
    engine version (prefetched as ``current_analyses``, which the photo selectors read)."""
    current = Analysis.objects.filter(engine_version=current_version())
    consenting = consenting_patient_ids(clinic_id=clinic.pk, kind=ConsentKind.RESEARCH, at=timezone.now())
    photos = (
        open_records(in_clinic(Photo, clinic))
        .filter(analyses__engine_version=current_version(), patient_id__in=consenting)
        .select_related("patient__clinic", "visit__course__template")
        .prefetch_related(Prefetch("analyses", queryset=current, to_attr="current_analyses"))
        .order_by("patient_id", "view", "area", "taken_at", "id")
    )
    return list(photos.filter(view=view) if view else photos)


def _courses_by_patient(clinic: Clinic) -> defaultdict[int, list[Course]]:
    courses: defaultdict[int, list[Course]] = defaultdict(list)
    for course in in_clinic(Course, clinic).select_related("template").order_by("starts_at", "pk"):
        courses[course.patient_id].append(course)
    return courses


def _course_of(photo: Photo, courses: list[Course]) -> Course | None:
    """The course a photo belongs to: its visit's; without a visit, the course running when it was
    taken, except that a baseline photo belongs to the next course it was taken before."""
    if photo.visit is not None:
        return photo.visit.course
    started = [c for c in courses if c.starts_at <= photo.taken_at]
    upcoming = [c for c in courses if c.starts_at > photo.taken_at]
    if upcoming and (photo.timepoint == Timepoint.BASELINE or not started):
        return upcoming[0]
    return started[-1] if started else None


def _age_band(birth: dt.date | None, on: dt.date) -> str | None:
    if birth is None:
        return None
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    low = age - age % AGE_BAND_YEARS
    return f"{low}-{low + AGE_BAND_YEARS - 1}"


def _number(value: float | None) -> float | None:
    """A measured number as a float: the comparison keeps counts as the integers they are, and
    JSON and CSV should write a column's values alike."""
    return None if value is None else float(value)


def _days(later: dt.datetime, earlier: dt.datetime) -> float:
    return round((later - earlier).total_seconds() / 86400, 2)


def _analysis_of(photo: Photo) -> Analysis:
    analysis = current_analysis(photo)
    assert analysis is not None, "only photos with an analysis by the current engine are read"
    return analysis


def _keys_of(analysis: Analysis, *, region: str, metric: str) -> list[tuple[str, str]]:
    """The (region, metric) pairs the analysis measured, regions by name, metrics as in the spec."""
    regions = analysis.data.get("regions", {})
    return [
        (name, key)
        for name in sorted(regions)
        if not region or name == region
        for key in sorted(regions[name].get("metrics", {}), key=_metric_position)
        if not metric or key == metric
    ]


def _metric_position(key: str) -> tuple[int, str]:
    return _METRIC_ORDER.get(key, len(_METRIC_ORDER)), key


def _rows_of(part: _PhotoPart) -> list[OutcomeRow]:
    photo, baseline, course, visit = part.photo, part.baseline, part.course, part.photo.visit
    analysis = _analysis_of(photo)
    comparison = None if photo.pk == baseline.pk else compare_photos(before=baseline, after=photo)
    changes: dict[tuple[str, str], MetricChange] = {}
    reasons = "" if photo.pk == baseline.pk else BASELINE_NOT_ANALYSED
    if comparison is not None:
        changes = {(r, c.key): c for r, rows in comparison.regions.items() for c in rows}
        reasons = ";".join(dict.fromkeys(getattr(r, "kind", "") or str(r) for r in comparison.reasons))
    rows = []
    for region, key in part.keys:
        change = changes.get((region, key))
        rows.append(
            OutcomeRow(
                pseudonym=part.pseudonyms.patient(photo.patient_id),
                age_band=part.age_band,
                fitzpatrick=photo.patient.fitzpatrick,
                glogau=photo.patient.glogau,
                course_template_id=None if course is None else course.template_id,
                course_template=None if course is None else course.template.name,
                days_from_course_start=None if course is None else _days(photo.taken_at, course.starts_at),
                visit_kind=None if visit is None else visit.kind,
                session_number=None if visit is None else visit.session_number,
                weeks_after_session=None if visit is None else visit.weeks_after_session,
                timepoint=photo.timepoint,
                photo=part.pseudonyms.photo(photo.pk),
                view=photo.view,
                area=photo.area,
                baseline_photo=part.pseudonyms.photo(baseline.pk),
                days_from_baseline=_days(photo.taken_at, baseline.taken_at),
                engine_version=analysis.engine_version,
                usable=analysis.usable,
                region=region,
                metric=key,
                value=analysis.metric(region, key),
                unit=unit_of(key, analysis.engine_version),
                baseline_value=None if change is None else _number(change.before),
                delta=None if change is None else _number(change.delta),
                mdc=None if change is None else _number(change.mdc),
                beyond_noise=None if change is None else _BEYOND_NOISE[change.verdict],
                comparable=None if comparison is None else comparison.comparable,
                not_comparable_reasons=reasons,
            )
        )
    return rows


def outcomes_csv(rows: Iterable[OutcomeRow]) -> str:
    """The rows as RFC 4180 CSV (comma, CRLF, quoted where needed) with a header line of
    :data:`COLUMNS`."""
    return csv_text(COLUMNS, (astuple(row) for row in rows))


def outcomes_xlsx(rows: Iterable[OutcomeRow]) -> bytes:
    """The rows as an ``.xlsx`` sheet with the header row :data:`COLUMNS` and typed cells."""
    return xlsx_bytes(COLUMNS, (astuple(row) for row in rows), sheet="study outcomes")
