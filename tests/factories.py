"""Factories for test data: one per model, valid by default, every field overridable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from exoderm.clinics.models import Clinic, Role, User
from exoderm.consent.models import ConsentKind, ConsentRecord, ConsentTemplate
from exoderm.courses.models import CourseTemplate
from exoderm.patients.models import Patient, PatientIdentity, ScreeningAnswer
from exoderm.products.models import Lot, LotStatus, Product, Source, StorageForm, Vial

PASSWORD = "correct horse battery staple"


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Hautklinik {n}")
    time_zone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Dana"
    last_name = factory.Sequence(lambda n: f"Doctor{n}")
    role = Role.CLINICIAN
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"P-{n:05d}")
    fitzpatrick = 3
    glogau = 2
    identity = factory.RelatedFactory(
        "tests.factories.PatientIdentityFactory", factory_related_name="patient"
    )


class PatientIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentity

    patient = factory.SubFactory(PatientFactory, identity=None)
    given_name = "Erika"
    family_name = factory.Sequence(lambda n: f"Mustermann{n}")
    date_of_birth = dt.date(1980, 5, 17)
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    phone = "+49 30 1234567"


class ScreeningAnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScreeningAnswer

    patient = factory.SubFactory(PatientFactory)
    item = "pregnancy"
    present = False
    answered_on = factory.LazyFunction(lambda: timezone.localdate())
    recorded_by = factory.SubFactory(UserFactory, clinic=factory.SelfAttribute("..patient.clinic"))


class ConsentTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentTemplate

    clinic = factory.SubFactory(ClinicFactory)
    kind = ConsentKind.TREATMENT
    version = 1
    title_de = "Einwilligung in die Behandlung"
    title_en = "Consent to treatment"
    text_de = "Ich willige in die Behandlung ein."
    text_en = "I consent to the treatment."


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    patient = factory.SubFactory(PatientFactory)
    template = factory.SubFactory(ConsentTemplateFactory, clinic=factory.SelfAttribute("..patient.clinic"))
    signed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    signed_by_name = "Erika Mustermann"
    recorded_by = factory.SubFactory(UserFactory, clinic=factory.SelfAttribute("..patient.clinic"))


def give_treatment_consent(patient, *, signed_at=None, recorded_by=None):
    """A treatment consent of the clinic's current version (published now if there is none)."""
    template = ConsentTemplate.objects.filter(clinic=patient.clinic, kind=ConsentKind.TREATMENT).order_by(
        "-version"
    ).first() or ConsentTemplateFactory(clinic=patient.clinic)
    return ConsentRecordFactory(
        patient=patient,
        template=template,
        signed_at=signed_at or timezone.now() - dt.timedelta(days=1),
        recorded_by=recorded_by or UserFactory(clinic=patient.clinic),
    )


class ConsentedPatientFactory(PatientFactory):
    """A patient who signed the clinic's treatment consent yesterday (as enrolling in a course needs)."""

    @factory.post_generation
    def treatment_consent(obj, create, extracted, **kwargs):
        if create:
            give_treatment_consent(obj)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"ExoGel {n}")
    manufacturer = "Exo Labs"
    source = Source.UMBILICAL_CORD_MSC
    storage_form = StorageForm.FROZEN
    storage_min_c = Decimal("-25")
    storage_max_c = Decimal("-15")
    use_by_minutes = 120
    max_freeze_thaw_cycles = 1
    volume_min_ml = Decimal("1.0")
    volume_max_ml = Decimal("3.0")
    vial_volume_ml = Decimal("5.0")


class LotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lot

    product = factory.SubFactory(ProductFactory)
    number = factory.Sequence(lambda n: f"L{n:06d}")
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=180))
    vials_received = 10
    received_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=7))
    status = LotStatus.RELEASED


class VialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vial

    lot = factory.SubFactory(LotFactory)
    serial = factory.Sequence(lambda n: n + 1)


class CourseTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseTemplate

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Exosome course {n}")
    session_count = 3
    interval_weeks = 4
    followup_weeks = [2, 6]
    window_days = 3


# --- treatment sessions -----------------------------------------------------------------------


class ThawedVialFactory(VialFactory):
    """A vial thawed once, ten minutes ago."""

    state = "thawed"
    thawed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=10))
    freeze_thaw_cycles = 1


