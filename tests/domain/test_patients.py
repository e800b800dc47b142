"""Patients: record and identity apart, pseudonymous codes, search, dated screening."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from tests import factories

from exoderm.patients import selectors, services
from exoderm.patients.models import Patient, PatientIdentity


def create(clinic, by, **changes):
    data = {
        "fitzpatrick": 3,
        "glogau": 2,
        "given_name": "Erika",
        "family_name": "Mustermann",
        "date_of_birth": dt.date(1980, 5, 17),
        "email": "erika@example.org",
    }
    return services.create_patient(clinic=clinic, by=by, **{**data, **changes})


def test_create_generates_a_pseudonymous_code_and_keeps_identity_apart(clinic, assistant):
    patient = create(clinic, assistant)
    assert re.fullmatch(r"EX-[2-9A-HJ-NP-Z]{5}", patient.code)
    assert "Mustermann" not in patient.code
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.given_name, identity.family_name) == ("Erika", "Mustermann")
    assert not {"given_name", "family_name", "date_of_birth"} & {f.name for f in Patient._meta.fields}


def test_codes_are_unique_per_clinic_only(clinic, other_clinic, assistant):
    create(clinic, assistant, code="EX-AAAAA")
    other_assistant = factories.UserFactory(clinic=other_clinic, role="assistant")
    assert create(other_clinic, other_assistant, code="EX-AAAAA").code == "EX-AAAAA"
    with pytest.raises(ValidationError):
        create(clinic, assistant, code="EX-AAAAA")
    assert Patient.objects.filter(clinic=clinic).count() == 1


def test_bad_input_saves_nothing_and_names_every_field(clinic, assistant):
    with pytest.raises(ValidationError) as error:
        create(
            clinic,
            assistant,
            fitzpatrick=7,
            glogau=0,
            email="not-an-email",
            date_of_birth=dt.date.today() + dt.timedelta(days=2),
        )
    assert {"fitzpatrick", "glogau", "email", "date_of_birth"} <= set(error.value.message_dict)
    assert not Patient.objects.exists()
    assert not PatientIdentity.objects.exists()


def test_researcher_and_other_clinic_cannot_create(clinic, other_clinic, researcher, assistant):
    with pytest.raises(PermissionDenied):
        create(clinic, researcher)
    with pytest.raises(ValidationError):
        create(other_clinic, assistant)


def test_update_changes_record_and_identity(clinic, assistant):
    patient = create(clinic, assistant)
    services.correct_patient(
        patient=patient,
        changes={"glogau": 3, "family_name": "Musterfrau"},
        reason="Typo at intake",
        by=assistant,
    )
    patient.refresh_from_db()
    assert patient.glogau == 3
    assert patient.identity.family_name == "Musterfrau"
    with pytest.raises(ValidationError) as error:
        services.correct_patient(
            patient=patient, changes={"clinic": 5, "fitzpatrick": 9}, reason="Typo at intake", by=assistant
        )
    assert "clinic" in error.value.message_dict


def test_search_by_code_or_names_case_insensitive(clinic, other_clinic, assistant):
    erika = create(clinic, assistant, code="EX-22222")
    create(clinic, assistant, code="EX-33333", given_name="Max", family_name="Meier")
    factories.PatientFactory(clinic=other_clinic, identity__given_name="Erika")
    assert list(selectors.patients(clinic=clinic, query="erika")) == [erika]
    assert list(selectors.patients(clinic=clinic, query="MUSTER erika")) == [erika]
    assert list(selectors.patients(clinic=clinic, query="ex-2222")) == [erika]
    assert list(selectors.patients(clinic=clinic, query="erika meier")) == []
    assert selectors.patients(clinic=clinic).count() == 2


def test_screening_is_dated_and_newest_answer_counts(clinic, assistant):
    patient = create(clinic, assistant)
    today = selectors.clinic_today(clinic)
    services.record_screening(
        patient=patient,
        answers=[
            services.Answer(item="pregnancy", present=True),
            services.Answer(item="active_infection", present=True, areas=["perioral"]),
        ],
        answered_on=today - dt.timedelta(days=30),
        by=assistant,
    )
    services.record_screening(
        patient=patient,
        answers=[services.Answer(item="pregnancy", present=False)],
        answered_on=today,
        by=assistant,
    )
    current = selectors.current_screening(patient=patient)
    assert current["pregnancy"].present is False
    assert current["active_infection"].areas == ["perioral"]
    then = selectors.current_screening(patient=patient, on=today - dt.timedelta(days=1))
    assert then["pregnancy"].present is True
    assert patient.screening_answers.count() == 3


def test_screening_refuses_future_dates_unknown_items_and_missing_areas(clinic, assistant):
    patient = create(clinic, assistant)
    today = selectors.clinic_today(clinic)
    with pytest.raises(ValidationError) as error:
        services.record_screening(
            patient=patient,
            answers=[
                services.Answer(item="sunburn", present=True),
                services.Answer(item="malignancy", present=True),
                services.Answer(item="isotretinoin", present=True, last_dose_on=today + dt.timedelta(days=5)),
            ],
            answered_on=today + dt.timedelta(days=1),
            by=assistant,
        )
    assert {
        "answered_on",
        "answers.0.item",
        "answers.1.areas",
        "answers.2.last_dose_on",
    } <= set(error.value.message_dict)
    assert not patient.screening_answers.exists()
    with pytest.raises(ValidationError):
        services.record_screening(
            patient=patient,
            answers=[services.Answer(item="keloid", present=True, areas=["elbow"])],
            answered_on=today,
            by=assistant,
        )


def test_birth_dates_before_the_earliest_are_refused(clinic, assistant):
    from exoderm.core.clock import EARLIEST_BIRTH

    for typo in (dt.date(1, 1, 1), dt.date(1800, 1, 1), EARLIEST_BIRTH - dt.timedelta(days=1)):
        with pytest.raises(ValidationError) as error:
            create(clinic, assistant, date_of_birth=typo)
        assert error.value.message_dict["date_of_birth"] == [
            "The date of birth lies before 01 Jan 1900: check the year."
        ]
    assert not Patient.objects.exists()
    patient = create(clinic, assistant, date_of_birth=EARLIEST_BIRTH)
    with pytest.raises(ValidationError) as error:
        services.correct_patient(
            patient=patient,
            changes={"date_of_birth": dt.date(1800, 1, 1)},
            reason="Typo at intake",
            by=assistant,
        )
    assert "date_of_birth" in error.value.message_dict


def test_the_same_person_twice_is_refused_unless_confirmed(clinic, other_clinic, assistant):
    first = create(clinic, assistant, given_name="Jürgen", family_name="Müller")
    with pytest.raises(ValidationError) as error:
        create(clinic, assistant, given_name=" JÜRGEN", family_name="müller ", email="")
    assert error.value.message_dict == {
        "allow_duplicate": [
            f"Patient {first.code} has the same name and date of birth. Only if this is another person, "
            "confirm that a second record is wanted."
        ]
    }
    assert Patient.objects.count() == 1
    # another birth date or another clinic is another person
    create(clinic, assistant, given_name="Jürgen", family_name="Müller", date_of_birth=dt.date(1981, 5, 17))
    other_assistant = factories.UserFactory(clinic=other_clinic, role="assistant")
    create(other_clinic, other_assistant, given_name="Jürgen", family_name="Müller")
    second = create(clinic, assistant, given_name="jürgen", family_name="MÜLLER", allow_duplicate=True)
    with pytest.raises(ValidationError) as error:
        create(clinic, assistant, given_name="Jürgen", family_name="Müller")
    by_code = sorted([first, second], key=lambda patient: patient.code)
    codes = ", ".join(patient.code for patient in by_code)
    assert f"Patients {codes} have" in error.value.message_dict["allow_duplicate"][0]
    same = selectors.same_person(
        clinic=clinic, given_name="JÜRGEN", family_name="müller", date_of_birth=dt.date(1980, 5, 17)
    )
    assert same == by_code
