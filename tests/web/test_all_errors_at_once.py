"""Forms name every problem on the first submit, each at its field, with the input kept.

Before, the new-user form showed an invalid e-mail address first, the password rules on the next
submit and the taken username on the third; the new-patient form the same with its e-mail address
and a date of birth in the future; the patient correction form its reason and the service's checks.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from exoderm.clinics.models import User
from exoderm.patients.models import Patient
from exoderm.patients.selectors import clinic_today
from exoderm.records.models import Revision
from tests import factories
from tests.signin import login_with_mfa


@pytest.mark.django_db
def test_the_new_user_form_names_every_problem_at_once(client, clinic_admin):
    taken = factories.UserFactory(clinic=clinic_admin.clinic, username="dana")
    login_with_mfa(client, clinic_admin)
    response = client.post(
        reverse("user-new"),
        {"username": "DANA", "email": "not-an-address", "role": "clinician", "password": "123"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"username", "email", "password"}
    assert "taken" in " ".join(errors["username"])
    assert len(errors["password"]) >= 2  # too short and entirely numeric: all the rules at once
    page = response.content.decode()
    assert 'value="DANA"' in page and 'value="not-an-address"' in page  # the input is kept ...
    assert 'value="123"' not in page  # ... but not the password
    assert User.objects.filter(username__iexact="dana").get() == taken


@pytest.mark.django_db
def test_a_user_is_added_once_everything_is_right(client, clinic_admin):
    login_with_mfa(client, clinic_admin)
    response = client.post(
        reverse("user-new"),
        {"username": "neu", "email": "neu@example.org", "role": "assistant", "password": "Lindenblüte-42"},
    )
    assert response.status_code == 302
    assert User.objects.get(username="neu").check_password("Lindenblüte-42")


@pytest.mark.django_db
def test_the_new_patient_form_names_every_problem_at_once(client, assistant):
    client.force_login(assistant)
    tomorrow = clinic_today(assistant.clinic) + dt.timedelta(days=1)
    response = client.post(
        reverse("patient-new"),
        {
            "given_name": "Anna",
            "family_name": "Neu",
            "date_of_birth": tomorrow.isoformat(),
            "email": "nope",
            "phone": "abc",
            "code": "x y/../",
            "language": "de",
            "fitzpatrick": 2,
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"date_of_birth", "email", "phone", "code", "glogau"}
    assert errors["date_of_birth"] == ["The date of birth lies in the future."]
    assert "phone number" in errors["phone"][0]
    assert "letters A-Z, digits, - and _" in errors["code"][0]
    page = response.content.decode()
    assert 'value="nope"' in page and 'value="abc"' in page and 'value="x y/../"' in page
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_the_patient_correction_form_names_every_problem_at_once(client, assistant):
    patient = factories.PatientFactory(clinic=assistant.clinic)
    identity = patient.identity
    client.force_login(assistant)
    tomorrow = clinic_today(assistant.clinic) + dt.timedelta(days=1)
    response = client.post(
        reverse("patient-edit", args=[patient.pk]),
        {
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "date_of_birth": tomorrow.isoformat(),
            "email": "nope",
            "phone": "abc",
            "language": "de",
            "reason": "",
        },
    )
    errors = response.context["form"].errors
    # the form's own (e-mail address, reason) and the service's (date of birth, phone) together
    assert set(errors) == {"date_of_birth", "email", "phone", "reason"}
    assert errors["date_of_birth"] == ["The date of birth lies in the future."]
    assert "phone number" in errors["phone"][0]
    assert 'value="nope"' in response.content.decode()
    assert not Revision.objects.exists()
    identity.refresh_from_db()
    assert identity.date_of_birth != tomorrow and identity.phone != "abc"
