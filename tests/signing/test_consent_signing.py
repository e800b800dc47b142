"""Consent signed by hand on the tablet: what is stored, what is refused, the PDF and its e-mail."""

from __future__ import annotations

import base64
import io
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from pypdf import PdfReader

from exoderm.audit.models import AuditEvent
from exoderm.consent import documents
from exoderm.consent.models import ConsentKind, ConsentRecord, ConsentSignature
from exoderm.consent.selectors import active_consent, signature_matches_text
from exoderm.consent.services import (
    correct_consent,
    create_template,
    email_signed_consent,
    sign_on_tablet,
    signed_document,
    withdraw_consent,
)
from exoderm.core.access import NotFound
from exoderm.messaging import delivery
from exoderm.messaging.models import MessageKind, MessageStatus, OutboxMessage
from exoderm.vault import cipher
from tests import factories
from tests.signing.conftest import blank_signature, drawn_signature

TABLET = "Tablet Empfang · Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"


def sign(patient, template, by, *, png=None, language="de", text_sha256=None):
    return sign_on_tablet(
        patient=patient,
        kind=template.kind,
        language=language,
        text_sha256=text_sha256 or template.text_sha256(language),
        signer_name="Jörg Größmann",
        signature_png=drawn_signature() if png is None else png,
        device=TABLET,
        by=by,
    )


def test_a_signature_is_stored_with_hash_time_device_and_witness(patient, texts, clinician):
    record = sign(patient, texts, clinician)

    signature = ConsentSignature.objects.get(record=record)
    expected = texts.text_sha256("de")
    assert signature.text_sha256 == expected == record.signature.text_sha256
    assert len(expected) == 64
    assert signature.language == "de"
    assert signature.signer_name == record.signed_by_name == "Jörg Größmann"
    assert signature.signed_at == record.signed_at
    assert signature.device == TABLET
    assert signature.witness == clinician == record.recorded_by
    assert signature_matches_text(signature)
    assert active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=signature.signed_at) == record


def test_picture_and_pdf_are_encrypted_at_rest_and_bound_to_their_record(patient, texts, clinician):
    record = sign(patient, texts, clinician)
    signature = ConsentSignature.objects.get(record=record)
    stored_png, stored_pdf = bytes(signature.signature_png), bytes(signature.pdf)

    assert cipher.is_sealed(stored_png) and cipher.is_sealed(stored_pdf)
    assert documents.PNG_MAGIC not in stored_png and b"%PDF" not in stored_pdf
    assert documents.signature_png(signature) == drawn_signature()
    # the picture copied into the PDF's column (or another record) does not open
    with pytest.raises(cipher.DecryptionError):
        documents.unseal(stored_png, clinic_id=patient.clinic_id, record_id=record.pk, column="pdf")
    with pytest.raises(cipher.DecryptionError):
        documents.unseal(
            stored_png, clinic_id=patient.clinic_id, record_id=record.pk + 1, column="signature_png"
        )


@pytest.mark.parametrize(
    ("png", "message"),
    [
        (blank_signature(), "empty"),
        (blank_signature(colour=(255, 255, 255, 255)), "empty"),
        (drawn_signature(strokes=0), "empty"),
        (b"GIF89a" + b"\0" * 200, "not a PNG"),
        (documents.PNG_MAGIC + b"\0" * 200, "not a PNG"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 200, "not a PNG"),
        (documents.PNG_MAGIC + b"\0" * (documents.MAX_SIGNATURE_BYTES + 1), "too large"),
        (drawn_signature(5000, 300), "too large"),
    ],
    ids=["transparent", "white", "no-strokes", "gif", "truncated-png", "jpeg", "too-many-bytes", "too-wide"],
)
def test_blank_foreign_and_oversized_pictures_are_refused_and_nothing_is_written(
    patient, texts, clinician, png, message
):
    with pytest.raises(ValidationError) as refused:
        sign(patient, texts, clinician, png=png)

    assert message in " ".join(refused.value.message_dict["signature"])
    assert not ConsentRecord.objects.filter(patient=patient).exists()
    assert not ConsentSignature.objects.exists()


def test_a_jpeg_is_refused_even_when_it_is_a_real_picture(patient, texts, clinician):
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(drawn_signature())).convert("RGB").save(out, format="JPEG")
    with pytest.raises(ValidationError, match="not a PNG"):
        sign(patient, texts, clinician, png=out.getvalue())