def screen_patient(patient, *, answered_on=None, recorded_by=None, **present):
    """Answer every screening item for ``patient``: "no", except the items named in ``present``.

    ``present`` maps an item to ``True`` or to a dict of answer fields (``areas``, ``last_dose_on``).
    """
    from exoderm.core.contraindications import ScreeningItem

    answered_on = answered_on or timezone.localdate() - dt.timedelta(days=1)
    recorded_by = recorded_by or UserFactory(clinic=patient.clinic)
    answers = []
    for item in ScreeningItem.values:
        extra = present.get(item)
        fields = extra if isinstance(extra, dict) else {}
        answers.append(
            ScreeningAnswerFactory(
                patient=patient,
                item=item,
                present=bool(extra),
                answered_on=answered_on,
                recorded_by=recorded_by,
                **fields,
            )
        )
    return answers


def ambiguous_on_the_wall(moment: dt.datetime, tz: ZoneInfo) -> bool:
    """Whether ``moment``'s wall-clock reading in ``tz`` falls in an hour a clock change repeats."""
    wall = moment.astimezone(tz).replace(tzinfo=None)
    return wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()


def clear_of_clock_changes(
    start: dt.datetime, tz: ZoneInfo, *, lasting: dt.timedelta, step: dt.timedelta
) -> dt.datetime:
    """``start``, moved by ``step`` until neither it nor ``lasting`` later reads ambiguously.

    Forms take the clinic's wall-clock time and refuse one a clock change makes ambiguous, so a
    scene entered through a form in the night the clocks go back must stay clear of that hour
    (checking both ends suffices while ``lasting`` is shorter than the repeated hour).
    """
    while ambiguous_on_the_wall(start, tz) or ambiguous_on_the_wall(start + lasting, tz):
        start += step
    return start


class SessionScene:
    """Everything a clinic needs for a session that keeps the protocol, and helpers to record one.

    The patient has consented and was screened (all "no", or as ``screening`` says); the lot is
    released; ``vial`` was thawed 10 minutes into the session; a microneedling of the face from
    ``at`` to ``at + 20 min`` is followed by 2 ml on the face 5 minutes later.
    """

    def __init__(self, clinic, *, product=None, **screening):
        self.clinic = clinic
        self.clinician = UserFactory(clinic=clinic, role=Role.CLINICIAN)
        self.patient = PatientFactory(clinic=clinic)
        self.consent = give_treatment_consent(self.patient, recorded_by=self.clinician)
        screen_patient(self.patient, recorded_by=self.clinician, **screening)
        self.product = product or ProductFactory(clinic=clinic)
        self.lot = LotFactory(product=self.product)
        self.at = clear_of_clock_changes(
            timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2),
            ZoneInfo(clinic.time_zone),
            lasting=dt.timedelta(minutes=25),
            step=-dt.timedelta(hours=1),
        )
        # The clinic's calendar day of the application: the day lot expiry and screening are
        # judged on, which around midnight is not the server's today.
        self.day = (self.at + dt.timedelta(minutes=25)).astimezone(ZoneInfo(clinic.time_zone)).date()
        self.vial = ThawedVialFactory(lot=self.lot, thawed_at=self.at + dt.timedelta(minutes=10))

    def ahead(self) -> dt.datetime:
        """A time clearly in the future, within the 6 hours a session may span, unambiguous."""
        soon = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=30)
        return clear_of_clock_changes(
            soon, ZoneInfo(self.clinic.time_zone), lasting=dt.timedelta(0), step=dt.timedelta(hours=1)
        )

    def procedure(self, **changes):
        data = {
            "kind": "microneedling",
            "areas": ["face"],
            "started_at": self.at,
            "ended_at": self.at + dt.timedelta(minutes=20),
            "params": {"needle_depth_mm": 1.0, "passes": 3},
        }
        return {**data, **changes}

    def laser(self, laser_type="non_ablative", **changes):
        params = {
            "laser_type": laser_type,
            "wavelength_nm": 1550 if laser_type == "non_ablative" else 10600,
            "pulse_energy_mj": 20,
            "density_pct": 10,
            "passes": 2,
        }
        return self.procedure(kind="fractional_laser", params=params, **changes)

    def application(self, **changes):
        data = {
            "lot": self.lot.pk,
            "vial": self.vial.pk,
            "volume_ml": Decimal("2.0"),
            "areas": ["face"],
            "applied_at": self.at + dt.timedelta(minutes=25),
        }
        return {**data, **changes}

    def record(self, *, procedures=None, applications=None, **kwargs):
        """Record through the service (the one entry point) with dicts as from :meth:`procedure`."""
        from exoderm.treatments.services import ApplicationInput, ProcedureInput, record_session

        procedures = [self.procedure()] if procedures is None else procedures
        applications = [self.application()] if applications is None else applications
        kwargs.setdefault("clinician", self.clinician)
        return record_session(
            patient=kwargs.pop("patient", self.patient),
            performed_at=kwargs.pop("performed_at", self.at),
            procedures=[ProcedureInput(**p) for p in procedures],
            applications=[ApplicationInput(**a) for a in applications],
            **kwargs,
        )

    def payload(self, *, procedures=None, applications=None, **changes):
        """The same session as a JSON body for POST /sessions."""

        def plain(data):
            return {
                key: value.isoformat()
                if isinstance(value, dt.datetime)
                else float(value)
                if isinstance(value, Decimal)
                else value
                for key, value in data.items()
            }

        procedures = [self.procedure()] if procedures is None else procedures
        applications = [self.application()] if applications is None else applications
        body = {
            "patient": self.patient.pk,
            "performed_at": self.at.isoformat(),
            "procedures": [plain(p) for p in procedures],
            "applications": [plain(a) for a in applications],
        }
        return {**body, **changes}


