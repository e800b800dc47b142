"""A patient's phone number and pseudonymous code follow one pattern on the pages and in the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from exoderm.patients.models import Patient, validate_patient_code, validate_phone
from exoderm.patients.services import correct_patient
from tests import factories

NEW_PATIENT = {
    "given_name": "Anna",
    "family_name": "Neu",
    "date_of_birth": "1985-02-03",
    "language": "de",
    "fitzpatrick": 2,
    "glogau": 2,
}


@pytest.mark.parametrize(
    "phone", ["", "+49 30 1234567", "030/123456", "(0711) 555-0101", "+49 (0)171 2345678", "0049-89-76543"]
)
def test_phone_numbers_as_people_write_them_pass(phone):
    validate_phone(phone)


@pytest.mark.parametrize(
    "phone", ["abc", "12345", "+49 1", "030 1234567 ext", "anna@example.org", "030.123456"]
)
def test_other_phone_numbers_are_refused(phone):
    with pytest.raises(ValidationError):
        validate_phone(phone)


@pytest.mark.parametrize("code", ["EX-7K3Q9", "P-00001", "study_12", "abc"])
def test_sane_codes_pass(code):
    validate_patient_code(code)


@pytest.mark.parametrize("code", ["x y/../", "A/B", "a.b", "Müller", "code "])
def test_other_codes_are_refused(code):
    with pytest.raises(ValidationError):
        validate_patient_code(code)


@pytest.mark.django_db
def test_the_page_refuses_a_phone_of_letters_and_keeps_a_real_one(client, assistant):
    client.force_login(assistant)
    refused = client.post(reverse("patient-new"), {**NEW_PATIENT, "phone": "abc"})
    assert refused.status_code == 200
    assert set(refused.context["form"].errors) == {"phone"}
    assert not Patient.objects.exists()
    added = client.post(
        reverse("patient-new"), {**NEW_PATIENT, "phone": "+49 (0)30 123-456", "code": "Ext_42"}
    )
    assert added.status_code == 302
    patient = Patient.objects.get()
    assert patient.code == "Ext_42" and patient.identity.phone == "+49 (0)30 123-456"


@pytest.mark.django_db
def test_the_api_refuses_the_same_phone_and_code(api_as, assistant):
    api = api_as(assistant)
    body = {**NEW_PATIENT, "email": "", "phone": "abc", "code": "x y/../"}
    response = api.post("/patients", body)
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"phone", "code"}
    assert not Patient.objects.exists()
    patient = factories.PatientFactory(clinic=assistant.clinic)
    patched = api.patch(f"/patients/{patient.pk}", {"phone": "abc", "reason": "Typo"})
    assert patched.status_code == 422
    assert [error["field"] for error in patched.json()["errors"]] == ["phone"]
    fine = api.patch(f"/patients/{patient.pk}", {"phone": "0711 555 0101", "reason": "Typo"})
    assert fine.status_code == 200, fine.content


@pytest.mark.django_db
def test_an_older_record_is_corrected_despite_its_old_code_and_phone(assistant):
    patient = factories.PatientFactory(clinic=assistant.clinic, code="alt 7/1")
    type(patient.identity).objects.filter(pk=patient.identity.pk).update(phone="ask the daughter")
    correct_patient(patient=patient, changes={"family_name": "Neuname"}, reason="Married", by=assistant)
    patient.identity.refresh_from_db()
    assert patient.identity.family_name == "Neuname"
    with pytest.raises(ValidationError) as refused:
        correct_patient(patient=patient, changes={"code": "neu 1"}, reason="Typo", by=assistant)
    assert set(refused.value.message_dict) == {"code"}
