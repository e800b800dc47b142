"""A study's data as the analysis reads it: pseudonymised, one read of the database.

:func:`study_data` gathers, for every participant, the metric values per side and visit (baseline
and each follow-up of the course), the GAIS scores of each rater, satisfaction, the charted
sessions (procedures and applications), the photos measured, the days to half of the redness peak
after each session per side (the healing curve), adverse events and deviations, with the
allocation, and the products and lots applied, only when the analysis may be by arm
(:func:`exoderm.studies.analysis.unblinding.by_arm_allowed`). Dates become days from enrolment.
The pseudonymised views of this data are the exports' single source.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch

from exoderm.core.areas import SIDE_SUFFIXES, expand
from exoderm.courses.models import Visit, VisitKind
from exoderm.photos.engine import compare_records, current_version
from exoderm.photos.models import Analysis, Photo, Timepoint, View
from exoderm.photos.selectors import current_analysis
from exoderm.photos.wording import METRICS
from exoderm.safety.healing import healing_after
from exoderm.studies.models import (
    AllocationSlot,
    Design,
    Deviation,
    Endpoint,
    Gais,
    Participant,
    Rating,
    Satisfaction,
    Side,
    Study,
)
from exoderm.treatments.models import TreatmentSession

#: GAIS choices as the usual codes, 1 (very much improved) to 5 (worse).
GAIS_CODES: dict[str, int] = {
    Gais.VERY_MUCH_IMPROVED: 1,
    Gais.MUCH_IMPROVED: 2,
    Gais.IMPROVED: 3,
    Gais.NO_CHANGE: 4,
    Gais.WORSE: 5,
}
#: A visit as (session number, weeks after it); the baseline is (0, 0).
BASELINE: tuple[int, int] = (0, 0)
AGE_BAND_YEARS = 10


@dataclass(frozen=True)
class MetricValue:
    """One metric of one side at one visit: the value, its change from baseline (None at the
    baseline or when the baseline is missing), and the mdc of the pair if skinlab knows it."""

    value: float | None
    change: float | None = None
    mdc: float | None = None


@dataclass(frozen=True)
class AppliedProduct:
    """One application of a session: the half it went on and, only when the data may be by arm,
    the product and lot (they would tell a blinded reader which half got which arm)."""

    side: str
    volume_ml: float
    product: str = ""
    source: str = ""
    lot: str = ""


@dataclass(frozen=True)
class SessionData:
    """A charted session of the participant's course: its number, the day from enrolment, the
    procedures (kind, areas) and the applications."""

    number: int
    day: int
    procedures: list[tuple[str, list[str]]]
    applications: list[AppliedProduct]


@dataclass(frozen=True)
class PhotoData:
    """A photo the analysis reads (a baseline or one of a follow-up visit): what it shows and the
    day from enrolment; ``file_name`` is the storage's name, for reading the bytes, never exported."""

    file_name: str
    content_type: str
    size: int
    view: str
    area: str
    timepoint: str
    visit: tuple[int, int]
    day: int


@dataclass
class ParticipantData:
    pseudonym: str
    status: str
    enrolled_on: dt.date
    withdrawn_day: int | None
    age_band: str | None
    fitzpatrick: int
    #: side -> arm code (split-face: each half; otherwise ``whole``); empty when blinded.
    arms: dict[str, str]
    #: (endpoint id, side, visit) -> value
    metrics: dict[tuple[int, str, tuple[int, int]], MetricValue] = field(default_factory=dict)
    #: (visit, side) -> GAIS code per rater (by the rater's position in the study, not their name)
    gais: dict[tuple[tuple[int, int], str], dict[int, int]] = field(default_factory=dict)
    #: (visit, side) -> satisfaction 1..5
    satisfaction: dict[tuple[tuple[int, int], str], int] = field(default_factory=dict)
    #: visit -> days from enrolment of the follow-up (planned day if not yet done)
    visit_days: dict[tuple[int, int], int] = field(default_factory=dict)
    sessions: list[SessionData] = field(default_factory=list)
    photos: list[PhotoData] = field(default_factory=list)
    #: side -> days until the redness after each session of the course was back to half its peak
    #: (the sessions whose healing curve of that side got there)
    healing: dict[str, list[float]] = field(default_factory=dict)
    #: side -> per session of the course whose redness rose, its healing curve as (days after the
    #: session, excess redness over the pre-session photo as a share of the peak's excess)
    healing_curves: dict[str, list[list[tuple[float, float]]]] = field(default_factory=dict)
    patient_id: int = 0


