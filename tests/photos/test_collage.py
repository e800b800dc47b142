"""The before/after image for the patient: both photos with their dates and the clinic's name,
an optional watermark, made only for a patient with a consent to share photos, and recorded as
an export in the audit trail."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.photos.collage import PHOTO_HEIGHT
from exoderm.photos.models import Photo
from exoderm.photos.selectors import SHARING_CONSENT_KIND
from exoderm.photos.services import upload_photo
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png


@pytest.fixture
def pair(patient, photo_consent, clinician):
    now = timezone.now()
    for spots, days_ago, timepoint in ((30, 60, "baseline"), (4, 1, "follow_up")):
        upload_photo(
            patient=patient, chunks=[phantom_png(1, spots=spots)], view="close_up", area="cheek_left",
            timepoint=timepoint, mm_per_px=MM_PER_PX, taken_at=now - dt.timedelta(days=days_ago),
            by=clinician,
        )  # fmt: skip
    return tuple(Photo.objects.order_by("taken_at"))


def consent_to_sharing(patient):
    """The patient's consent to share photos (a kind the consent app is to add: written directly)."""
    template = factories.ConsentTemplateFactory(clinic=patient.clinic, kind=SHARING_CONSENT_KIND, version=1)
    return factories.ConsentRecordFactory(patient=patient, template=template)


def collage(client, patient, before, after, **extra):
    url = reverse("photos:collage", args=[patient.pk])
    return client.post(url, {"before": before.pk, "after": after.pk, **extra})


@pytest.mark.django_db
def test_without_a_consent_to_share_no_image_is_offered_or_made(client, patient, clinician, pair):
    client.force_login(clinician)
    assert (
        reverse("photos:collage", args=[patient.pk])
        not in client.get(reverse("patient", args=[patient.pk])).content.decode()
    )
    page = client.get(reverse("photos:collage", args=[patient.pk])).content.decode()
    assert "has not consented to sharing their photos" in page and 'name="before"' not in page
    assert collage(client, patient, *pair).status_code == 403


@pytest.mark.django_db
def test_the_image_shows_both_photos_and_is_recorded_as_an_export(client, patient, clinician, pair):
    consent_to_sharing(patient)
    client.force_login(clinician)
    assert (
        reverse("photos:collage", args=[patient.pk])
        in client.get(reverse("patient", args=[patient.pk])).content.decode()
    )
    page = client.get(reverse("photos:collage", args=[patient.pk])).content.decode()
    assert f'name="before" value="{pair[0].pk}"' in page and f'name="after" value="{pair[1].pk}"' in page
    exports = AuditEvent.objects.filter(action=AuditAction.EXPORT, patient_id=patient.pk)
    before_count = exports.count()
    response = collage(client, patient, *pair)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("attachment;")
    with Image.open(io.BytesIO(response.content)) as image:
        plain = np.asarray(image.convert("RGB"), dtype=np.int16)
        assert image.height > PHOTO_HEIGHT and image.width > 2 * pair[0].width * PHOTO_HEIGHT / pair[0].height
    assert exports.count() == before_count + 1
    marked = collage(client, patient, *pair, watermark="on")
    with Image.open(io.BytesIO(marked.content)) as image:
        watermarked = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert watermarked.shape == plain.shape and np.abs(watermarked - plain).mean() > 1


@pytest.mark.django_db
def test_only_a_before_and_after_of_the_patients_own_view(client, clinic, patient, clinician, pair):
    consent_to_sharing(patient)
    client.force_login(clinician)
    before, after = pair
    response = collage(client, patient, after, before)
    assert response.status_code == 422 and "must be older than the after photo" in response.content.decode()
    stranger = factories.PatientFactory(clinic=clinic)
    assert collage(client, stranger, before, after).status_code == 404
    client.force_login(factories.UserFactory(clinic=clinic, role="assistant"))
    assert collage(client, patient, before, after).status_code == 403


@pytest.mark.django_db
def test_a_withdrawn_consent_ends_the_offer(client, patient, clinician, pair):
    record = consent_to_sharing(patient)
    record.withdrawn_at = timezone.now() - dt.timedelta(minutes=1)
    record.save()
    client.force_login(clinician)
    assert collage(client, patient, *pair).status_code == 403