# --- recall: sessions and applications written directly (the protocol is not under test there) --


class TreatmentSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "treatments.TreatmentSession"

    patient = factory.SubFactory(PatientFactory)
    clinician = factory.SubFactory(UserFactory, clinic=factory.SelfAttribute("..patient.clinic"))
    performed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=3))


class ExosomeApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "treatments.ExosomeApplication"

    session = factory.SubFactory(TreatmentSessionFactory)
    lot = factory.SubFactory(LotFactory, product__clinic=factory.SelfAttribute("...session.patient.clinic"))
    vial = factory.SubFactory(VialFactory, lot=factory.SelfAttribute("..lot"), state="used")
    volume_ml = Decimal("2.0")
    areas = factory.LazyFunction(lambda: ["face"])
    applied_at = factory.LazyAttribute(lambda o: o.session.performed_at + dt.timedelta(minutes=25))


# --- studies ----------------------------------------------------------------------------------


def give_research_consent(patient, *, signed_at=None, recorded_by=None):
    """A research consent of the clinic's current version (published now if there is none)."""
    template = ConsentTemplate.objects.filter(clinic=patient.clinic, kind=ConsentKind.RESEARCH).order_by(
        "-version"
    ).first() or ConsentTemplateFactory(
        clinic=patient.clinic,
        kind=ConsentKind.RESEARCH,
        title_en="Research use",
        title_de="Forschungsnutzung",
    )
    return ConsentRecordFactory(
        patient=patient,
        template=template,
        signed_at=signed_at or timezone.now() - dt.timedelta(days=1),
        recorded_by=recorded_by or UserFactory(clinic=patient.clinic),
    )


