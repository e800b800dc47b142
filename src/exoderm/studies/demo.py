"""The demo clinic's running split-face study, after Park et al. 2022: adipose-stem-cell exosomes
(the demo's AdipoVes Lyo) on one half of the face and saline on the other, after microneedling of
the whole face, three sessions three weeks apart, GAIS six weeks after the last.

Written through the study services like real data, so that a new user meets every stage at once:
a participant rated by the demo rater, one whose photos wait for the rating, one in the middle of
the course (with a mild erythema on one half), one randomized with the kit for the first session
ready, one just enrolled, and a patient refused for an exclusion criterion (a screen failure).

Beside it a pilot study of the same design that ended: four participants through all sessions and
the endpoint visit, rated and asked for their satisfaction, unblinded at its end by the principal
investigator, so that its results page shows the arms, the figures and the report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from PIL import Image

from exoderm.clinics.models import Clinic, User
from exoderm.consent import services as consent_services
from exoderm.consent.models import ConsentKind
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.errors import RuleViolations
from exoderm.courses import services as course_services
from exoderm.courses.models import CourseTemplate, Visit, VisitKind, VisitStatus
from exoderm.patients import services as patient_services
from exoderm.patients.models import Patient
from exoderm.photos.services import upload_photo
from exoderm.products import coldchain
from exoderm.products import services as product_services
from exoderm.products.demo import release_on_arrival
from exoderm.products.models import Lot, Product, Source, StorageForm
from exoderm.safety.models import Relatedness, Term
from exoderm.skinlab.phantom import Perturbation, make_phantom, spots_to_clear
from exoderm.studies import page_selectors, selectors, services
from exoderm.studies.analysis.unblinding import unblind_study
from exoderm.studies.models import AllocationSlot, Kit, Participant, ScreenFailure, Study
from exoderm.treatments.services import ProcedureInput

STUDY_TITLE = "Exosomen nach Microneedling: randomisierte, verblindete Split-Face-Studie (nach Park 2022)"
#: The study's own patients (given name, family name, year of birth, Fitzpatrick type), by stage.
PATIENTS = [
    ("Ida", "Lorenz", 1978, 2),  # rated
    ("Greta", "Albrecht", 1983, 3),  # photographed at the endpoint, waiting for the rating
    ("Frieda", "Vogel", 1975, 2),  # in the middle of the course
    ("Marlene", "Kühn", 1990, 3),  # randomized, the first kit prepared
    ("Romy", "Busch", 1986, 4),  # enrolled, course planned
    ("Alma", "Seidel", 1992, 2),  # pregnant: refused (a screen failure)
]
FINISHED_TITLE = "Exosomen nach Microneedling: Split-Face-Pilotstudie (abgeschlossen, entblindet)"
#: The finished pilot study's patients (given name, family name, year of birth, Fitzpatrick type).
FINISHED_PATIENTS = [
    ("Hanna", "Winkler", 1981, 2),
    ("Clara", "Brandt", 1979, 3),
    ("Lotte", "Engel", 1988, 2),
    ("Mia", "Hartmann", 1984, 3),
]
#: The rater's GAIS of each pilot participant: (exosome half, saline half).
FINISHED_GAIS = [
    ("much_improved", "improved"),
    ("improved", "no_change"),
    ("very_much_improved", "improved"),
    ("much_improved", "no_change"),
]
CLOSE_UP_MM_PER_PX = 0.05
WEEKS_BETWEEN_SESSIONS = 3
FOLLOW_UP_WEEKS = 6


def seed_study(*, clinic: Clinic, users: dict[str, User], exosome_lot: Lot) -> Study:
    """Seed the demo study in ``clinic`` (called once, inside the demo's seeding transaction).

    ``users`` are the demo users by username: ``clinician`` is the principal investigator,
    ``assistant`` the unblinded coordinator who prepares the kits, ``clinician2`` the treating
    clinician and ``rater`` the blinded rater. ``exosome_lot`` is a released lot of the exosome
    product.
    """
    admin, investigator = users["admin"], users["clinician"]
    coordinator, treating, rater = users["assistant"], users["clinician2"], users["rater"]
    now = timezone.now()
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    saline = _saline(clinic, admin=admin, coordinator=coordinator, now=now)
    template = course_services.create_course_template(
        clinic=clinic,
        name="Studie Split-Face 3 × 3 Wochen",
        session_count=3,
        interval_weeks=WEEKS_BETWEEN_SESSIONS,
        followup_weeks=[FOLLOW_UP_WEEKS],
        window_days=3,
        by=admin,
    )
    study = _define_study(
        title=STUDY_TITLE,
        registry_id="DRKS00099999",
        template=template,
        products=(exosome_lot.product_id, saline.pk),
        endpoints=[  # at the endpoint visit: 6 weeks after session 3
            services.EndpointInput("gais", 3, FOLLOW_UP_WEEKS, primary=True),
            *(
                services.EndpointInput("metric", 3, FOLLOW_UP_WEEKS, metric=metric, region="cheek_left")
                for metric in ("wrinkle_density", "spot_area_pct", "tone_sd_L")
            ),
            services.EndpointInput("satisfaction", 3, FOLLOW_UP_WEEKS),
        ],
        users=users,
    )
    patients = [
        _patient(clinic, given, family, born, fitzpatrick, by=coordinator, now=now, pregnant=index == 5)
        for index, (given, family, born, fitzpatrick) in enumerate(PATIENTS)
    ]
    starts = [
        now - dt.timedelta(weeks=13),
        now - dt.timedelta(weeks=12, days=4),
        now - dt.timedelta(weeks=4),
        now + dt.timedelta(days=3),
        now + dt.timedelta(days=14),
    ]
    participants = []
    for patient, start in zip(patients, starts, strict=False):
        first_session_at = start.astimezone(tz).replace(hour=10, minute=0, second=0, microsecond=0)
        participants.append(
            services.enroll_participant(
                study=study,
                patient=patient,
                by=coordinator,
                first_session_at=first_session_at,
                clinician=treating,
            )
        )
    # refused for the pregnancy: recorded as a screen failure, which the CONSORT flow counts
    with contextlib.suppress(RuleViolations):
        services.enroll_participant(study=study, patient=patients[5], by=coordinator)
    _backdate(study, participants, earliest=now - dt.timedelta(weeks=14))

    for participant in participants[:3]:
        _treat_past_sessions(participant, coordinator=coordinator, treating=treating, now=now)
    _kit(participants[2], session_number=3, coordinator=coordinator, thawed_at=None)
    _kit(participants[3], session_number=1, coordinator=coordinator, thawed_at=None)
    for participant in participants[:2]:
        _endpoint_photos(participant, coordinator=coordinator, treating=treating, seed=participant.pk)
    services.prepare_rating_tasks(study=study, by=investigator)
    rated_task = participants[0].rating_tasks.get()
    better = _exosome_side(participants[0], coordinator=coordinator)
    services.record_rating(
        task=rated_task,
        rater=rater,
        scores={better: "much_improved", _other(better): "improved"},
        better_side=better,
    )
    second_session = participants[2].kits.get(session_number=2).session
    assert second_session is not None
    onset = second_session.performed_at.astimezone(tz).date() + dt.timedelta(days=1)
    services.record_study_adverse_event(
        participant=participants[2],
        user=treating,
        term=Term.ERYTHEMA,
        side="face_left",
        session=second_session,
        onset=onset,
        resolved_on=onset + dt.timedelta(days=3),
        severity=1,
        serious=False,
        related_to_procedure=Relatedness.PROBABLE,
        related_to_product=Relatedness.UNLIKELY,
    )
    _seed_finished_study(
        clinic=clinic, users=users, template=template, exosome_lot=exosome_lot, saline=saline
    )
    return study


def _define_study(
    *,
    title: str,
    registry_id: str,
    template: CourseTemplate,
    products: tuple[int, int],
    endpoints: list[services.EndpointInput],
    users: dict[str, User],
) -> Study:
    """A double-blind split-face study of the exosome product (arm A) against saline (arm B),
    defined by the principal investigator, its roles filled by the demo users."""
    investigator = users["clinician"]
    study = services.create_study(
        by=investigator,
        title=title,
        registry_id=registry_id,
        design="split_face",
        blinding="double_blind",
        course_template=template.pk,
        arms=[
            services.ArmInput(code="A", name="Exosomen (ADSC)", product=products[0]),
            services.ArmInput(code="B", name="Vehikel (Kochsalzlösung)", product=products[1]),
        ],
        endpoints=endpoints,
        criteria=[
            services.CriterionInput(kind="inclusion", subject="age", min_value=20, max_value=65),
            *(
                services.CriterionInput(kind="exclusion", subject="screening", screening_item=item)
                for item in (ScreeningItem.PREGNANCY, ScreeningItem.KELOID)
            ),
        ],
        block_size=4,
        slots_per_stratum=28,
    )
    for username, role in (
        ("assistant", "unblinded_coordinator"),
        ("clinician2", "treating_clinician"),
        ("rater", "rater"),
        ("researcher", "statistician"),  # the results only, pooled until the study is unblinded
    ):
        services.assign_role(study=study, user=users[username], role=role, by=investigator)
    return study


def _seed_finished_study(
    *, clinic: Clinic, users: dict[str, User], template: CourseTemplate, exosome_lot: Lot, saline: Product
) -> Study:
    """The pilot study that ended: each participant's three sessions charted from kits, the
    endpoint close-ups of both cheeks (analysed by the demo's worker, as the demo's other photos),
    the rater's GAIS and the participant's satisfaction, every follow-up attended; then unblinded
    at its end by the principal investigator (the logged act), so its results page, figures and
    report show the arms."""
    investigator, coordinator = users["clinician"], users["assistant"]
    treating, rater = users["clinician2"], users["rater"]
    now = timezone.now()
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    study = _define_study(
        title=FINISHED_TITLE,
        registry_id="DRKS00099998",
        template=template,
        products=(exosome_lot.product_id, saline.pk),
        endpoints=[
            services.EndpointInput("gais", 3, FOLLOW_UP_WEEKS, primary=True),
            *(
                services.EndpointInput("metric", 3, FOLLOW_UP_WEEKS, metric=metric, region="cheek_left")
                for metric in ("spot_count", "spot_area_pct")
            ),
            services.EndpointInput("satisfaction", 3, FOLLOW_UP_WEEKS),
        ],
        users=users,
    )
    participants = []
    for index, (given, family, born, fitzpatrick) in enumerate(FINISHED_PATIENTS):
        patient = _patient(clinic, given, family, born, fitzpatrick, by=coordinator, now=now, pregnant=False)
        # the courses ended a week or more ago: the first sessions 13 weeks and a day or two ago
        start = (now - dt.timedelta(weeks=13, days=1 + index // 2)).astimezone(tz)
        participants.append(
            services.enroll_participant(
                study=study,
                patient=patient,
                by=coordinator,
                first_session_at=start.replace(hour=9 + 4 * (index % 2), minute=0, second=0, microsecond=0),
                clinician=treating,
            )
        )
    _backdate(study, participants, earliest=now - dt.timedelta(weeks=14))
    for index, participant in enumerate(participants):
        _treat_past_sessions(participant, coordinator=coordinator, treating=treating, now=now)
        _endpoint_photos(
            participant,
            coordinator=coordinator,
            treating=treating,
            # by position, not primary key: the same skin however many rows the database held before
            seed=index + 1,
            design=PILOT_CLOSE_UPS,
        )
        exosome = _exosome_side(participant, coordinator=coordinator)
        endpoint = Visit.objects.get(
            course=participant.course,
            kind=VisitKind.FOLLOW_UP,
            session_number=3,
            weeks_after_session=FOLLOW_UP_WEEKS,
        )
        services.record_satisfaction(
            participant=participant,
            visit=endpoint,
            scores={exosome: 5 - index % 2, _other(exosome): 3},
            by=coordinator,
        )
    services.prepare_rating_tasks(study=study, by=investigator)
    for index, participant in enumerate(participants):
        exosome = _exosome_side(participant, coordinator=coordinator)
        exosome_gais, vehicle_gais = FINISHED_GAIS[index]
        services.record_rating(
            task=participant.rating_tasks.get(),
            rater=rater,
            scores={exosome: exosome_gais, _other(exosome): vehicle_gais},
            better_side=exosome,
        )
    unblind_study(study=study, by=investigator, reason="Letzte Nachuntersuchung erfolgt, Studie beendet.")
    return study


def _backdate(study: Study, participants: list[Participant], *, earliest: dt.datetime) -> None:
    """The demo's history starts months ago: the study was locked, and each participant enrolled
    and allocated, a week before their first session (the services stamp them with now)."""
    Study.objects.filter(pk=study.pk).update(locked_at=earliest, list_generated_at=earliest)
    ScreenFailure.objects.filter(study=study).update(recorded_at=earliest)
    for participant in participants:
        assert participant.course is not None
        enrolled_at = max(earliest, min(participant.course.starts_at, timezone.now()) - dt.timedelta(days=7))
        Participant.objects.filter(pk=participant.pk).update(enrolled_at=enrolled_at)
        AllocationSlot.objects.filter(participant=participant).update(allocated_at=enrolled_at)


def _saline(clinic: Clinic, *, admin: User, coordinator: User, now: dt.datetime) -> Product:
    """The vehicle: sterile saline in vials like the exosome product's, refrigerated, released,
    with a cold-chain log."""
    product = product_services.create_product(
        clinic=clinic,
        name="NaCl 0,9 % Studienvehikel",
        manufacturer="Apotheke am See",
        source=Source.OTHER,
        storage_form=StorageForm.REFRIGERATED_LIQUID,
        storage_min_c=Decimal("2"),
        storage_max_c=Decimal("8"),
        use_by_minutes=120,
        max_freeze_thaw_cycles=1,
        volume_min_ml=Decimal("0.5"),
        volume_max_ml=Decimal("2.5"),
        vial_volume_ml=Decimal("3.0"),
        by=admin,
    )
    received_at = now - dt.timedelta(days=100)
    lot = product_services.receive_lot(
        product=product,
        number="NACL-2026-07",
        expires_on=timezone.localdate() + dt.timedelta(days=365),
        vials_received=60,
        by=coordinator,
        received_at=received_at,
        logger_interval_minutes=60,
    )
    lot = release_on_arrival(
        lot, by=admin, reason="Sterile saline, certificate checked.", received_at=received_at
    )
    readings, at, hour = [], received_at.replace(minute=0, second=0, microsecond=0), 0
    while at <= now:
        celsius = Decimal("5.0") + Decimal((hour * 37) % 11 - 5) / 10
        readings.append(coldchain.Reading(recorded_at=at, celsius=celsius))
        at, hour = at + dt.timedelta(hours=1), hour + 1
    product_services.ingest_temperatures(lot=lot, readings=readings, by=coordinator)
    return product


def _patient(
    clinic: Clinic,
    given: str,
    family: str,
    born: int,
    fitzpatrick: int,
    *,
    by: User,
    now: dt.datetime,
    pregnant: bool,
) -> Patient:
    """A patient who consented to treatment, photography and research and was screened."""
    patient = patient_services.create_patient(
        clinic=clinic,
        by=by,
        fitzpatrick=fitzpatrick,
        glogau=2,
        given_name=given,
        family_name=family,
        date_of_birth=dt.date(born, 3, 14),
        email=f"{given.lower()}.{family.lower().replace('ü', 'ue')}@example.org",
        phone="+49 30 5550101",
        language="de",
    )
    signed_at = now - dt.timedelta(weeks=14)
    for kind in (ConsentKind.TREATMENT, ConsentKind.PHOTOGRAPHY, ConsentKind.RESEARCH):
        consent_services.sign_consent(
            patient=patient, kind=kind, signed_by_name=f"{given} {family}", signed_at=signed_at, by=by
        )
    # screened before the first sessions, months ago, again during the courses and for the
    # enrolment (an answer counts for 90 days)
    today = timezone.localdate()
    for answered_on in (signed_at.date(), today - dt.timedelta(days=50), today - dt.timedelta(days=2)):
        patient_services.record_screening(
            patient=patient,
            by=by,
            answered_on=answered_on,
            answers=[
                patient_services.Answer(item=item, present=pregnant and item == ScreeningItem.PREGNANCY)
                for item in ScreeningItem.values
            ],
        )
    return patient


def _kit(
    participant: Participant, *, session_number: int, coordinator: User, thawed_at: dt.datetime | None
) -> Kit:
    """A kit for the session with the next vials of each half's product (the coordinator's work)."""
    allocation = selectors.allocation_of(participant=participant, user=coordinator)
    arms = {arm.code: arm for arm in participant.study.arms.all()}
    vials = {}
    for label, code in (("left", allocation.face_left), ("right", allocation.face_right)):
        vial = page_selectors.kit_vials(study=participant.study, product_id=arms[code].product_id).first()
        assert vial is not None, "the demo lots hold enough vials"
        vials[label] = vial.pk
    return services.prepare_kit(
        participant=participant,
        session_number=session_number,
        vials=vials,
        by=coordinator,
        thawed_at=thawed_at,
    )


def _treat_past_sessions(
    participant: Participant, *, coordinator: User, treating: User, now: dt.datetime
) -> None:
    """Chart each session planned before now from its kit: microneedling of the whole face, then
    the vial labelled left on the left half and the one labelled right on the right half; mark
    the follow-ups whose window is over as attended."""
    assert participant.course is not None
    for visit in Visit.objects.filter(course=participant.course, planned_at__lt=now).order_by("planned_at"):
        if visit.kind == VisitKind.SESSION:
            at = visit.planned_at
            kit = _kit(
                participant,
                session_number=visit.session_number,
                coordinator=coordinator,
                thawed_at=at - dt.timedelta(minutes=20),
            )
            services.chart_from_kit(
                participant=participant,
                kit_code=kit.code,
                clinician=treating,
                performed_at=at,
                procedures=[
                    ProcedureInput(
                        kind="microneedling",
                        areas=["face"],
                        started_at=at,
                        ended_at=at + dt.timedelta(minutes=25),
                        params={"device": "SkinPen Precision", "needle_depth_mm": 1.0, "passes": 3},
                    )
                ],
                applications=[
                    services.KitApplicationInput(
                        side=side, volume_ml=Decimal("1.0"), applied_at=at + dt.timedelta(minutes=30 + offset)
                    )
                    for offset, side in ((0, "face_left"), (3, "face_right"))
                ],
            )
        elif visit.due_until < timezone.localdate() and visit.status == VisitStatus.PLANNED:
            course_services.mark_done(visit=visit, by=coordinator)


def _exosome_side(participant: Participant, *, coordinator: User) -> str:
    allocation = selectors.allocation_of(participant=participant, user=coordinator)
    return "face_left" if allocation.face_left == "A" else "face_right"


def _other(side: str) -> str:
    return "face_right" if side == "face_left" else "face_left"


@dataclass(frozen=True)
class CloseUpDesign:
    """The synthetic cheek of the endpoint close-ups: its size in pixels, its pigmented spots and
    how many of them each half has lost by the endpoint."""

    shape: tuple[int, int]
    spots: int
    cleared_exosome: int
    cleared_vehicle: int
    #: the colour chart's patch pitch: its patches take room the spots cannot have
    chart_pitch_mm: float = 4.0


RUNNING_CLOSE_UPS = CloseUpDesign(shape=(600, 800), spots=24, cleared_exosome=14, cleared_vehicle=5)
#: Smaller close-ups for the pilot study's sixteen: drawing the phantoms is most of its seeding
#: time. A 4 mm chart would fill most of a 24 x 32 mm frame and leave room for one spot.
PILOT_CLOSE_UPS = CloseUpDesign(
    shape=(480, 640), spots=16, cleared_exosome=10, cleared_vehicle=3, chart_pitch_mm=2.0
)


def _endpoint_photos(
    participant: Participant,
    *,
    coordinator: User,
    treating: User,
    seed: int,
    design: CloseUpDesign = RUNNING_CLOSE_UPS,
) -> None:
    """A baseline close-up of each cheek before the first session and one at the endpoint visit:
    synthetic skin (one design per side) whose exosome side lost more of its spots and lines."""
    assert participant.course is not None
    exosome_side = _exosome_side(participant, coordinator=coordinator)
    endpoint = Visit.objects.get(
        course=participant.course,
        kind=VisitKind.FOLLOW_UP,
        session_number=3,
        weeks_after_session=FOLLOW_UP_WEEKS,
    )
    first_session = participant.course.starts_at
    for side, area in (("face_left", "cheek_left"), ("face_right", "cheek_right")):
        # participants respond differently: a spot more or less than the design's on either side
        if side == exosome_side:
            wanted = design.cleared_exosome + seed % 3 - 1
        else:
            wanted = design.cleared_vehicle + seed % 2
        placed = design.spots
        for timepoint, taken_at, visit in (
            ("baseline", first_session - dt.timedelta(hours=1), None),
            ("follow_up", endpoint.planned_at, endpoint),
        ):
            # clear ``wanted`` of the spots the baseline really holds (a crowded design has fewer)
            spots_cleared = (
                0 if visit is None else spots_to_clear(asked=design.spots, placed=placed, wanted=wanted)
            )
            skin = make_phantom(
                shape=design.shape, mm_per_px=CLOSE_UP_MM_PER_PX, seed=seed * 10 + len(area),
                spots=design.spots, spots_cleared=spots_cleared, chart=True,
                chart_pitch_mm=design.chart_pitch_mm,
                perturb=Perturbation(exposure=1.0, noise_sd=2.0, seed=spots_cleared),
            )  # fmt: skip
            placed = skin.truth.spot_count
            jpeg = io.BytesIO()
            Image.fromarray(skin.rgb).save(jpeg, "JPEG", quality=92)
            upload_photo(
                patient=participant.patient, chunks=[jpeg.getvalue()], view="close_up", area=area,
                timepoint=timepoint, visit=visit, taken_at=taken_at, mm_per_px=CLOSE_UP_MM_PER_PX,
                by=treating,
            )  # fmt: skip
