"""The scan of a consent signed on paper: uploaded with the record or later, checked by content,
kept encrypted, never replaced, downloaded (audited) as the signed document, exported and
re-encrypted by a key rotation."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader

from exoderm.audit.models import AuditEvent
from exoderm.consent import documents
from exoderm.consent.models import ConsentRecord, ConsentScan, ConsentTemplate
from exoderm.consent.services import attach_scan, sign_consent, sign_on_tablet
from exoderm.patients.export import export_patient
from exoderm.vault import cipher
from tests import factories
from tests.signing.conftest import drawn_signature


def scanned_pdf(text: str = "Einwilligung unterschrieben von Jörg Größmann") -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def scanned_picture(fmt: str = "JPEG", size: tuple[int, int] = (1240, 1754)) -> bytes:
    """A page as a scanner or a phone delivers it: mostly white, some dark lines."""
    image = Image.new("RGB", size, (250, 250, 250))
    for y in range(200, 1400, 60):
        image.paste((20, 20, 20), (150, y, 1000, y + 4))
    out = io.BytesIO()
    image.save(out, format=fmt, dpi=(150, 150))
    return out.getvalue()


@pytest.fixture
def published_yesterday(texts):
    """The treatment text, published the day before, so that a time typed to the minute is after it."""
    ConsentTemplate.objects.filter(pk=texts.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    texts.refresh_from_db()
    return texts


def paper_consent(patient, template, by, *, scan=None) -> ConsentRecord:
    return sign_consent(
        patient=patient,
        kind=template.kind,
        signed_by_name="Jörg Größmann",
        signed_at=timezone.now() - dt.timedelta(minutes=5),
        by=by,
        scan=None if scan is None else [scan],
    )


def stored_column(scan: ConsentScan) -> bytes:
    """The scan's column as the database holds it, read past the model."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pdf FROM {ConsentScan._meta.db_table} WHERE id = %s", [scan.pk])
        return bytes(cursor.fetchone()[0])


def post_file(api, path: str, data: dict):
    """A multipart POST to the API with ``api``'s token."""
    return api.client.post(f"/api/v1{path}", data, headers=api.headers)


def export_events(record: ConsentRecord):
    return AuditEvent.objects.filter(
        action="export", object_type="consent.consentrecord", object_id=str(record.pk)
    )


# --- the pages ---------------------------------------------------------------------------------


def test_the_paper_form_records_the_consent_with_its_scan_and_the_list_links_it(
    client, patient, published_yesterday, clinician
):
    client.force_login(clinician)
    upload = scanned_pdf()
    response = client.post(
        reverse("consent-sign", args=[patient.pk]),
        {
            "kind": "treatment",
            "signed_by_name": "Jörg Größmann",
            "signed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "scan": SimpleUploadedFile("scan.pdf", upload, content_type="application/pdf"),
        },
    )

    assert response.status_code == 302, response.content.decode()
    record = ConsentRecord.objects.get(patient=patient)
    scan = ConsentScan.objects.get(record=record)
    assert (scan.uploaded_format, scan.uploaded_by) == ("pdf", clinician)
    assert documents.scanned_pdf(scan) == upload
    page = client.get(reverse("patient", args=[patient.pk])).content.decode()
    download_url = reverse("consent-document", args=[patient.pk, record.pk])
    assert download_url in page and "Scan of the signed form" in page
    assert reverse("consent-scan", args=[patient.pk, record.pk]) not in page  # nothing to add any more

    download = client.get(download_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download.content == upload
    assert download["Cache-Control"] == "private, no-store"
    [event] = export_events(record)
    assert event.changes["document"] == "scan of the signed paper consent (PDF)"
    assert event.user_id == clinician.pk


def test_the_form_refuses_a_file_that_is_no_scan_and_writes_nothing(
    client, patient, published_yesterday, clinician
):
    client.force_login(clinician)
    response = client.post(
        reverse("consent-sign", args=[patient.pk]),
        {
            "kind": "treatment",
            "signed_by_name": "Jörg Größmann",
            "signed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "scan": SimpleUploadedFile(
                "scan.pdf", b"GIF89a not a scan at all", content_type="application/pdf"
            ),
        },
    )

    assert response.status_code == 200
    assert "The scan must be a PDF, a JPEG or a PNG file." in response.content.decode()
    assert not ConsentRecord.objects.exists() and not ConsentScan.objects.exists()


