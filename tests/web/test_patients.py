"""Patients: add, consent signed and withdrawn (after a confirmation), enrolment and the calendar."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from exoderm.consent.models import ConsentRecord
from exoderm.courses.models import Visit
from exoderm.patients.models import Patient
from tests import factories
from tests.signin import login_with_mfa


@pytest.mark.django_db
def test_add_a_patient(client, assistant):
    client.force_login(assistant)
    response = client.post(
        reverse("patient-new"),
        {
            "given_name": "Anna",
            "family_name": "Neu",
            "date_of_birth": "1985-02-03",
            "language": "de",
            "fitzpatrick": 2,
            "glogau": 2,
        },
    )
    patient = Patient.objects.get(identity__family_name="Neu")
    assert response["Location"] == reverse("patient", args=[patient.pk])
    # the skin's classes start unchosen and must be chosen: no preselected type I saved unnoticed
    form = client.get(reverse("patient-new")).content.decode()
    for name in ("fitzpatrick", "glogau"):
        assert re.search(rf'<select name="{name}"[^>]*>\s*<option value="" selected>', form), name
    refused = client.post(
        reverse("patient-new"),
        {"given_name": "Ben", "family_name": "Neu", "date_of_birth": "1985-02-03", "language": "de"},
    )
    assert refused.status_code == 200 and not Patient.objects.filter(identity__given_name="Ben").exists()
    assert set(refused.context["form"].errors) >= {"fitzpatrick", "glogau"}


@pytest.mark.django_db
def test_sign_and_withdraw_consent(client, assistant):
    patient = factories.PatientFactory(clinic=assistant.clinic)
    template = factories.ConsentTemplateFactory(clinic=assistant.clinic)
    type(template).objects.filter(pk=template.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    client.force_login(assistant)
    signed_at = (timezone.localtime() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("consent-sign", args=[patient.pk]),
        {"kind": "treatment", "signed_by_name": "Erika", "signed_at": signed_at},
    )
    assert response.status_code == 302
    consent = ConsentRecord.objects.get(patient=patient)
    url = reverse("consent-withdraw", args=[patient.pk, consent.pk])
    assert client.get(url).status_code == 200
    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    client.post(url)
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None


@pytest.mark.django_db
def test_a_refused_consent_keeps_the_typed_name(client, assistant):
    patient = factories.PatientFactory(clinic=assistant.clinic)
    client.force_login(assistant)
    response = client.post(
        reverse("consent-sign", args=[patient.pk]),
        {"kind": "treatment", "signed_by_name": "Typed Name", "signed_at": "2020-01-01T10:00"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'value="Typed Name"' in html
    assert "no consent template of this kind" in html


def _enrol(client, patient, clinician):
    """Enrol ``patient`` through the web form, as ``clinician``, in a course starting tomorrow at 10:00."""
    template = factories.CourseTemplateFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    starts = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=10, minute=0)
    return client.post(
        reverse("course-enrol", args=[patient.pk]),
        {"template": template.pk, "clinician": clinician.pk, "starts_at": starts.strftime("%Y-%m-%dT%H:%M")},
    )


@pytest.mark.django_db
def test_enrol_plans_the_visits_and_the_calendar_shows_them(client, clinician):
    patient = factories.ConsentedPatientFactory(clinic=clinician.clinic)
    response = _enrol(client, patient, clinician)
    assert response.status_code == 302
    assert Visit.objects.filter(course__patient=patient).count() == 9
    html = client.get(reverse("calendar")).content.decode()
    assert patient.identity.family_name in html
    ics = client.get(reverse("calendar-download"))
    assert ics["Content-Type"].startswith("text/calendar")
    assert b"stop receiving" in client.get(reverse("calendar-subscribe")).content
    client.post(reverse("calendar-subscribe"))
    html = client.get(reverse("calendar")).content.decode()
    assert "/calendar/" in html and ".ics" in html


@pytest.mark.django_db
def test_language_switch_is_saved_on_the_user(client, clinician):
    client.force_login(clinician)
    response = client.post(reverse("language"), {"language": "de", "next": "/patients/"})
    assert response["Location"] == "/patients/"
    clinician.refresh_from_db()
    assert clinician.language == "de"
    assert 'lang="de"' in client.get("/patients/").content.decode()


@pytest.mark.django_db
def test_clinic_admin_adds_a_user_and_changes_a_role(client, clinic_admin):
    login_with_mfa(client, clinic_admin)
    response = client.post(
        reverse("user-new"),
        {"username": "newnurse", "role": "assistant", "password": "a long enough passphrase", "language": ""},
    )
    assert response.status_code == 302
    from exoderm.clinics.models import User

    nurse = User.objects.get(username="newnurse")
    assert nurse.clinic == clinic_admin.clinic
    client.post(reverse("user-edit", args=[nurse.pk]), {"role": "clinician", "is_active": "on"})
    nurse.refresh_from_db()
    assert nurse.role == "clinician"
    response = client.post(reverse("user-edit", args=[clinic_admin.pk]), {"role": "clinician"})
    clinic_admin.refresh_from_db()
    assert clinic_admin.role == "clinic_admin" and response.status_code == 200


@pytest.mark.django_db
def test_enrolment_without_treatment_consent_is_refused_with_the_reason(client, clinician):
    patient = factories.PatientFactory(clinic=clinician.clinic)
    response = _enrol(client, patient, clinician)
    assert response.status_code == 200
    assert "no signed, unwithdrawn treatment consent" in response.content.decode()
    assert not Visit.objects.filter(course__patient=patient).exists()


@pytest.mark.django_db
def test_visits_are_moved_or_marked_missed_after_a_confirmation(client, clinician):
    from exoderm.booking.calendar import ClinicCalendar
    from exoderm.courses.services import enroll

    patient = factories.ConsentedPatientFactory(clinic=clinician.clinic)
    template = factories.CourseTemplateFactory(clinic=clinician.clinic)
    course = enroll(
        patient=patient,
        template=template,
        clinician=clinician,
        starts_at=timezone.now() + dt.timedelta(days=2),
        by=clinician,
    )
    first, second = course.visits.order_by("planned_at")[:2]
    client.force_login(clinician)
    assert client.get(reverse("visit-change", args=[first.pk, "missed"])).status_code == 200
    first.refresh_from_db()
    assert first.status == "planned"
    client.post(reverse("visit-change", args=[first.pk, "missed"]))
    first.refresh_from_db()
    assert first.status == "missed"
    berlin = zoneinfo.ZoneInfo(clinician.clinic.time_zone)
    # a day later, or the next day the clinic is open (a visit is not moved onto a holiday)
    calendar = ClinicCalendar.of(clinician.clinic)
    later = second.planned_at.astimezone(berlin) + dt.timedelta(days=1)
    while calendar.closed_because(later.date()):
        later += dt.timedelta(days=1)
    moved = later.strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("visit-change", args=[second.pk, "reschedule"]), {"planned_at": moved})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.planned_at.astimezone(berlin).strftime("%Y-%m-%dT%H:%M") == moved


@pytest.mark.django_db
def test_record_a_screening(client, clinician):
    from exoderm.core.contraindications import ScreeningItem
    from exoderm.patients.selectors import current_screening

    patient = factories.PatientFactory(clinic=clinician.clinic)
    client.force_login(clinician)
    url = reverse("screening", args=[patient.pk])
    assert client.get(url).status_code == 200
    data = {f"{item}_present": "no" for item in ScreeningItem.values}
    data |= {"answered_on": timezone.localdate().isoformat(), "keloid_present": "yes", "keloid_note": "Narbe"}
    data |= {"acne_dermatitis_present": "yes"}
    response = client.post(url, data)
    # an area-specific item present without areas is refused next to its field, the answers kept
    html = response.content.decode()
    assert response.status_code == 200 and "Name the areas this applies to." in html
    assert 'value="Narbe"' in html
    data["acne_dermatitis_areas"] = ["chin"]
    assert client.post(url, data).status_code == 302
    current = current_screening(patient=patient)
    assert current["keloid"].present and current["acne_dermatitis"].areas == ["chin"]
    assert not current["pregnancy"].present


@pytest.mark.django_db
def test_clinic_admin_sets_the_protocol_settings(client, clinic_admin):
    from exoderm.core.contraindications import ScreeningItem

    login_with_mfa(client, clinic_admin)
    url = reverse("clinic-settings")
    assert client.get(url).status_code == 200
    data = {f"severity_{item}": "block" for item in ScreeningItem.values}
    data |= {"application_window_minutes": "20", "severity_keloid": "off"}
    assert client.post(url, data).status_code == 302
    clinic = clinic_admin.clinic
    clinic.refresh_from_db()
    assert clinic.application_window_minutes == 20
    assert clinic.severity_of("keloid").value == "off" and clinic.severity_of("isotretinoin").value == "block"


def _new_patient(**changes):
    return {
        "given_name": "Erika",
        "family_name": "Mustermann",
        "date_of_birth": "1980-05-17",
        "language": "de",
        "fitzpatrick": 2,
        "glogau": 2,
        **changes,
    }


@pytest.mark.django_db
def test_a_birth_date_before_1900_is_refused_next_to_its_field(client, assistant):
    client.force_login(assistant)
    response = client.post(
        reverse("patient-new"), _new_patient(date_of_birth="1800-01-01"), HTTP_ACCEPT_LANGUAGE="de"
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_date_of_birth_error"' in html
    assert "Das Geburtsdatum liegt vor dem 01.01.1900" in html
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_the_same_person_again_shows_the_record_and_needs_a_confirmation(client, assistant):
    existing = factories.PatientFactory(
        clinic=assistant.clinic,
        identity__family_name="Mustermann",
        identity__date_of_birth=dt.date(1980, 5, 17),
    )
    client.force_login(assistant)
    url = reverse("patient-new")
    assert 'type="checkbox" name="allow_duplicate"' not in client.get(url).content.decode()
    response = client.post(url, _new_patient(given_name="ERIKA", family_name="mustermann"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<a href="{reverse("patient", args=[existing.pk])}">{existing.code}</a>' in html
    assert 'type="checkbox" name="allow_duplicate"' in html and "this is another person" in html
    assert Patient.objects.count() == 1
    response = client.post(url, _new_patient(given_name="ERIKA", allow_duplicate="on"))
    assert response.status_code == 302
    assert Patient.objects.count() == 2


@pytest.mark.django_db
def test_a_username_differing_only_in_case_is_refused(client, clinic_admin):
    factories.UserFactory(clinic=clinic_admin.clinic, username="clinician")
    login_with_mfa(client, clinic_admin)
    response = client.post(
        reverse("user-new"),
        {
            "username": "Clinician",
            "role": "clinician",
            "password": "a long enough passphrase",
            "language": "",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The username Clinician is taken (upper and lower case count as the same)." in html
    from exoderm.clinics.models import User

    assert not User.objects.filter(username="Clinician").exists()


@pytest.mark.django_db
def test_the_identity_is_changed_on_its_own_page_of_the_clinic_only(
    client, assistant, researcher, other_clinic
):
    patient = factories.PatientFactory(clinic=assistant.clinic, identity__family_name="Mustermann")
    url = reverse("patient-edit", args=[patient.pk])
    client.force_login(assistant)
    assert url in client.get(reverse("patient", args=[patient.pk])).content.decode()
    page = client.get(url).content.decode()
    assert 'value="Mustermann"' in page and 'value="1980-05-17"' in page
    data = {**_new_patient(family_name="Musterfrau", phone="+49 30 7654321"), "reason": "Married name"}
    refused = client.post(url, {**data, "date_of_birth": "0001-01-01"})
    assert refused.status_code == 200 and "lies before" in refused.content.decode()
    response = client.post(url, data)
    assert response["Location"] == reverse("patient", args=[patient.pk])
    patient.identity.refresh_from_db()
    assert (patient.identity.family_name, patient.identity.phone) == ("Musterfrau", "+49 30 7654321")
    client.force_login(factories.UserFactory(clinic=other_clinic, role="assistant"))
    assert client.get(url).status_code == 404
    assert client.post(url, data).status_code == 404
    client.force_login(researcher)
    assert client.get(url).status_code == 403
