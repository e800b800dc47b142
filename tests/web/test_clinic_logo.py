"""The clinic's logo: uploaded by the clinic admin on the settings page (a real PNG or JPEG, checked,
scaled down and re-encoded), removed there, and printed at the head of the patient's photo report,
the signed consent's PDF and the export's PDF; without a logo the documents stay as they were."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from exoderm.clinics import logo
from exoderm.clinics.services import set_clinic_logo
from exoderm.consent.documents import render_pdf
from exoderm.patients.export import patient_data, patient_pdf
from exoderm.photos.report import patient_report
from tests import factories
from tests.signin import login_with_mfa
from tests.signing.conftest import drawn_signature


def picture(fmt: str, size=(2400, 800), colour=(11, 92, 155)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def images_in(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.django_db
def test_the_admin_uploads_a_jpeg_logo_and_removes_it(client, clinic_admin):
    login_with_mfa(client, clinic_admin)
    url = reverse("clinic-settings")
    assert "No logo yet" in client.get(url).content.decode()

    response = client.post(
        url, {"upload_logo": "1", "logo": upload("logo.jpg", picture("JPEG"), "image/jpeg")}
    )

    assert response.status_code == 302
    clinic = clinic_admin.clinic
    clinic.refresh_from_db()
    with Image.open(io.BytesIO(bytes(clinic.logo_png))) as stored:
        assert stored.format == "PNG" and stored.size == (900, 300)  # scaled into the box, aspect kept
    page = client.get(url).content.decode()
    assert 'src="data:image/png;base64,' in page and 'name="remove_logo"' in page

    assert client.post(url, {"remove_logo": "1"}).status_code == 302
    clinic.refresh_from_db()
    assert clinic.logo_png is None
    assert "No logo yet" in client.get(url).content.decode()


@pytest.mark.django_db
def test_a_transparent_png_keeps_its_transparency_and_a_small_one_its_size(clinic, clinic_admin):
    image = Image.new("RGBA", (300, 120), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (20, 20, 280, 100))
    out = io.BytesIO()
    image.save(out, format="PNG")

    set_clinic_logo(clinic=clinic, data=out.getvalue(), by=clinic_admin)

    with Image.open(io.BytesIO(bytes(clinic.logo_png))) as stored:
        assert stored.size == (300, 120) and stored.mode == "RGBA"
        assert stored.getpixel((0, 0))[3] == 0 and stored.getpixel((150, 60)) == (200, 30, 30, 255)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "must be a PNG or JPEG"),
        ("logo.gif", picture("GIF", size=(40, 20)), "must be a PNG or JPEG"),
        ("logo.png", picture("PNG", size=(40, 20))[:60], "must be a PNG or JPEG"),  # cut off
        ("logo.png", b"\x89PNG" + b"\0" * (logo.MAX_UPLOAD_BYTES + 1), "too large"),
    ],
)
@pytest.mark.django_db
def test_what_is_not_a_logo_is_refused_next_to_the_field(client, clinic_admin, name, data, message):
    login_with_mfa(client, clinic_admin)

    response = client.post(reverse("clinic-settings"), {"upload_logo": "1", "logo": upload(name, data)})

    assert response.status_code == 400 and message in response.content.decode()
    clinic_admin.clinic.refresh_from_db()
    assert clinic_admin.clinic.logo_png is None


@pytest.mark.django_db
def test_a_decompression_bomb_is_refused_before_its_pixels_are_read(clinic, clinic_admin):
    bomb = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(bomb, format="PNG")  # 50 megapixels in a few kilobytes
    with pytest.raises(ValidationError, match="too many pixels"):
        set_clinic_logo(clinic=clinic, data=bomb.getvalue(), by=clinic_admin)


@pytest.mark.django_db
def test_only_the_clinic_admin_changes_the_logo(client, clinic, clinician):
    from django.core.exceptions import PermissionDenied

    client.force_login(clinician)
    assert client.post(reverse("clinic-settings"), {"remove_logo": "1"}).status_code == 403
    with pytest.raises(PermissionDenied):
        set_clinic_logo(clinic=clinic, data=picture("PNG"), by=clinician)


@pytest.mark.django_db
def test_the_patient_documents_print_the_logo_and_stay_as_they_were_without(clinic, clinic_admin, clinician):
    patient = factories.PatientFactory(clinic=clinic)
    record = factories.ConsentRecordFactory(patient=patient, recorded_by=clinician)

    def documents() -> list[bytes]:
        return [
            patient_report(patient=patient, by=clinician),
            render_pdf(
                record=record,
                language="de",
                png=drawn_signature(),
                text_sha256=record.template.text_sha256("de"),
                signed_at=timezone.now(),
                signer_name="Erika Mustermann",
                device="Tablet",
                witness_name=clinician.display_name,
            ),
            patient_pdf(patient, patient_data(patient, exported_at=timezone.now())),
        ]

    without = [images_in(pdf) for pdf in documents()]
    set_clinic_logo(clinic=clinic, data=picture("PNG"), by=clinic_admin)
    with_logo = [images_in(pdf) for pdf in documents()]

    assert without == [0, 1, 0]  # the consent shows the signature only
    assert with_logo == [1, 2, 1]
    # the name still heads them
    assert clinic.name in PdfReader(io.BytesIO(documents()[0])).pages[0].extract_text()