@dataclass(frozen=True)
class AdverseEventData:
    pseudonym: str
    term: str
    grade: int
    serious: bool
    related_to_product: str
    related_to_procedure: str
    side: str
    arm: str
    onset_day: int
    resolved_day: int | None


@dataclass(frozen=True)
class DeviationData:
    pseudonym: str
    kind: str
    day: int


@dataclass
class StudyData:
    study: Study
    by_arm: bool
    sides: list[str]
    visits: list[tuple[int, int]]
    endpoints: list[Endpoint]
    participants: list[ParticipantData]
    adverse_events: list[AdverseEventData]
    deviations: list[DeviationData]
    arm_names: dict[str, str]
    #: endpoint id -> whether it was defined after the first enrolment (an amendment's)
    exploratory: dict[int, bool]


def sides_of(study: Study) -> list[str]:
    return [Side.LEFT, Side.RIGHT] if study.design == Design.SPLIT_FACE else [Side.WHOLE]


def side_region(region: str, side: str) -> str:
    """The region measuring ``side``: a split-face endpoint names a region of one half
    (``cheek_left``) and means the same region of each half."""
    if side not in (Side.LEFT, Side.RIGHT):
        return region
    for suffix in SIDE_SUFFIXES:
        if region.endswith(suffix):
            return region[: -len(suffix)] + ("_left" if side == Side.LEFT else "_right")
    return region


def lower_is_better(metric: str) -> bool:
    """The direction the therapy aims for (skinlab's wording table); lower when unknown, as for
    most of the metrics (spots, redness, wrinkles, pores)."""
    return METRICS.get(metric, ("", "lower"))[1] != "higher"


def _age_band(birth: dt.date | None, on: dt.date) -> str | None:
    if birth is None:
        return None
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    low = age - age % AGE_BAND_YEARS
    return f"{low}-{low + AGE_BAND_YEARS - 1}"


def _endpoints_defined_late(study: Study, endpoints: list[Endpoint]) -> dict[int, bool]:
    """Endpoints not in the definition at the first enrolment are exploratory: those an amendment
    added (an amendment's ``endpoints.old`` is the list before it; the first amendment's old list
    is what was registered)."""
    first = study.amendments.filter(changes__has_key="endpoints").order_by("number").first()
    if first is None:
        return {e.pk: False for e in endpoints}

    def key(item: dict[str, Any]) -> tuple[Any, ...]:
        return (
            item["kind"],
            item["metric"],
            item["region"],
            item["session_number"],
            item["weeks_after_session"],
        )

    registered = {key(item) for item in first.changes["endpoints"]["old"]}
    return {
        e.pk: (e.kind, e.metric, e.region, e.session_number, e.weeks_after_session) not in registered
        for e in endpoints
    }


def _photos_by_patient(patient_ids: list[int]) -> dict[int, list[Photo]]:
    current = Analysis.objects.filter(engine_version=current_version())
    photos = (
        Photo.objects.filter(patient_id__in=patient_ids, analyses__engine_version=current_version())
        .prefetch_related(Prefetch("analyses", queryset=current, to_attr="current_analyses"))
        .order_by("taken_at", "id")
    )
    found: dict[int, list[Photo]] = defaultdict(list)
    for photo in photos:
        found[photo.patient_id].append(photo)
    return found


