"""Publishing a consent version: a confirmation that says whose signatures stop counting."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exoderm.consent.models import ConsentTemplate
from tests.factories import ConsentedPatientFactory, PatientFactory, give_treatment_consent
from tests.signin import login_with_mfa

FORM = {
    "kind": "treatment",
    "title_de": "Einwilligung",
    "text_de": "Ich willige ein.\nZweiter Absatz.",
    "title_en": "Consent",
    "text_en": "I consent.",
}


def versions(clinic) -> list[int]:
    return sorted(ConsentTemplate.objects.filter(clinic=clinic).values_list("version", flat=True))


@pytest.mark.django_db
def test_publishing_asks_first_and_names_the_patients_who_must_sign_again(client, clinic_admin):
    clinic = clinic_admin.clinic
    for _ in range(2):
        ConsentedPatientFactory(clinic=clinic)  # signed version 1
    withdrawn = give_treatment_consent(PatientFactory(clinic=clinic))
    withdrawn.withdrawn_at = withdrawn.signed_at
    withdrawn.save()
    login_with_mfa(client, clinic_admin)

    page = client.post(reverse("consent-templates"), FORM)
    assert page.status_code == 200 and versions(clinic) == [1]  # nothing published yet
    html = page.content.decode()
    assert "Publish version 2 of “Treatment”?" in html
    assert "2 patients have signed the current version" in html  # not the withdrawn one
    assert "Zweiter Absatz." in html  # the text to be published, for a last read

    back = client.post(reverse("consent-templates"), {**FORM, "edit": "1"})
    assert back.status_code == 200 and versions(clinic) == [1]
    assert 'value="Einwilligung"' in back.content.decode()  # the form, still filled in

    done = client.post(reverse("consent-templates"), {**FORM, "publish": "1"})
    assert done.status_code == 302 and versions(clinic) == [1, 2]
    assert client.post(reverse("consent-templates"), FORM).content.decode().count("have signed") == 0


@pytest.mark.django_db
def test_the_first_version_refuses_nobody_and_the_question_is_german(client, clinic_admin):
    login_with_mfa(client, clinic_admin)
    form = {**FORM, "kind": "photography"}
    html = client.post(reverse("consent-templates"), form, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Version 1 von „Fotografie“ veröffentlichen?" in html
    assert "Niemand hat die aktuelle Version unterschrieben" in html
    assert versions(clinic_admin.clinic) == []


@pytest.mark.django_db
def test_an_invalid_form_is_shown_again_without_the_question(client, clinic_admin):
    login_with_mfa(client, clinic_admin)
    page = client.post(reverse("consent-templates"), {**FORM, "title_en": "", "publish": "1"})
    assert page.status_code == 200 and "Publish version" not in page.content.decode()
    assert versions(clinic_admin.clinic) == []