def test_a_version_published_while_the_patient_read_refuses_the_signature(
    patient, texts, clinician, clinic_admin
):
    shown = texts.text_sha256("de")
    create_template(
        clinic=texts.clinic,
        kind=ConsentKind.TREATMENT,
        title_de="Einwilligung v2",
        title_en="Consent v2",
        text_de="Neuer Text.",
        text_en="New text.",
        by=clinic_admin,
    )

    with pytest.raises(ValidationError) as refused:
        sign(patient, texts, clinician, text_sha256=shown)

    assert "new version" in " ".join(refused.value.message_dict["text_sha256"])
    assert not ConsentRecord.objects.filter(patient=patient).exists()


def test_a_signature_cannot_be_moved_to_another_text_version(patient, texts, clinician, clinic_admin):
    record = sign(patient, texts, clinician)
    signature = ConsentSignature.objects.get(record=record)
    version_2 = create_template(
        clinic=texts.clinic,
        kind=ConsentKind.TREATMENT,
        title_de="Einwilligung v2",
        title_en="Consent v2",
        text_de="Neuer Text.",
        text_en="New text.",
        by=clinic_admin,
    )
    other = factories.ConsentRecordFactory(patient=patient, template=version_2, recorded_by=clinician)

    # through the model
    signature.record = other
    with pytest.raises(ValidationError):
        signature.save()
    # past the model: the database refuses moving the record to the new version...
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentRecord.objects.filter(pk=record.pk).update(template=version_2)
    # ...moving the signature to a record of the new version...
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentSignature.objects.filter(pk=signature.pk).update(record=other)
    # ...and giving it the new version's hash
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentSignature.objects.filter(pk=signature.pk).update(text_sha256=version_2.text_sha256("de"))
    # a new signature row under a text that is not its record's version fails its check
    moved = ConsentSignature(
        record=other,
        language="de",
        text_sha256=texts.text_sha256("de"),
        signed_at=record.signed_at,
        signer_name="x",
        device="x",
        witness=clinician,
        signature_png=b"x",
        pdf=b"x",
    )
    with pytest.raises(ValidationError, match="not the text of this consent version"):
        moved.full_clean()

    signature.refresh_from_db()
    record.refresh_from_db()
    assert (signature.record_id, record.template_id) == (record.pk, texts.pk)
    assert signature.text_sha256 == texts.text_sha256("de")
    # an unsigned record may still be saved as before (the triggers only guard signed ones)
    other.signed_by_name = "Erika Mustermann"
    other.save()


def test_a_signed_record_is_not_corrected_but_withdrawn_as_before(patient, texts, clinician):
    record = sign(patient, texts, clinician)
    with pytest.raises(ValidationError, match="signed on the tablet"):
        correct_consent(
            record=record,
            by=clinician,
            reason="typo",
            signed_at=record.signed_at,
            signed_by_name="Someone Else",
        )

    withdraw_consent(record=record, by=clinician)

    record.refresh_from_db()
    assert record.withdrawn_at is not None
    assert active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=record.withdrawn_at) is None
    assert ConsentSignature.objects.filter(record=record).exists()


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _pdf_images(data: bytes) -> list:
    reader = PdfReader(io.BytesIO(data))
    return [image for page in reader.pages for image in page.images]


def test_the_pdf_holds_the_text_the_signature_names_time_and_hash(patient, texts, clinician):
    record = sign(patient, texts, clinician)

    data = signed_document(record=record, by=clinician)

    text = " ".join(_pdf_text(data).split())
    assert "Einwilligung in die Exosomen-Behandlung" in text
    assert " ".join(texts.text_de.split()) in text  # umlauts and the dash as signed
    assert "Jörg Größmann" in text
    assert patient.code in text
    assert clinician.display_name in text
    assert texts.text_sha256("de") in text
    assert "Tablet Empfang" in text
    local = record.signed_at.astimezone(zoneinfo.ZoneInfo(patient.clinic.time_zone))
    assert local.strftime("%d.%m.%Y %H:%M") in text
    [picture] = _pdf_images(data)
    drawn = picture.image.convert("RGBA")
    assert drawn.size == (600, 200)
    assert drawn.getchannel("A").getbbox() is not None  # the strokes are there
    assert AuditEvent.objects.filter(
        action="export", object_type="consent.consentrecord", object_id=str(record.pk)
    ).exists()