def _analysis(photo: Photo) -> Analysis:
    analysis = current_analysis(photo)
    assert analysis is not None, "only photos with an analysis by the current engine are read"
    return analysis


def _side_photos(photos: list[Photo], region: str) -> tuple[list[Photo], str]:
    """Close-ups of the region if any (measured as one region ``full``), else face photos
    (measured per region)."""
    close = [p for p in photos if p.view == View.CLOSE_UP and p.area in expand([region]) | {region}]
    if close:
        return close, "full"
    return [p for p in photos if p.view == View.FRONT], region


def _metric_values(
    participant: Participant,
    photos: list[Photo],
    endpoint: Endpoint,
    side: str,
    visits: dict[tuple[int, int], Visit],
) -> dict[tuple[int, int], MetricValue]:
    region = side_region(endpoint.region, side) if endpoint.region else ""
    chosen, analysed_region = _side_photos(photos, region or "face")
    if not region and side != Side.WHOLE:
        return {}
    start = participant.course.starts_at if participant.course else participant.enrolled_at
    baselines = [p for p in chosen if p.timepoint == Timepoint.BASELINE and p.taken_at <= start] or [
        p for p in chosen if p.timepoint == Timepoint.BASELINE
    ]
    baseline = baselines[-1] if baselines else None
    values: dict[tuple[int, int], MetricValue] = {}
    base_record = _analysis(baseline).data if baseline is not None else None
    if baseline is not None:
        values[BASELINE] = MetricValue(_analysis(baseline).metric(analysed_region, endpoint.metric))
    for key, visit in visits.items():
        linked = [p for p in chosen if p.visit_id == visit.pk]
        if not linked:
            continue
        photo = linked[-1]
        analysis = _analysis(photo)
        value = analysis.metric(analysed_region, endpoint.metric)
        if base_record is None or baseline is None:
            values[key] = MetricValue(value)
            continue
        compared = compare_records(
            base_record, analysis.data, lossless=(baseline.stored_lossless, photo.stored_lossless)
        )
        change = compared["regions"].get(analysed_region, {}).get(endpoint.metric, {})
        delta = change.get("delta")
        mdc = change.get("mdc")
        values[key] = MetricValue(
            value,
            None if delta is None else float(delta),
            None if mdc is None else float(mdc),
        )
    return values


def _application_side(areas: list[str]) -> str:
    for side in (Side.LEFT, Side.RIGHT):
        if side in areas:
            return side
    return Side.WHOLE


def _sessions_by_course(course_ids: list[int]) -> dict[int, list[tuple[int, TreatmentSession]]]:
    """The charted sessions of each course with their number in it, oldest first, with
    procedures and applications (five queries however many)."""
    visits = (
        Visit.objects.filter(course_id__in=course_ids, kind=VisitKind.SESSION, session__isnull=False)
        .select_related("session")
        .prefetch_related("session__procedures", "session__applications__lot__product")
        .order_by("session_number")
    )
    found: dict[int, list[tuple[int, TreatmentSession]]] = defaultdict(list)
    for visit in visits:
        assert visit.session is not None
        found[visit.course_id].append((visit.session_number, visit.session))
    return found


def _session_data(number: int, session: TreatmentSession, enrolled_on: dt.date, by_arm: bool) -> SessionData:
    applications = [
        AppliedProduct(
            side=_application_side(application.areas),
            volume_ml=float(application.volume_ml),
            product=application.lot.product.name if by_arm else "",
            source=application.lot.product.source if by_arm else "",
            lot=application.lot.number if by_arm else "",
        )
        for application in session.applications.all()
    ]
    return SessionData(
        number=number,
        day=(session.performed_at.date() - enrolled_on).days,
        procedures=[(procedure.kind, list(procedure.areas)) for procedure in session.procedures.all()],
        applications=applications,
    )


