"""Research data that is really pseudonymous: only with research consent in force, under a keyed
pseudonym that no response for clinical staff contains."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from exoderm.consent import services as consent_services
from exoderm.consent.models import ConsentKind, ConsentRecord, ConsentTemplate
from exoderm.evidence.models import PseudonymKey
from exoderm.evidence.pseudonyms import Pseudonymizer, clinic_secret, for_clinic
from tests import factories
from tests.api.test_study_api import _close_up, _consented
from tests.photos.conftest import media_root, repeatability  # noqa: F401 (fixtures)
from tests.signin import login_with_mfa

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("repeatability")]


@pytest.fixture
def photographed(clinic, clinician, django_capture_on_commit_callbacks):
    """Two patients with an analysed close-up each: one consented to research use, one did not."""
    with_research = _consented(clinic)
    without_research = factories.ConsentedPatientFactory(clinic=clinic)
    factories.ConsentRecordFactory(
        patient=without_research,
        template=ConsentTemplate.objects.get(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY),
    )
    taken = timezone.now() - dt.timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        _close_up(with_research, clinician, 1, taken, timepoint="baseline")
        _close_up(without_research, clinician, 2, taken, timepoint="baseline")
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    return with_research, without_research


def _pseudonyms_in_study(api):
    response = api.get("/study/outcomes", {"limit": 500})
    assert response.status_code == 200, response.content
    return {row["pseudonym"] for row in response.json()["items"]}


def test_only_patients_with_research_consent_in_force_appear(api_as, researcher, clinic_admin, photographed):
    with_research, without_research = photographed
    api = api_as(researcher)
    pseudonyms = for_clinic(with_research.clinic_id)
    assert _pseudonyms_in_study(api) == {pseudonyms.patient(with_research.pk)}
    assert pseudonyms.patient(without_research.pk) not in api.get("/study/outcomes.csv").content.decode()

    # consent given today: the patient's rows appear from now on
    consent_services.sign_consent(
        patient=without_research, kind=ConsentKind.RESEARCH, signed_by_name="Patient",
        signed_at=timezone.now(), by=clinic_admin,
    )  # fmt: skip
    assert pseudonyms.patient(without_research.pk) in _pseudonyms_in_study(api)

    # a withdrawn consent takes the rows out of every later read, JSON and CSV alike
    record = ConsentRecord.objects.get(patient=with_research, template__kind=ConsentKind.RESEARCH)
    consent_services.withdraw_consent(record=record, by=clinic_admin)
    assert _pseudonyms_in_study(api) == {pseudonyms.patient(without_research.pk)}
    assert pseudonyms.patient(with_research.pk) not in api.get("/study/outcomes.csv").content.decode()

    # a new version of the research consent counts only once signed again
    consent_services.create_template(
        clinic=with_research.clinic, kind=ConsentKind.RESEARCH, title_de="Forschung v2",
        title_en="Research v2", text_de="Neu", text_en="New", by=clinic_admin,
    )  # fmt: skip
    assert _pseudonyms_in_study(api) == set()


def test_the_pseudonym_is_a_keyed_hash_under_the_clinics_own_secret(clinic, other_clinic):
    secret = clinic_secret(clinic.pk)
    assert len(secret) == 32 and clinic_secret(clinic.pk) == secret  # made once, then kept
    assert PseudonymKey.objects.count() == 1
    assert clinic_secret(other_clinic.pk) != secret

    patient = for_clinic(clinic.pk).patient(7)
    expected = hmac.new(secret, b"patient:7", hashlib.sha256).digest()
    assert patient.startswith("S-") and len(patient) == 14
    assert patient[2:] == base64.b32encode(expected).decode()[:12]
    # the same record id in another clinic, or under another key, gives an unrelated pseudonym
    assert for_clinic(other_clinic.pk).patient(7) != patient
    assert Pseudonymizer(b"\0" * 32).patient(7) != patient
    # the id alone, hashed without the key, is not it
    assert hashlib.sha256(b"patient:7").hexdigest()[:12].upper() not in patient
    assert for_clinic(clinic.pk).photo(7) != patient[2:]


def test_no_response_for_clinical_staff_contains_the_pseudonym(
    client, api_as, clinician, clinic_admin, assistant, photographed
):
    patient = photographed[0]
    pseudonym = for_clinic(patient.clinic_id).patient(patient.pk)
    photo = patient.photos.get()
    photo_pseudonym = for_clinic(patient.clinic_id).photo(photo.pk)
    secret = bytes(PseudonymKey.objects.get(clinic_id=patient.clinic_id).secret)
    pages = [
        reverse("today"), reverse("patients"), reverse("patient", args=[patient.pk]),
        reverse("patient-edit", args=[patient.pk]), reverse("photos:patient", args=[patient.pk]),
        reverse("photos:results", args=[patient.pk]), reverse("sessions"),
    ]  # fmt: skip
    api_paths = [
        f"/patients/{patient.pk}", "/patients", f"/patients/{patient.pk}/consents",
        f"/photos?patient={patient.pk}",
        f"/photos/timeline?patient={patient.pk}&view=close_up&area=cheek_left&metric=spot_count",
        "/sessions",
    ]  # fmt: skip
    for user in (clinician, clinic_admin, assistant):
        login_with_mfa(client, user)
        api = api_as(user)
        bodies = [client.get(url) for url in pages] + [api.get(path) for path in api_paths]
        for response in bodies:
            where = (user.role, response.request["PATH_INFO"])
            assert response.status_code == 200, where
            text = response.content.decode()
            assert pseudonym not in text and photo_pseudonym not in text and secret.hex() not in text


def test_an_erasure_request_takes_the_patient_out_of_study_data_at_once(
    api_as, researcher, clinic_admin, photographed
):
    from exoderm.patients.erasure import request_erasure

    patient = photographed[0]
    api = api_as(researcher)
    assert _pseudonyms_in_study(api) == {for_clinic(patient.clinic_id).patient(patient.pk)}
    request_erasure(
        patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=False
    )  # the photos stay (restricted with the record), yet no study row shows them
    assert patient.photos.exists()
    assert _pseudonyms_in_study(api) == set()
    assert api.get("/study/outcomes.csv").content.decode().count("\n") == 1  # the header alone
