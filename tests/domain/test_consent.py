"""Consent: versioned templates, signatures of the current version, withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from tests import factories

from exoderm.consent import selectors, services
from exoderm.consent.models import ConsentKind, ConsentTemplate


def publish(clinic, by, kind=ConsentKind.TREATMENT, **changes):
    data = {
        "title_de": "Einwilligung",
        "title_en": "Consent",
        "text_de": "Ich willige ein.",
        "text_en": "I consent.",
    }
    return services.create_template(clinic=clinic, kind=kind, by=by, **{**data, **changes})


def sign(patient, by, kind=ConsentKind.TREATMENT, at=None):
    return services.sign_consent(
        patient=patient, kind=kind, signed_by_name="Erika Mustermann", signed_at=at or timezone.now(), by=by
    )


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


def test_templates_are_versioned_per_clinic_and_kind(clinic, other_clinic, clinic_admin):
    assert publish(clinic, clinic_admin).version == 1
    assert publish(clinic, clinic_admin).version == 2
    assert publish(clinic, clinic_admin, kind=ConsentKind.PHOTOGRAPHY).version == 1
    other_admin = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    assert publish(other_clinic, other_admin).version == 1
    assert list(
        selectors.templates(clinic=clinic, kind=ConsentKind.TREATMENT).values_list("version", flat=True)
    ) == [
        2,
        1,
    ]


def test_only_administrators_publish_and_kind_is_checked(clinic, clinician, clinic_admin):
    with pytest.raises(PermissionDenied):
        publish(clinic, clinician)
    with pytest.raises(ValidationError):
        publish(clinic, clinic_admin, kind="newsletter")
    with pytest.raises(ValidationError):
        publish(clinic, clinic_admin, text_en="")
    assert not ConsentTemplate.objects.exists()


def test_signing_uses_the_current_version(patient, clinic, clinic_admin, assistant):
    publish(clinic, clinic_admin)
    current = publish(clinic, clinic_admin)
    record = sign(patient, assistant)
    assert record.template == current
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=timezone.now()) == record


def test_a_new_version_makes_old_signatures_stop_counting(patient, clinic, clinic_admin, assistant):
    publish(clinic, clinic_admin)
    old = sign(patient, assistant)
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=timezone.now()) == old
    publish(clinic, clinic_admin)
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=timezone.now()) is None
    new = sign(patient, assistant)
    assert new.template.version == 2
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=timezone.now()) == new
    versions = {r.pk: (r.template.version, r.current_version) for r in selectors.consents_of(patient=patient)}
    assert versions == {old.pk: (1, 2), new.pk: (2, 2)}


def test_sign_refuses_naive_future_unknown_and_missing_template(patient, clinic, clinic_admin, assistant):
    with pytest.raises(ValidationError) as error:
        sign(patient, assistant)
    assert "kind" in error.value.message_dict
    publish(clinic, clinic_admin)
    with pytest.raises(ValidationError) as error:
        sign(patient, assistant, at=dt.datetime(2026, 1, 5, 10, 0))
    assert "signed_at" in error.value.message_dict
    with pytest.raises(ValidationError):
        sign(patient, assistant, at=timezone.now() + dt.timedelta(hours=1))
    # Before the current version was published the patient cannot have signed it.
    with pytest.raises(ValidationError):
        sign(patient, assistant, at=timezone.now() - dt.timedelta(days=1))
    with pytest.raises(ValidationError):
        sign(patient, assistant, kind="newsletter")
    assert not patient.consents.exists()


def test_a_signature_a_few_minutes_ahead_counts_as_now(patient, clinic, clinic_admin, assistant):
    # The clock of the device the time was typed on may run a little ahead (FUTURE_TOLERANCE).
    publish(clinic, clinic_admin)
    assert sign(patient, assistant, at=timezone.now() + dt.timedelta(minutes=2))


def test_signing_twice_is_refused_while_active(patient, clinic, clinic_admin, assistant, researcher):
    publish(clinic, clinic_admin)
    sign(patient, assistant)
    with pytest.raises(ValidationError):
        sign(patient, assistant)
    with pytest.raises(PermissionDenied):
        sign(patient, researcher, kind=ConsentKind.TREATMENT)


def test_withdrawal_ends_consent_and_cannot_repeat(patient, clinic, clinic_admin, assistant):
    publish(clinic, clinic_admin)
    signed = timezone.now()
    record = sign(patient, assistant, at=signed)
    withdrawn = services.withdraw_consent(record=record, by=assistant)
    assert withdrawn.withdrawn_by == assistant
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=timezone.now()) is None
    # It still counted between signing and withdrawal.
    assert selectors.active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=signed) == record
    with pytest.raises(ValidationError) as error:
        services.withdraw_consent(record=record, by=assistant)
    assert "withdrawn_at" in error.value.message_dict
    # After a withdrawal the patient can sign again.
    assert sign(patient, assistant).pk != record.pk


def test_withdrawal_time_is_checked(patient, clinic, clinic_admin, assistant):
    publish(clinic, clinic_admin)
    record = sign(patient, assistant)
    for at in (
        record.signed_at - dt.timedelta(minutes=1),
        timezone.now() + dt.timedelta(hours=1),
        dt.datetime(2026, 1, 1, 12, 0),
    ):
        with pytest.raises(ValidationError):
            services.withdraw_consent(record=record, by=assistant, at=at)
    record.refresh_from_db()
    assert record.withdrawn_at is None