def _healing(
    sessions: list[TreatmentSession], photos: list[Photo]
) -> tuple[dict[str, list[float]], dict[str, list[list[tuple[float, float]]]]]:
    """Per side the days to half of the redness peak after each session of the course, and each
    session's curve scaled to its peak (the healing curve of :mod:`exoderm.safety.healing`; its
    window ends at the course's next session). Scaling makes curves of skins that redden
    differently comparable: 1 is the peak, 0 the redness before the session."""
    days: dict[str, list[float]] = defaultdict(list)
    curves: dict[str, list[list[tuple[float, float]]]] = defaultdict(list)
    for healing in healing_after(sessions=sessions[::-1], photos=photos):
        for side, curve in healing.sides.items():
            if curve.days_to_half is not None:
                days[side].append(curve.days_to_half)
            base = curve.reference.value if curve.reference is not None else 0.0
            if curve.peak is not None and curve.peak.value > base:
                rise = curve.peak.value - base
                curves[side].append([(point.days, (point.value - base) / rise) for point in curve.points])
    return dict(days), dict(curves)


def _study_photos(
    photos: list[Photo], visits: dict[tuple[int, int], Visit], enrolled_on: dt.date
) -> list[PhotoData]:
    """The photos the analysis reads: the baselines and those of the course's follow-up visits."""
    visit_of = {visit.pk: key for key, visit in visits.items()}
    return [
        PhotoData(
            file_name=photo.file_name,
            content_type=photo.content_type,
            size=photo.size_bytes,
            view=photo.view,
            area=photo.area,
            timepoint=photo.timepoint,
            visit=visit_of.get(photo.visit_id or 0, BASELINE),
            day=(photo.taken_at.date() - enrolled_on).days,
        )
        for photo in photos
        if photo.timepoint == Timepoint.BASELINE or photo.visit_id in visit_of
    ]