def test_a_scan_is_added_later_on_the_patient_page(client, patient, published_yesterday, clinician):
    record = paper_consent(patient, published_yesterday, clinician)
    client.force_login(clinician)
    page = client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "no signed document on file" in page
    assert reverse("consent-document", args=[patient.pk, record.pk]) not in page

    url = reverse("consent-scan", args=[patient.pk, record.pk])
    picture = scanned_picture("PNG")
    response = client.post(url, {"scan": SimpleUploadedFile("form.png", picture)}, follow=True)

    assert "The scan of the signed consent is on file." in response.content.decode()
    scan = ConsentScan.objects.get(record=record)
    assert scan.uploaded_format == "png"
    assert len(PdfReader(io.BytesIO(documents.scanned_pdf(scan))).pages) == 1
    again = client.post(url, {"scan": SimpleUploadedFile("other.pdf", scanned_pdf("other"))}, follow=True)
    assert "already on file; it cannot be replaced" in again.content.decode()
    assert ConsentScan.objects.get(record=record).uploaded_sha256 == scan.uploaded_sha256


def test_another_clinics_consent_is_404_on_the_pages(client, patient, published_yesterday, clinician):
    record = paper_consent(patient, published_yesterday, clinician, scan=scanned_pdf())
    stranger = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinician")
    client.force_login(stranger)

    assert client.get(reverse("consent-document", args=[patient.pk, record.pk])).status_code == 404
    upload = {"scan": SimpleUploadedFile("scan.pdf", scanned_pdf())}
    assert client.post(reverse("consent-scan", args=[patient.pk, record.pk]), upload).status_code == 404
    assert not export_events(record).exists()


# --- the service: what is kept and what is refused ----------------------------------------------


def test_a_jpeg_is_kept_as_a_one_page_pdf_of_its_paper_size(patient, published_yesterday, clinician):
    picture = scanned_picture("JPEG")
    record = paper_consent(patient, published_yesterday, clinician, scan=picture)

    scan = record.scan
    assert scan.uploaded_format == "jpeg"
    [page] = PdfReader(io.BytesIO(documents.scanned_pdf(scan))).pages
    # 1240 × 1754 pixels at 150 dpi: an A4 page (595 × 842 points)
    assert round(float(page.mediabox.width)) == 595 and round(float(page.mediabox.height)) == 842
    assert scan.uploaded_sha256 == hashlib.sha256(picture).hexdigest()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (b"", "The file is empty."),
        (b"Name;Datum\nJoerg;2026-12-07\n", "The scan must be a PDF, a JPEG or a PNG file."),
        (b"%PDF-1.7\nnothing that opens\n", "The file starts like a PDF but cannot be opened."),
        (b"\xff\xd8\xff\xe0 broken jpeg", "The file starts like a JPEG picture but cannot be opened."),
        (b"%PDF-1.7\n" + b"0" * documents.MAX_SCAN_BYTES, "The scan is too large (at most 10 MB)."),
    ],
    ids=["empty", "csv", "broken-pdf", "broken-jpeg", "too-large"],
)
def test_what_is_no_scan_is_refused_with_a_clear_message_and_nothing_written(
    patient, published_yesterday, clinician, upload, message
):
    with pytest.raises(ValidationError) as refused:
        paper_consent(patient, published_yesterday, clinician, scan=upload)

    assert refused.value.message_dict == {"scan": [message]}
    assert not ConsentRecord.objects.exists() and not ConsentScan.objects.exists()


def test_the_scan_is_encrypted_at_rest_and_bound_to_its_record(patient, published_yesterday, clinician):
    upload = scanned_pdf()
    record = paper_consent(patient, published_yesterday, clinician, scan=upload)
    scan = ConsentScan.objects.get(record=record)

    column = stored_column(scan)
    assert cipher.is_sealed(column) and b"%PDF" not in column
    assert documents.scanned_pdf(scan) == upload
    with pytest.raises(cipher.DecryptionError):
        documents.unseal(column, clinic_id=patient.clinic_id, record_id=record.pk + 1, column="scan")
    with pytest.raises(ValidationError):
        scan.save()  # written once


def test_no_scan_for_a_tablet_signature(patient, texts, clinician):
    record = sign_on_tablet(
        patient=patient,
        kind=texts.kind,
        language="de",
        text_sha256=texts.text_sha256("de"),
        signer_name="Jörg Größmann",
        signature_png=drawn_signature(),
        device="Tablet",
        by=clinician,
    )
    with pytest.raises(ValidationError, match="signed on the tablet"):
        attach_scan(record=record, scan=[scanned_pdf()], by=clinician)
    assert not ConsentScan.objects.exists()


