"""The demo clinic: every role, products, lots with a cold chain, 40 patients in their courses.

Everything is written through the same services the pages and the API use, so the demo data
keeps the protocol like real data: each session follows a procedure, uses a thawed vial of a
released lot, and each patient has consented and been screened. The first patient also has a
baseline and a week-6 close-up, which the demo's worker analyses when it starts.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zoneinfo
from decimal import Decimal

import pyotp
from django.db import transaction
from django.utils import timezone
from PIL import Image

from exoderm.booking.demo import seed_week
from exoderm.clinics.models import Clinic, Role, User
from exoderm.clinics.services import confirm_totp_enrolment, create_user, start_totp_enrolment
from exoderm.consent import services as consent_services
from exoderm.consent.demo import seed_signed_consent
from exoderm.consent.models import ConsentKind, ConsentTemplate
from exoderm.core.contraindications import ScreeningItem
from exoderm.courses import services as course_services
from exoderm.courses.models import Visit, VisitKind
from exoderm.messaging.demo import seed_outbox
from exoderm.patients import services as patient_services
from exoderm.patients.models import Patient
from exoderm.photos.services import upload_photo
from exoderm.products import coldchain
from exoderm.products import services as product_services
from exoderm.products.demo import release_on_arrival
from exoderm.products.models import Lot, LotStatus, Product, Source, StorageForm, VialState
from exoderm.safety.demo import seed_adverse_events
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.studies.demo import seed_study
from exoderm.treatments.models import TreatmentSession
from exoderm.treatments.services import ApplicationInput, ProcedureInput, record_session

DEMO_CLINIC = "Hautzentrum am See (Demo)"
# Demo passwords are printed by `exoderm demo`; they only ever protect demo data.
# So is the demo administrator's authenticator secret (add it to an authenticator app).
DEMO_ADMIN_TOTP_SECRET = "EXODERMDEMOADMINSECRETKEY2345672"
USERS = [
    ("admin", "Demo-Admin-2026!", Role.CLINIC_ADMIN, "Claudia", "Berger", "de"),
    ("clinician", "Demo-Clinician-2026!", Role.CLINICIAN, "Dr. Jana", "Peredo", "de"),
    ("clinician2", "Demo-Clinician2-2026!", Role.CLINICIAN, "Dr. Sam", "Park", "en"),
    ("assistant", "Demo-Assistant-2026!", Role.ASSISTANT, "Mia", "Keller", "de"),
    ("researcher", "Demo-Researcher-2026!", Role.RESEARCHER, "Lea", "Garlapati", "en"),
    ("rater", "Demo-Rater-2026!", Role.CLINICIAN, "Dr. Noah", "Winter", "en"),  # the study's blinded rater
]
GIVEN = [
    "Anna",
    "Sophie",
    "Marie",
    "Laura",
    "Julia",
    "Lena",
    "Sarah",
    "Lisa",
    "Katharina",
    "Emma",
    "Hannah",
    "Johanna",
    "Clara",
    "Elena",
    "Nina",
    "Paula",
    "Thomas",
    "Michael",
    "Jan",
    "Lukas",
]
FAMILY = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Braun",
]
PATIENTS = 40
HISTORY_DAYS = 90
CLOSE_UP_MM_PER_PX = 0.05


def seed_demo() -> list[tuple[str, str, str]]:
    """Seed the demo clinic unless it exists; return (username, password, role) of its users."""
    if not Clinic.objects.filter(name=DEMO_CLINIC).exists():
        _seed(random.Random(20261127))
    return [(username, password, role) for username, password, role, *_ in USERS]


@transaction.atomic
def _seed(rng: random.Random) -> None:
    clinic = Clinic.objects.create(name=DEMO_CLINIC, time_zone="Europe/Berlin", language="de")
    users = {
        username: create_user(
            clinic=clinic,
            username=username,
            password=password,
            role=role,
            first_name=first,
            last_name=last,
            email=f"{username}@demo.exoderm.invalid",
            language=language,
            # printed by `make demo` for anyone to sign in with: as if each user had chosen theirs
            temporary_password=False,
        )
        for username, password, role, first, last, language in USERS
    }
    admin, assistant = users["admin"], users["assistant"]
    # clinic administrators sign in with a second factor: the demo's uses a secret printed by `make demo`
    start_totp_enrolment(user=admin, secret=DEMO_ADMIN_TOTP_SECRET)
    confirm_totp_enrolment(user=admin, code=pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now())
    clinicians = [users["clinician"], users["clinician2"]]
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    now = timezone.now()
    start = now - dt.timedelta(days=HISTORY_DAYS)

    _consent_templates(clinic, admin)
    # The demo's history starts three months ago: its consent texts were published before that.
    ConsentTemplate.objects.filter(clinic=clinic).update(created_at=start - dt.timedelta(days=30))
    lots = _products_and_lots(clinic, admin, assistant, received_at=start - dt.timedelta(days=5), now=now)
    template = course_services.create_course_template(
        clinic=clinic,
        name="Exosomen-Kur 3 × 4 Wochen",
        session_count=3,
        interval_weeks=4,
        followup_weeks=[2, 6],
        window_days=3,
        by=admin,
    )
    course_services.create_course_template(
        clinic=clinic,
        name="Einzelbehandlung mit Kontrolle",
        session_count=1,
        interval_weeks=4,
        followup_weeks=[2, 6],
        window_days=3,
        by=admin,
    )
    for index in range(PATIENTS):
        _patient_with_course(
            rng,
            index,
            clinic=clinic,
            tz=tz,
            template=template,
            lots=lots,
            by=assistant,
            clinician=clinicians[index % 2],
            start=start,
            now=now,
        )
    first = Patient.objects.filter(clinic=clinic).order_by("pk").first()
    assert first is not None
    _close_ups(first, by=clinicians[0])
    seed_adverse_events(clinic=clinic, clinician=clinicians[0])
    seed_study(clinic=clinic, users=users, exosome_lot=lots[1])
    seed_week(clinic=clinic, by=assistant, admin=admin, first_day=timezone.localdate(timezone=tz))
    seed_outbox(clinic=clinic, now=now)
    seed_signed_consent(clinic=clinic)


def _close_ups(patient: Patient, *, by: User) -> None:
    """A baseline and a week-6 close-up of the left cheek, each with a colour chart in the corner.

    The skin is synthetic (:func:`exoderm.skinlab.phantom.make_phantom`, one design): six weeks
    after the first session 18 of its 30 pigmented spots are gone and it is 2 L* lighter, and it
    is photographed at another exposure, which the chart calibrates away. Stored as the camera's
    JPEGs with the scale entered; the analyses queue for the demo's worker.
    """
    first_session = TreatmentSession.objects.filter(patient=patient).order_by("performed_at").first()
    assert first_session is not None, "the first demo patient started the course months ago"
    for timepoint, taken_at, cleared, lightness, exposure in (
        ("baseline", first_session.performed_at - dt.timedelta(hours=1), 0, 62.0, 0.95),
        ("follow_up", first_session.performed_at + dt.timedelta(weeks=6), 18, 64.0, 1.05),
    ):
        skin = make_phantom(
            shape=(900, 1200), mm_per_px=CLOSE_UP_MM_PER_PX, seed=11, spots=30, spots_cleared=cleared,
            base_lab=(lightness, 11.0, 16.0), chart=True, chart_pitch_mm=4.0,
            perturb=Perturbation(exposure=exposure, noise_sd=2.0, seed=cleared),
        )  # fmt: skip
        jpeg = io.BytesIO()
        Image.fromarray(skin.rgb).save(jpeg, "JPEG", quality=92)
        upload_photo(
            patient=patient, chunks=[jpeg.getvalue()], view="close_up", area="cheek_left",
            timepoint=timepoint, taken_at=taken_at, mm_per_px=CLOSE_UP_MM_PER_PX, by=by,
        )  # fmt: skip


def _consent_templates(clinic: Clinic, admin: User) -> None:
    texts = {
        ConsentKind.TREATMENT: (
            "Einwilligung in die Exosomen-Behandlung",
            "Consent to exosome treatment",
            "Ich wurde über Microneedling bzw. fraktionierten Laser und die anschließende Anwendung von "
            "Exosomen aus Stammzellen aufgeklärt, einschließlich fehlender FDA-Zulassung, Risiken und "
            "Alternativen, und willige ein.",
            "I was informed about microneedling or fractional laser and the subsequent application of "
            "stem-cell-derived exosomes, including the lack of FDA approval, risks and alternatives, and "
            "I consent.",
        ),
        ConsentKind.PHOTOGRAPHY: (
            "Einwilligung in Fotodokumentation",
            "Consent to photography",
            "Standardisierte Fotos meiner Haut dürfen zur Dokumentation und Messung aufgenommen werden.",
            "Standardized photos of my skin may be taken for documentation and measurement.",
        ),
        ConsentKind.RESEARCH: (
            "Einwilligung in Forschungsnutzung",
            "Consent to research use",
            "Pseudonymisierte Daten dürfen für Studien zur Wirksamkeit verwendet werden.",
            "Pseudonymized data may be used for studies of effectiveness.",
        ),
        ConsentKind.MARKETING: (
            "Einwilligung in die Weitergabe von Fotos",
            "Consent to sharing photos",
            "Vorher-Nachher-Bilder meiner Haut dürfen mir zur Weitergabe ausgehändigt und von der Praxis "
            "ohne meinen Namen zur Darstellung ihrer Behandlungen gezeigt werden. Ich kann dies jederzeit "
            "widerrufen.",
            "Before/after images of my skin may be handed to me for sharing and shown by the clinic, "
            "without my name, to present its treatments. I can withdraw this at any time.",
        ),
    }
    for kind, (title_de, title_en, text_de, text_en) in texts.items():
        consent_services.create_template(
            clinic=clinic,
            kind=kind,
            title_de=title_de,
            title_en=title_en,
            text_de=text_de,
            text_en=text_en,
            by=admin,
        )


def _products_and_lots(
    clinic: Clinic, admin: User, assistant: User, *, received_at: dt.datetime, now: dt.datetime
) -> list[Lot]:
    frozen = product_services.create_product(
        clinic=clinic,
        name="ExoCord Serum",
        manufacturer="Nordic Vesicle Labs",
        source=Source.UMBILICAL_CORD_MSC,
        storage_form=StorageForm.FROZEN,
        storage_min_c=Decimal("-25"),
        storage_max_c=Decimal("-15"),
        use_by_minutes=240,
        max_freeze_thaw_cycles=1,
        volume_min_ml=Decimal("1.0"),
        volume_max_ml=Decimal("3.0"),
        vial_volume_ml=Decimal("5.0"),
        by=admin,
    )
    lyophilized = product_services.create_product(
        clinic=clinic,
        name="AdipoVes Lyo",
        manufacturer="Alpine Regenerative",
        source=Source.ADIPOSE_MSC,
        storage_form=StorageForm.LYOPHILIZED,
        storage_min_c=Decimal("2"),
        storage_max_c=Decimal("8"),
        use_by_minutes=120,
        max_freeze_thaw_cycles=1,
        volume_min_ml=Decimal("0.5"),
        volume_max_ml=Decimal("2.5"),
        vial_volume_ml=Decimal("3.0"),
        by=admin,
    )
    today = timezone.localdate()
    plan = [
        (frozen, "EC-2026-0412", 90, 400, None),
        (lyophilized, "AV-2026-118", 60, 400, None),
        (frozen, "EC-2026-0733", 20, 12, None),  # expires within 30 days, few vials
        (frozen, "EC-2026-0801", 200, 30, "excursion"),  # the cold chain broke: quarantined
    ]
    lots = []
    for product, number, shelf_days, vials, incident in plan:
        lot = product_services.receive_lot(
            product=product,
            number=number,
            expires_on=today + dt.timedelta(days=shelf_days),
            vials_received=vials,
            by=assistant,
            received_at=received_at,
            logger_interval_minutes=60,
        )
        lot = release_on_arrival(
            lot, by=admin, reason="Certificate of analysis checked.", received_at=received_at
        )
        product_services.ingest_temperatures(
            lot=lot,
            readings=_temperature_log(product, start=received_at, end=now, incident=incident),
            by=assistant,
        )
        lot.refresh_from_db()
        if lot.status == LotStatus.RELEASED:
            lots.append(lot)
    return lots


def _temperature_log(
    product: Product, *, start: dt.datetime, end: dt.datetime, incident: str | None
) -> list[coldchain.Reading]:
    middle = (product.storage_min_c + product.storage_max_c) / 2
    readings, at, hour = [], start.replace(minute=0, second=0, microsecond=0), 0
    excursion_hour = 24 * 3
    while at <= end:
        wobble = Decimal(((hour * 37) % 11) - 5) / 10
        celsius = middle + wobble
        if incident == "excursion" and excursion_hour <= hour < excursion_hour + 3:
            celsius = product.storage_max_c + Decimal("6.5") - hour + excursion_hour  # door left open
        readings.append(coldchain.Reading(recorded_at=at, celsius=celsius.quantize(Decimal("0.1"))))
        at, hour = at + dt.timedelta(hours=1), hour + 1
    return readings


def _patient_with_course(
    rng: random.Random,
    index: int,
    *,
    clinic: Clinic,
    tz: zoneinfo.ZoneInfo,
    template,
    lots: list[Lot],
    by: User,
    clinician: User,
    start: dt.datetime,
    now: dt.datetime,
) -> None:
    given, family = GIVEN[index % len(GIVEN)], FAMILY[(index * 7) % len(FAMILY)]
    patient = patient_services.create_patient(
        clinic=clinic,
        by=by,
        fitzpatrick=rng.choice([1, 2, 2, 3, 3, 3, 4, 5]),
        glogau=rng.choice([1, 2, 2, 3, 4]),
        given_name=given,
        family_name=family,
        date_of_birth=dt.date(rng.randint(1955, 1998), rng.randint(1, 12), rng.randint(1, 28)),
        email=f"{given.lower()}.{family.lower().replace('ü', 'ue').replace('ö', 'oe')}{index}@example.org",
        phone=f"+49 30 {rng.randint(1000000, 9999999)}",
        language="de" if index % 4 else "en",
    )
    # First sessions spread over the last 3 months (a few start next week), at full local hours.
    first_day = (start + dt.timedelta(days=int(index * (HISTORY_DAYS + 7) / PATIENTS))).astimezone(tz).date()
    starts_at = dt.datetime.combine(first_day, dt.time(rng.choice([9, 10, 11, 14, 15, 16])), tzinfo=tz)
    on_isotretinoin = index % 13 == 5
    patient_services.record_screening(
        patient=patient,
        by=by,
        answered_on=min(first_day - dt.timedelta(days=3), timezone.localdate()),
        answers=[
            patient_services.Answer(
                item=item,
                present=on_isotretinoin and item == ScreeningItem.ISOTRETINOIN,
                last_dose_on=(first_day - dt.timedelta(days=100))
                if on_isotretinoin and item == ScreeningItem.ISOTRETINOIN
                else None,
            )
            for item in ScreeningItem.values
        ],
    )
    signed_at = min(starts_at - dt.timedelta(days=3), now - dt.timedelta(hours=1))
    for kind in (ConsentKind.TREATMENT, ConsentKind.PHOTOGRAPHY) + (
        (ConsentKind.RESEARCH,) if index % 3 != 2 else ()  # the first, photographed patient consents
    ):
        consent_services.sign_consent(
            patient=patient, kind=kind, signed_by_name=f"{given} {family}", signed_at=signed_at, by=by
        )
    course = course_services.enroll(
        patient=patient, template=template, clinician=clinician, starts_at=starts_at, by=by
    )
    for visit in Visit.objects.filter(course=course, planned_at__lt=now - dt.timedelta(hours=2)).order_by(
        "planned_at"
    ):
        if visit.kind == VisitKind.SESSION:
            _treat(
                rng,
                patient=patient,
                clinician=clinician,
                at=visit.planned_at,
                lots=lots,
                by=by,
                acknowledge=("contraindication",) if on_isotretinoin else (),
            )
        elif visit.due_until < timezone.localdate() - dt.timedelta(days=2) and rng.random() < 0.85:
            course_services.mark_done(visit=visit, by=by)


def _treat(
    rng: random.Random,
    *,
    patient,
    clinician: User,
    at: dt.datetime,
    lots: list[Lot],
    by: User,
    acknowledge: tuple[str, ...],
) -> None:
    lot = lots[0] if rng.random() < 0.7 else lots[1]
    vial = lot.vials.filter(state=VialState.STORED).order_by("serial").first()
    assert vial is not None, "the demo lots hold enough vials"
    prepare = (
        product_services.reconstitute_vial
        if lot.product.storage_form == StorageForm.LYOPHILIZED
        else product_services.thaw_vial
    )
    prepare(vial=vial, by=by, at=at - dt.timedelta(minutes=20))
    laser = rng.random() < 0.4
    procedure = ProcedureInput(
        kind="fractional_laser" if laser else "microneedling",
        areas=["face"],
        started_at=at,
        ended_at=at + dt.timedelta(minutes=25),
        params=(
            {
                "laser_type": "non_ablative",
                "wavelength_nm": 1550,
                "pulse_energy_mj": 20,
                "density_pct": 15,
                "passes": 2,
            }
            if laser
            else {"device": "SkinPen Precision", "needle_depth_mm": rng.choice([0.5, 1.0, 1.5]), "passes": 3}
        ),
    )
    application = ApplicationInput(
        lot=lot.pk,
        vial=vial.pk,
        volume_ml=Decimal("2.0"),
        areas=["face"],
        applied_at=at + dt.timedelta(minutes=30),
    )
    record_session(
        patient=patient,
        clinician=clinician,
        performed_at=at,
        procedures=[procedure],
        applications=[application],
        acknowledged_warnings=acknowledge,
    )
