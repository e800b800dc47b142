"""The photo upload says before any file is chosen that the patient's photography consent is missing.

Before, the refusal came only after choosing a photo and filling in every field.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from exoderm.consent.services import withdraw_consent
from exoderm.photos.models import Photo
from tests.photos import _corpus

NOTICE = 'id="capture-consent"'


def _upload_form(html: str) -> str:
    return html[html.index('id="capture-form"') : html.index("</form>", html.index('id="capture-form"'))]


@pytest.mark.django_db
def test_without_photo_consent_the_form_says_so_and_links_to_record_it(client, clinician, patient):
    client.force_login(clinician)
    html = client.get(f"/photos/patient/{patient.pk}/").content.decode()
    assert NOTICE in html and "no signed photography consent" in html
    assert f'href="{reverse("consent-sign", args=[patient.pk])}?kind=photography"' in html
    form = _upload_form(html)
    assert '<button type="submit" disabled' in form
    assert re.search(r'<input type="file"[^>]* disabled', form)
    # the consent page opens with the photography consent chosen
    sign = client.get(reverse("consent-sign", args=[patient.pk]) + "?kind=photography")
    assert sign.context["form"].initial["kind"] == "photography"


@pytest.mark.django_db
def test_with_photo_consent_there_is_no_notice(client, clinician, patient, photo_consent):
    client.force_login(clinician)
    html = client.get(f"/photos/patient/{patient.pk}/").content.decode()
    assert NOTICE not in html
    form = _upload_form(html)
    assert '<button type="submit">' in form and " disabled" not in form


@pytest.mark.django_db
def test_a_withdrawn_consent_brings_the_notice_back(client, clinician, patient, photo_consent):
    withdraw_consent(record=photo_consent, by=clinician)
    client.force_login(clinician)
    assert NOTICE in client.get(f"/photos/patient/{patient.pk}/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_server_still_refuses_an_upload_without_consent(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(
        f"/photos/patient/{patient.pk}/",
        {
            "view": "close_up",
            "timepoint": "baseline",
            "area": "cheek_left",
            "mm_per_px": "0.05",
            "file": SimpleUploadedFile("upload.jpg", _corpus.jpeg()),
        },
    )
    assert response.status_code == 422 and b"photography consent" in response.content
    assert not Photo.objects.exists()