def study_data(*, study: Study, by_arm: bool) -> StudyData:
    """Everything the analysis and the exports need, pseudonymised; the allocation only with
    ``by_arm`` (the caller decides: see :func:`exoderm.studies.analysis.unblinding.by_arm_allowed`)."""
    from exoderm.patients.models import PatientIdentity
    from exoderm.safety.models import AdverseEvent

    sides = sides_of(study)
    endpoints = list(study.endpoints.order_by("-primary", "id"))
    template = study.course_template
    visit_keys = sorted(
        (session, weeks)
        for session in range(1, template.session_count + 1)
        for weeks in template.followup_weeks
    )
    participants = list(
        study.participants.select_related("patient", "course", "slot").order_by("enrolled_at", "id")
    )
    patient_ids = [p.patient_id for p in participants]
    births = dict(
        PatientIdentity.objects.filter(patient_id__in=patient_ids).values_list("patient_id", "date_of_birth")
    )
    photos = _photos_by_patient(patient_ids)
    visits_of: dict[int, dict[tuple[int, int], Visit]] = defaultdict(dict)
    course_ids = [p.course_id for p in participants if p.course_id]
    for visit in Visit.objects.filter(course_id__in=course_ids, kind=VisitKind.FOLLOW_UP):
        visits_of[visit.course_id][(visit.session_number, visit.weeks_after_session or 0)] = visit
    sessions_of = _sessions_by_course(course_ids)
    raters = {
        user_id: position
        for position, user_id in enumerate(
            study.roles.filter(role="rater").order_by("id").values_list("user_id", flat=True), start=1
        )
    }
    slots = {
        s.participant_id: s for s in AllocationSlot.objects.filter(study=study, participant__isnull=False)
    }
    rows: list[ParticipantData] = []
    by_id: dict[int, ParticipantData] = {}
    for participant in participants:
        enrolled_on = participant.enrolled_at.date()
        slot = slots.get(participant.pk)
        arms: dict[str, str] = {}
        if by_arm and slot is not None:
            arms = (
                {Side.LEFT: slot.arm_left, Side.RIGHT: slot.arm_right}
                if study.design == Design.SPLIT_FACE
                else {Side.WHOLE: slot.arm}
            )
        row = ParticipantData(
            pseudonym=participant.pseudonym,
            status=participant.status,
            enrolled_on=enrolled_on,
            withdrawn_day=None
            if participant.withdrawn_at is None
            else (participant.withdrawn_at.date() - enrolled_on).days,
            age_band=_age_band(births.get(participant.patient_id), enrolled_on),
            fitzpatrick=participant.patient.fitzpatrick,
            arms=arms,
            patient_id=participant.patient_id,
        )
        visits = visits_of.get(participant.course_id or 0, {})
        row.visit_days = {key: (v.planned_at.date() - enrolled_on).days for key, v in visits.items()}
        sessions = sessions_of.get(participant.course_id or 0, [])
        patient_photos = photos.get(participant.patient_id, [])
        row.sessions = [_session_data(number, session, enrolled_on, by_arm) for number, session in sessions]
        row.photos = _study_photos(patient_photos, visits, enrolled_on)
        row.healing, row.healing_curves = _healing([session for _number, session in sessions], patient_photos)
        for endpoint in endpoints:
            if endpoint.kind != "metric":
                continue
            for side in sides:
                values = _metric_values(
                    participant, photos.get(participant.patient_id, []), endpoint, side, visits
                )
                for key, value in values.items():
                    row.metrics[(endpoint.pk, side, key)] = value
        rows.append(row)
        by_id[participant.pk] = row
    ratings = (
        Rating.objects.filter(task__study=study).select_related("task__visit").prefetch_related("scores")
    )
    for rating in ratings:
        row = by_id[rating.task.participant_id]
        visit_key = (rating.task.visit.session_number, rating.task.visit.weeks_after_session or 0)
        for score in rating.scores.all():
            row.gais.setdefault((visit_key, score.side), {})[raters.get(rating.rater_id, 0)] = GAIS_CODES[
                score.gais
            ]
    for satisfaction in Satisfaction.objects.filter(participant__study=study).select_related("visit"):
        visit_key = (satisfaction.visit.session_number, satisfaction.visit.weeks_after_session or 0)
        by_id[satisfaction.participant_id].satisfaction[(visit_key, satisfaction.side)] = satisfaction.score
    events: list[AdverseEventData] = []
    by_patient = {p.patient_id: (p, by_id[p.pk]) for p in participants}
    for event in AdverseEvent.objects.filter(patient_id__in=patient_ids).order_by("onset", "id"):
        participant, row = by_patient[event.patient_id]
        if event.onset < row.enrolled_on:
            continue
        if not by_arm:
            arm = ""
        elif study.design == Design.SPLIT_FACE:
            arm = row.arms.get(event.side, "")  # an event of the whole face concerns both arms
        else:
            arm = row.arms.get(Side.WHOLE, "")
        events.append(
            AdverseEventData(
                pseudonym=row.pseudonym,
                term=event.term,
                grade=event.severity,
                serious=event.serious,
                related_to_product=event.related_to_product,
                related_to_procedure=event.related_to_procedure,
                side=event.side,
                arm=arm,
                onset_day=(event.onset - row.enrolled_on).days,
                resolved_day=None
                if event.resolved_on is None
                else (event.resolved_on - row.enrolled_on).days,
            )
        )
    deviations = [
        DeviationData(
            by_id[d.participant_id].pseudonym,
            d.kind,
            (d.occurred_on - by_id[d.participant_id].enrolled_on).days,
        )
        for d in Deviation.objects.filter(participant__study=study).order_by("occurred_on", "id")
    ]
    return StudyData(
        study=study,
        by_arm=by_arm,
        sides=sides,
        visits=visit_keys,
        endpoints=endpoints,
        participants=rows,
        adverse_events=events,
        deviations=deviations,
        arm_names=dict(study.arms.values_list("code", "name")) if by_arm else {},
        exploratory=_endpoints_defined_late(study, endpoints),
    )
