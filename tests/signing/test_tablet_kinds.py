"""The tablet offers every consent kind the paper form offers: a kind whose text the clinic has not
published yet is listed as such (a text nobody can read cannot be signed), and the demo clinic
publishes a text for every kind, the photo-sharing consent included."""

from __future__ import annotations

from django.urls import reverse

from exoderm.consent.models import ConsentKind
from exoderm.demo import _consent_templates
from tests import factories


def test_the_tablet_lists_every_kind_and_says_which_has_no_text(client, patient, texts, clinician):
    client.force_login(clinician)
    page = client.get(reverse("consent-tablet", args=[patient.pk])).content.decode()

    for _kind, label in ConsentKind.choices:
        assert str(label) in page
    assert "?kind=treatment" in page and "?kind=marketing" not in page
    assert "no text published yet" in page

    factories.ConsentTemplateFactory(clinic=patient.clinic, kind=ConsentKind.MARKETING, version=1)
    page = client.get(reverse("consent-tablet", args=[patient.pk])).content.decode()
    assert "?kind=marketing" in page


def test_the_demo_clinic_publishes_a_text_for_every_kind(clinic, clinic_admin):
    _consent_templates(clinic, clinic_admin)

    assert set(clinic.consent_templates.values_list("kind", flat=True)) == set(ConsentKind.values)