class SplitFaceStudyScene:
    """A double-blind split-face study of an exosome serum (arm A) against a vehicle (arm B),
    defined through the service by its principal investigator, with every study role filled:
    ``pi``, ``coordinator`` (unblinded, an assistant), ``clinician`` (treating) and ``raters``.
    Each product has a released lot of ``vials`` vials. ``participant(...)`` makes a consented,
    screened patient and enrols them."""

    def __init__(self, clinic, *, raters=2, vials=20, criteria=(), **definition):
        from exoderm.studies import services

        self.clinic = clinic
        self.pi = UserFactory(clinic=clinic, role=Role.CLINICIAN, first_name="Petra")
        self.coordinator = UserFactory(clinic=clinic, role=Role.ASSISTANT, first_name="Uwe")
        self.clinician = UserFactory(clinic=clinic, role=Role.CLINICIAN, first_name="Tom")
        self.raters = [
            UserFactory(clinic=clinic, role=Role.CLINICIAN, first_name="Rita") for _ in range(raters)
        ]
        self.exosome = ProductFactory(clinic=clinic, name="ExoSerum ADSC")
        self.vehicle = ProductFactory(clinic=clinic, name="Saline vehicle")
        received = timezone.now() - dt.timedelta(days=200)
        self.exosome_lot = LotFactory(
            product=self.exosome, number="EXO-2026-117", vials_received=vials, received_at=received
        )
        self.vehicle_lot = LotFactory(
            product=self.vehicle, number="VEH-2026-044", vials_received=vials, received_at=received
        )
        self.exosome_vials = [VialFactory(lot=self.exosome_lot, serial=n + 1) for n in range(vials)]
        self.vehicle_vials = [VialFactory(lot=self.vehicle_lot, serial=n + 1) for n in range(vials)]
        self.template = CourseTemplateFactory(
            clinic=clinic,
            name="Split-face 3 x 3 weeks",
            session_count=3,
            interval_weeks=3,
            followup_weeks=[6],
        )
        fields = {
            "title": "Exosomes after microneedling, split-face",
            "registry_id": "DRKS00000000",
            "design": "split_face",
            "blinding": "double_blind",
            "course_template": self.template.pk,
            "arms": [
                services.ArmInput(code="A", name="Exosome serum", product=self.exosome.pk),
                services.ArmInput(code="B", name="Vehicle", product=self.vehicle.pk),
            ],
            "endpoints": [
                services.EndpointInput(kind="gais", session_number=3, weeks_after_session=6, primary=True),
                services.EndpointInput(
                    kind="metric",
                    session_number=3,
                    weeks_after_session=6,
                    metric="redness",
                    region="cheek_left",
                ),
            ],
            "criteria": list(criteria),
            "block_size": 4,
            "slots_per_stratum": 8,
            **definition,
        }
        self.study = services.create_study(by=self.pi, **fields)
        services.assign_role(
            study=self.study, user=self.coordinator, role="unblinded_coordinator", by=self.pi
        )
        services.assign_role(study=self.study, user=self.clinician, role="treating_clinician", by=self.pi)
        for rater in self.raters:
            services.assign_role(study=self.study, user=rater, role="rater", by=self.pi)

    def patient(self, *, fitzpatrick=3, research_consent=True, consented_at=None, **screening):
        """A patient who signed the treatment (and research) consent at ``consented_at`` (default
        yesterday) and was screened yesterday (all "no", or as ``screening`` says)."""
        patient = PatientFactory(clinic=self.clinic, fitzpatrick=fitzpatrick)
        give_treatment_consent(patient, recorded_by=self.clinician, signed_at=consented_at)
        if research_consent:
            give_research_consent(patient, recorded_by=self.clinician, signed_at=consented_at)
        screen_patient(patient, recorded_by=self.clinician, **screening)
        return patient

    def participant(self, patient=None, **enrolment):
        from exoderm.studies import services

        return services.enroll_participant(
            study=self.study, patient=patient or self.patient(), by=self.coordinator, **enrolment
        )

    def vials_for(self, participant):
        """Unused vials of the products the participant's allocation gives each side."""
        from exoderm.studies.models import AllocationSlot

        slot = AllocationSlot.objects.get(participant=participant)
        stock = {"A": self.exosome_vials, "B": self.vehicle_vials}
        taken = {}
        for label, arm in (("left", slot.arm_left), ("right", slot.arm_right)):
            vial = next(v for v in stock[arm] if not hasattr(v, "_taken"))
            vial._taken = True
            taken[label] = vial.pk
        return taken


class OpeningHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "booking.OpeningHours"

    clinic = factory.SubFactory(ClinicFactory)
    weekday = 0
    starts = dt.time(8, 0)
    ends = dt.time(18, 0)


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "booking.WorkingHours"

    clinician = factory.SubFactory(UserFactory)
    weekday = 0
    starts = dt.time(8, 0)
    ends = dt.time(18, 0)


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "booking.Room"

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Room {n}")


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "booking.Device"

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Fractional laser {n}")
    kind = "laser"


class AppointmentFactory(factory.django.DjangoModelFactory):
    """An appointment written as it stands, past the booking rules (hours, clashes): for pages that
    list appointments. Tests of the rules book through ``booking.services.book_appointment``."""

    class Meta:
        model = "booking.Appointment"

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.clinic")
    clinician = factory.SubFactory(UserFactory, clinic=factory.SelfAttribute("..patient.clinic"))
    kind = "treatment"
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(minutes=45))
    created_by = factory.SelfAttribute("clinician")