def test_the_pdf_is_in_the_language_signed_in(patient, texts, clinician):
    record = sign(patient, texts, clinician, language="en")
    text = " ".join(_pdf_text(signed_document(record=record, by=clinician)).split())
    assert "Consent to the exosome treatment" in text
    assert " ".join(texts.text_en.split()) in text
    assert texts.text_sha256("en") in text


def _attachments(received):
    return [
        (part.get_filename(), part.get_content(), part.get_content_type())
        for part in received.iter_attachments()
    ]


def test_the_patient_receives_the_pdf_by_email_through_the_outbox(patient, texts, clinician, smtp):
    record = sign(patient, texts, clinician)

    message = email_signed_consent(record=record, by=clinician)

    # queued in the outbox, the PDF not copied into it: the worker renders it when it sends
    assert message.status == MessageStatus.QUEUED and message.kind == MessageKind.SIGNED_CONSENT
    assert message.recipient == patient.identity.email
    assert smtp.recorder.received == []
    assert delivery.deliver(message.pk) == "sent"

    [received] = smtp.recorder.received
    assert received["To"] == patient.identity.email
    assert "Jörg" in received.get_body(preferencelist=("plain",)).get_content()
    assert "Größmann" not in received["Subject"]
    [(name, content, mimetype)] = _attachments(received)
    assert mimetype == "application/pdf" and name.endswith(".pdf") and "Größmann" not in name
    assert content == signed_document(record=record, by=clinician)
    assert "Einwilligung in die Exosomen-Behandlung" in _pdf_text(content)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and smtp.recorder.outbox_ids() == [message.pk]
    # sent once: the task running again sends nothing
    assert delivery.deliver(message.pk) == "nothing to send" and len(smtp.recorder.received) == 1


def test_the_copy_the_patient_asked_for_goes_out_despite_an_email_opt_out(patient, texts, clinician, smtp):
    record = sign(patient, texts, clinician)
    patient.identity.email_opt_out = True
    patient.identity.save()

    message = email_signed_consent(record=record, by=clinician)

    assert delivery.deliver(message.pk) == "sent"
    assert len(smtp.recorder.received) == 1


def test_asking_twice_while_it_waits_queues_one_email(patient, texts, clinician, smtp):
    record = sign(patient, texts, clinician)
    first = email_signed_consent(record=record, by=clinician)
    assert email_signed_consent(record=record, by=clinician) == first
    delivery.deliver(first.pk)
    # once sent, the patient may ask for another copy
    again = email_signed_consent(record=record, by=clinician)
    assert again != first
    delivery.deliver(again.pk)
    assert smtp.recorder.outbox_ids() == [first.pk, again.pk]


def test_a_refused_address_is_recorded_as_failed(patient, texts, clinician, smtp):
    record = sign(patient, texts, clinician)
    smtp.recorder.refuse_rcpt = "550 5.1.1 mailbox unavailable"
    message = email_signed_consent(record=record, by=clinician)

    assert delivery.deliver(message.pk) == "failed"

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "550" in message.detail


def test_an_email_needs_an_address_and_a_tablet_signature(patient, texts, clinician):
    paper = factories.ConsentRecordFactory(
        patient=factories.PatientFactory(clinic=patient.clinic), template=texts, recorded_by=clinician
    )
    with pytest.raises(NotFound, match="not signed on the tablet"):
        email_signed_consent(record=paper, by=clinician)
    record = sign(patient, texts, clinician)
    patient.identity.email = ""
    patient.identity.save()
    record.patient.identity.email = ""
    with pytest.raises(ValidationError, match="no e-mail address"):
        email_signed_consent(record=record, by=clinician)
    assert not OutboxMessage.objects.exists()


def test_a_researcher_cannot_sign_or_read(patient, texts, researcher):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sign(patient, texts, researcher)


def test_a_data_key_rotation_reencrypts_signatures(patient, texts, clinician):
    from django.core.management import call_command

    record = sign(patient, texts, clinician)
    before = bytes(ConsentSignature.objects.get(record=record).pdf)

    call_command("rotate_keys", data_keys=True, stdout=io.StringIO())

    signature = ConsentSignature.objects.get(record=record)
    assert cipher.key_version_of(bytes(signature.pdf)[: cipher.HEADER_SIZE]) == 2
    assert bytes(signature.pdf) != before
    assert documents.signature_png(signature) == drawn_signature()
    assert texts.title_de in _pdf_text(documents.signed_pdf(signature))


