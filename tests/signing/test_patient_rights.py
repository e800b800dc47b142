"""Signed consents and intakes in the patient's rights: the export holds them, the erasure for good
takes them along."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile

from django.utils import timezone
from pypdf import PdfReader

from exoderm.consent.models import ConsentRecord, ConsentSignature
from exoderm.consent.services import sign_on_tablet
from exoderm.core.contraindications import ScreeningItem
from exoderm.patients import erasure
from exoderm.patients import intake as intakes
from exoderm.patients.models import Intake, Patient
from tests.signing.conftest import drawn_signature


def _signed_and_answered(patient, texts, clinician):
    record = sign_on_tablet(
        patient=patient,
        kind=texts.kind,
        language="de",
        text_sha256=texts.text_sha256("de"),
        signer_name="Jörg Größmann",
        signature_png=drawn_signature(),
        device="Tablet Empfang",
        by=clinician,
    )
    intake, token = intakes.create_intake(patient=patient, by=clinician)
    intakes.submit_intake(
        token=token,
        answers=[intakes.Answer(item=item, present=item == "keloid") for item in ScreeningItem.values],
        address="192.0.2.5",
    )
    return record, intake, token


def test_the_export_holds_the_signed_pdf_and_the_intake_but_no_token(api_as, patient, texts, clinician):
    record, _intake, token = _signed_and_answered(patient, texts, clinician)

    response = api_as(clinician).get(f"/patients/{patient.pk}/export")

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    data = json.loads(archive.read("patient.json"))
    [consent] = data["consents"]
    signed = consent["signed_on_tablet"]
    assert signed["text_sha256"] == texts.text_sha256("de") and signed["witness"]
    assert signed["text_matches_hash"] is True
    pdf = archive.read(signed["document"])
    assert "Jörg Größmann" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert f"{hashlib.sha256(pdf).hexdigest()}  {signed['document']}" in archive.read("README.txt").decode()
    [answered] = data["intakes"]
    assert {row["item"]: row["present"] for row in answered["answers"]}["keloid"] is True
    assert token not in archive.read("patient.json").decode()
    assert ConsentRecord.objects.get(pk=record.pk).signature.pk


def test_erasure_for_good_takes_signatures_and_intakes_along(patient, texts, clinician, clinic_admin):
    record, intake, _token = _signed_and_answered(patient, texts, clinician)
    erasure.request_erasure(
        patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=True
    )

    result = erasure.erase_expired_records(today=timezone.localdate() + dt.timedelta(days=365 * 11))

    assert result.erased == [patient.code] and result.failed == {}
    assert not Patient.objects.filter(pk=patient.pk).exists()
    assert not ConsentSignature.objects.filter(record_id=record.pk).exists()
    assert not Intake.objects.filter(pk=intake.pk).exists()