def spots_to_clear(seed, wanted, *, spots=16):
    """The ``spots_cleared`` of :func:`~exoderm.skinlab.phantom.make_phantom` that removes
    ``wanted`` of the spots the 480 x 640 close-up of ``seed`` really holds (a design places fewer
    than asked when they do not fit, and clearing counts from the last asked for)."""
    from exoderm.skinlab.phantom import make_phantom
    from exoderm.skinlab.phantom import spots_to_clear as clearing

    placed = make_phantom(shape=(480, 640), mm_per_px=0.05, seed=seed, spots=spots).truth.spot_count
    return clearing(asked=spots, placed=placed, wanted=wanted)


def run_split_face_study(scene, *, participants=6, arm_a_cleared=12, arm_b_cleared=4, gais=None):
    """Run ``scene``'s split-face study to its end with phantom close-ups analysed by skinlab: each
    participant has a baseline close-up of each cheek (a phantom of 16 spots, its own design per
    cheek) and a close-up at the first and the last follow-up, of the same design with
    ``arm_a_cleared`` spots cleared by the last follow-up on the arm-A cheek and ``arm_b_cleared``
    on the arm-B cheek (half of it at the first); both raters score each side (``gais(arm, n)``: the GAIS
    value, by default much improved for A and no change for B); satisfaction 5 (A) and 3 (B);
    every follow-up visit done. The endpoint is ``spot_count`` of the cheek. Returns the
    participants."""
    from exoderm.courses.models import Visit, VisitKind, VisitStatus
    from exoderm.photos.services import upload_photo
    from exoderm.photos.tasks import run_analysis
    from exoderm.studies import services
    from exoderm.studies.models import AllocationSlot
    from tests.photos._images import phantom_png

    gais = gais or (lambda arm, n: "much_improved" if arm == "A" else "no_change")
    photography = ConsentTemplateFactory(clinic=scene.clinic, kind=ConsentKind.PHOTOGRAPHY)
    start = timezone.now() - dt.timedelta(weeks=20)
    enrolled = []
    for n in range(participants):
        patient = scene.patient(consented_at=start - dt.timedelta(days=3))
        ConsentRecordFactory(patient=patient, template=photography, signed_at=start - dt.timedelta(days=3))
        participant = scene.participant(patient, first_session_at=start, clinician=scene.clinician)
        slot = AllocationSlot.objects.get(participant=participant)
        arms = {"cheek_left": slot.arm_left, "cheek_right": slot.arm_right}
        visits = list(
            Visit.objects.filter(course=participant.course, kind=VisitKind.FOLLOW_UP).order_by("planned_at")
        )
        photos = []
        for offset, (area, arm) in enumerate(arms.items()):
            seed = 2 * n + offset
            photos.append(
                upload_photo(
                    patient=patient, chunks=[phantom_png(seed, spots=16)], view="close_up", area=area,
                    timepoint="baseline", taken_at=start - dt.timedelta(days=1), mm_per_px=0.05,
                    by=scene.clinician,
                )[0]
            )  # fmt: skip
            cleared_at_end = arm_a_cleared if arm == "A" else arm_b_cleared
            for index, visit in enumerate(visits, start=1):
                if index not in (1, len(visits)):
                    continue  # photographed at the first and the last follow-up (the analyses take time)
                cleared = spots_to_clear(seed, cleared_at_end // 2 if index == 1 else cleared_at_end)
                photos.append(
                    upload_photo(
                        patient=patient, chunks=[phantom_png(seed, spots=16, spots_cleared=cleared)],
                        view="close_up", area=area, timepoint="follow_up", visit=visit,
                        taken_at=visit.planned_at, mm_per_px=0.05, by=scene.clinician,
                    )[0]
                )  # fmt: skip
        for photo in photos:
            run_analysis(photo.pk)
        Visit.objects.filter(pk__in=[v.pk for v in visits]).update(status=VisitStatus.DONE)
        last = visits[-1]
        sides = {"face_left": slot.arm_left, "face_right": slot.arm_right}
        services.record_satisfaction(
            participant=participant,
            visit=last,
            scores={side: 5 if arm == "A" else 3 for side, arm in sides.items()},
            by=scene.clinician,
        )
        enrolled.append(participant)
    services.prepare_rating_tasks(study=scene.study, by=scene.coordinator)
    for task in scene.study.rating_tasks.select_related("participant__slot"):
        slot = task.participant.slot
        sides = {"face_left": slot.arm_left, "face_right": slot.arm_right}
        for rater in scene.raters:
            services.record_rating(
                task=task,
                rater=rater,
                scores={side: gais(arm, task.participant_id) for side, arm in sides.items()},
            )
    return enrolled
