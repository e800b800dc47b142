"""The API of the tablet signature and the intake: the same services as the pages, as JSON."""

from __future__ import annotations

import base64
import io

from pypdf import PdfReader

from exoderm.consent.models import ConsentSignature
from exoderm.core.contraindications import ScreeningItem
from exoderm.messaging import delivery
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.patients.models import ScreeningAnswer
from tests.signing.conftest import blank_signature, drawn_signature


def signature_body(template, png: bytes, language: str = "de") -> dict:
    return {
        "kind": template.kind,
        "language": language,
        "text_sha256": template.text_sha256(language),
        "signer_name": "Jörg Größmann",
        "device": "Tablet 2",
        "signature_png": base64.b64encode(png).decode(),
    }


def test_sign_download_and_email_through_the_api(api_as, patient, texts, clinician, smtp):
    api = api_as(clinician)

    created = api.post(f"/patients/{patient.pk}/tablet-signatures", signature_body(texts, drawn_signature()))

    assert created.status_code == 201, created.content
    consent = created.json()
    assert (
        consent["kind"] == "treatment" and consent["active"] is True and consent["signed_on_tablet"] is True
    )
    signature = ConsentSignature.objects.get(record_id=consent["id"])
    assert signature.device.startswith("Tablet 2")
    pdf = api.get(f"/patients/{patient.pk}/consents/{consent['id']}/signed.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "Jörg Größmann" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    emailed = api.post(f"/patients/{patient.pk}/consents/{consent['id']}/email").json()
    assert emailed["sent_to"] == patient.identity.email
    assert delivery.deliver(emailed["message"]) == "sent"
    [received] = smtp.recorder.received
    assert [part.get_content_type() for part in received.iter_attachments()] == ["application/pdf"]
    listed = api.get("/messages", {"patient": patient.pk}).json()["items"]
    assert [(m["id"], m["kind"], m["status"]) for m in listed] == [
        (emailed["message"], "signed_consent", "sent")
    ]


def test_a_blank_or_undecodable_signature_is_a_422(api_as, patient, texts, clinician):
    api = api_as(clinician)
    blank = api.post(f"/patients/{patient.pk}/tablet-signatures", signature_body(texts, blank_signature()))
    assert blank.status_code == 422
    assert blank["Content-Type"].startswith("application/problem+json")
    garbled = signature_body(texts, drawn_signature()) | {"signature_png": "not base64!"}
    assert api.post(f"/patients/{patient.pk}/tablet-signatures", garbled).status_code == 422
    assert not ConsentSignature.objects.exists()


def test_a_paper_consent_has_no_signed_pdf(api_as, patient, texts, clinician):
    from tests import factories

    paper = factories.ConsentRecordFactory(patient=patient, template=texts, recorded_by=clinician)
    assert api_as(clinician).get(f"/patients/{patient.pk}/consents/{paper.pk}/signed.pdf").status_code == 404


def test_intake_link_list_and_confirmation_through_the_api(
    api_as, client, patient, clinician, assistant, smtp
):
    link = api_as(assistant).post(f"/patients/{patient.pk}/intakes", {"send_email": True})
    assert link.status_code == 201
    body = link.json()
    assert body["url"].startswith("http://testserver/intake/") and body["sent_to"] == patient.identity.email
    [message] = OutboxMessage.objects.filter(patient=patient, kind=MessageKind.INTAKE_LINK)
    assert body["url"] not in message.body  # sealed in the row, filled in when the worker sends it
    assert delivery.deliver(message.pk) == "sent"
    [received] = smtp.recorder.received
    assert body["url"] in received.get_content()

    answers = {f"{item}_present": "yes" if item == "keloid" else "no" for item in ScreeningItem.values}
    client.post(body["url"].removeprefix("http://testserver"), answers)
    listed = api_as(assistant).get(f"/patients/{patient.pk}/intakes").json()
    assert listed[0]["submitted_at"] is not None and listed[0]["confirmed"] is False
    assert {row["item"]: row["present"] for row in listed[0]["answers"]}["keloid"] is True
    assert "token" not in listed[0] and "token_digest" not in listed[0]

    refused = api_as(assistant).post(f"/patients/{patient.pk}/intakes/{body['id']}/confirm", {})
    assert refused.status_code == 403
    confirmed = api_as(clinician).post(f"/patients/{patient.pk}/intakes/{body['id']}/confirm", {})
    assert confirmed.status_code == 200
    assert {row["item"]: row["present"] for row in confirmed.json()}["keloid"] is True
    assert ScreeningAnswer.objects.filter(patient=patient).count() == len(ScreeningItem.values)


def test_researchers_get_403(api_as, patient, texts, researcher):
    api = api_as(researcher)
    assert api.post(f"/patients/{patient.pk}/intakes", {}).status_code == 403
    assert api.get(f"/patients/{patient.pk}/intakes").status_code == 403
    body = signature_body(texts, drawn_signature())
    assert api.post(f"/patients/{patient.pk}/tablet-signatures", body).status_code == 403