def test_the_export_and_a_key_rotation_include_the_scan(
    patient, published_yesterday, clinician, clinic_admin
):
    upload = scanned_pdf()
    record = paper_consent(patient, published_yesterday, clinician, scan=upload)
    name = f"consents/{documents.document_name(record)}"

    with zipfile.ZipFile(export_patient(patient=patient, by=clinic_admin)) as archive:
        assert archive.read(name) == upload
        [consent] = json.loads(archive.read("patient.json"))["consents"]
    assert consent["scan_of_paper"]["document"] == name
    assert consent["scan_of_paper"]["uploaded_as"] == "pdf"

    call_command("rotate_keys", data_keys=True, stdout=io.StringIO())
    scan = ConsentScan.objects.get(record=record)
    assert cipher.key_version_of(bytes(scan.pdf)[: cipher.HEADER_SIZE]) == 2
    assert documents.scanned_pdf(scan) == upload


# --- the API -------------------------------------------------------------------------------------


def test_the_api_adds_a_scan_later_and_downloads_it(api_as, patient, published_yesterday, clinician):
    api = api_as(clinician)
    created = api.post(
        f"/patients/{patient.pk}/consents",
        {
            "kind": "treatment",
            "signed_by_name": "Jörg Größmann",
            "signed_at": (timezone.now() - dt.timedelta(minutes=5)).isoformat(),
        },
    ).json()
    assert created["scan_on_file"] is False
    url = f"/patients/{patient.pk}/consents/{created['id']}"
    assert api.get(f"{url}/signed.pdf").status_code == 404

    upload = scanned_pdf()
    attached = post_file(
        api, f"{url}/scan", {"scan": SimpleUploadedFile("scan.pdf", upload, content_type="application/pdf")}
    )

    assert attached.status_code == 201, attached.content
    assert attached.json()["scan_on_file"] is True and attached.json()["signed_on_tablet"] is False
    download = api.get(f"{url}/signed.pdf")
    assert download.status_code == 200 and download.content == upload
    assert export_events(ConsentRecord.objects.get(pk=created["id"])).count() == 1
    listed = api.get(f"/patients/{patient.pk}/consents").json()["items"]
    assert [item["scan_on_file"] for item in listed] == [True]

    replaced = post_file(api, f"{url}/scan", {"scan": SimpleUploadedFile("b.pdf", scanned_pdf("b"))})
    assert replaced.status_code == 422
    assert "cannot be replaced" in replaced.content.decode()


def test_the_api_refuses_a_wrong_or_oversized_file_and_another_clinics_consent(
    api_as, patient, published_yesterday, clinician
):
    record = paper_consent(patient, published_yesterday, clinician)
    api = api_as(clinician)
    url = f"/patients/{patient.pk}/consents/{record.pk}/scan"

    wrong = post_file(api, url, {"scan": SimpleUploadedFile("a.txt", b"hello")})
    assert wrong.status_code == 422 and "a PDF, a JPEG or a PNG" in wrong.content.decode()
    huge = b"%PDF-1.7\n" + b"0" * documents.MAX_SCAN_BYTES
    oversized = post_file(api, url, {"scan": SimpleUploadedFile("big.pdf", huge)})
    assert oversized.status_code == 422 and "too large (at most 10 MB)" in oversized.content.decode()
    assert not ConsentScan.objects.exists()

    stranger = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinician")
    other = api_as(stranger)
    upload = {"scan": SimpleUploadedFile("scan.pdf", scanned_pdf())}
    assert post_file(other, url, upload).status_code == 404
    attach_scan(record=record, scan=[scanned_pdf()], by=clinician)
    assert other.get(f"/patients/{patient.pk}/consents/{record.pk}/signed.pdf").status_code == 404
    assert not export_events(record).exists()


def test_the_openapi_schema_describes_the_scan_upload(api_as, clinician):
    schema = api_as(clinician).get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/patients/{patient_id}/consents/{consent_id}/scan"]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["scan"] and body["properties"]["scan"]["format"] == "binary"
    assert "201" in operation["responses"]
    consent = schema["components"]["schemas"]["ConsentOut"]["properties"]
    assert "scan_on_file" in consent
