"""Factories for test data: one per model, valid by default, every field overridable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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