# --- the pages ---------------------------------------------------------------------------------


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_the_tablet_page_signs_and_the_patient_page_offers_pdf_and_email(
    client, patient, texts, clinician, smtp
):
    client.force_login(clinician)
    url = reverse("consent-tablet", args=[patient.pk])
    page = client.get(url, {"kind": "treatment"})
    assert page.status_code == 200
    assert "Ich wurde über Nutzen und Risiken aufgeklärt" in page.content.decode()
    assert texts.text_sha256("de") in page.content.decode()

    response = client.post(
        url,
        {
            "kind": "treatment",
            "language": "de",
            "text_sha256": texts.text_sha256("de"),
            "signer_name": "Jörg Größmann",
            "device": "Tablet Empfang",
            "signature": _data_url(drawn_signature()),
        },
        HTTP_USER_AGENT="Mozilla/5.0 (iPad)",
    )

    assert response.status_code == 302
    signature = ConsentSignature.objects.get(record__patient=patient)
    assert signature.device == "Tablet Empfang · Mozilla/5.0 (iPad)"
    detail = client.get(reverse("patient", args=[patient.pk])).content.decode()
    pdf_url = reverse("consent-document", args=[patient.pk, signature.record_id])
    assert pdf_url in detail
    download = client.get(pdf_url)
    assert download["Content-Type"] == "application/pdf"
    assert "Jörg Größmann" in _pdf_text(download.content)
    client.post(reverse("consent-email", args=[patient.pk, signature.record_id]))
    message = OutboxMessage.objects.get(patient=patient, kind=MessageKind.SIGNED_CONSENT)
    assert delivery.deliver(message.pk) == "sent"
    [received] = smtp.recorder.received
    assert [mimetype for _name, _content, mimetype in _attachments(received)] == ["application/pdf"]
    # the outbox page lists it, sent, like every other message
    outbox = client.get(reverse("outbox")).content.decode()
    assert str(MessageKind.SIGNED_CONSENT.label) in outbox and str(MessageStatus.SENT.label) in outbox


def test_the_tablet_page_refuses_a_blank_signature_with_a_clear_message(client, patient, texts, clinician):
    client.force_login(clinician)
    response = client.post(
        reverse("consent-tablet", args=[patient.pk]),
        {
            "kind": "treatment",
            "language": "en",
            "text_sha256": texts.text_sha256("en"),
            "signer_name": "Jörg Größmann",
            "signature": _data_url(blank_signature()),
        },
    )
    assert response.status_code == 200
    assert "The signature is empty" in response.content.decode()
    assert not ConsentRecord.objects.filter(patient=patient).exists()


def test_another_clinic_sees_neither_the_page_nor_the_pdf(client, patient, texts, clinician, other_clinic):
    record = sign(patient, texts, clinician)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    client.force_login(stranger)

    assert client.get(reverse("consent-tablet", args=[patient.pk]), {"kind": "treatment"}).status_code == 404
    assert client.get(reverse("consent-document", args=[patient.pk, record.pk])).status_code == 404
    assert client.post(reverse("consent-email", args=[patient.pk, record.pk])).status_code == 404
    assert not OutboxMessage.objects.exists()


def test_the_demo_seeds_one_signed_consent_once(clinic, clinician, patient):
    from exoderm.consent.demo import seed_signed_consent

    factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.RESEARCH, version=1)

    signature = seed_signed_consent(clinic=clinic)

    assert signature is not None and signature.witness == clinician
    assert signature.record.template.kind == ConsentKind.RESEARCH
    assert "Jörg Größmann" in _pdf_text(documents.signed_pdf(signature))
    assert seed_signed_consent(clinic=clinic) is None
    assert ConsentSignature.objects.count() == 1


def test_the_chooser_marks_a_consent_already_signed(client, patient, texts, clinician):
    sign(patient, texts, clinician)
    client.force_login(clinician)

    body = client.get(reverse("consent-tablet", args=[patient.pk])).content.decode()

    assert "signed, current version" in body
    assert "?kind=treatment" not in body


def test_a_signature_on_a_white_ground_is_accepted(patient, texts, clinician):
    from PIL import Image

    out = io.BytesIO()
    on_white = Image.new("RGB", (600, 200), "white")
    on_white.paste(Image.open(io.BytesIO(drawn_signature())), mask=Image.open(io.BytesIO(drawn_signature())))
    on_white.save(out, format="PNG")

    record = sign(patient, texts, clinician, png=out.getvalue())

    assert documents.signature_png(record.signature) == out.getvalue()
