"""Intake before the visit: the one-time link, the public questionnaire, the clinician's review."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from exoderm.audit.models import AuditEvent
from exoderm.core.contraindications import ScreeningItem
from exoderm.messaging import delivery
from exoderm.messaging.models import MessageKind, OutboxMessage
from exoderm.patients import intake as intakes
from exoderm.patients.models import Intake, IntakeAttempt, ScreeningAnswer
from exoderm.patients.selectors import current_screening
from tests import factories
from tests.signin import login_with_mfa


def answers_form(**present: bool) -> dict[str, str]:
    """The questionnaire's POST: every item "no" unless named; areas for area-specific ones."""
    data = {}
    for item in ScreeningItem.values:
        data[f"{item}_present"] = "yes" if present.get(item) else "no"
    if present.get("acne_dermatitis"):
        data["acne_dermatitis_areas"] = "cheek_left"
    return data


@pytest.fixture
def link(patient, clinician):
    intake, token = intakes.create_intake(patient=patient, by=clinician)
    return intake, token, reverse("intake", args=[token])


def test_the_token_is_random_long_and_stored_only_as_a_hash(patient, clinician):
    intake, token = intakes.create_intake(patient=patient, by=clinician)
    _other, second = intakes.create_intake(patient=patient, by=clinician)

    assert len(token) >= 43 and token != second  # 32 bytes of randomness, base64url
    assert intake.token_digest == intakes.token_digest(token) != token
    stored = Intake.objects.filter(pk=intake.pk).values()[0]
    assert token not in {str(value) for value in stored.values()}
    assert intake.expires_at - intake.created_at == dt.timedelta(hours=72)
    created = AuditEvent.objects.get(object_type="patients.intake", object_id=str(intake.pk), action="create")
    assert created.changes["token_digest"] == {"changed": True}


def test_the_public_page_needs_no_login_and_shows_only_the_given_name(client, patient, link):
    intake, _token, url = link

    page = client.get(url)

    body = page.content.decode()
    assert page.status_code == 200
    assert "Jörg" in body
    for hidden in ("Größmann", patient.code, patient.identity.email, "1980"):
        assert hidden not in body
    assert page["Cache-Control"] == "private, no-store"
    assert page["Referrer-Policy"] == "same-origin"
    assert 'lang="de"' in body  # the patient's language
    assert "Schwangerschaft oder Stillzeit" in body  # the questions in German
    read = AuditEvent.objects.get(action="read", object_type="patients.intake", object_id=str(intake.pk))
    assert (read.clinic_id, read.patient_id) == (patient.clinic_id, patient.pk)


def test_the_page_comes_in_english_on_request(client, link):
    _intake, _token, url = link
    body = client.get(url, {"lang": "en"}).content.decode()
    assert "Hello Jörg," in body
    assert 'lang="en"' in body
    assert "Pregnancy or breastfeeding" in body


def test_the_link_works_once(client, patient, link):
    intake, _token, url = link

    sent = client.post(url, answers_form(pregnancy=True))
    again = client.get(url)
    twice = client.post(url, answers_form())

    assert sent.status_code == 200 and "Vielen Dank" in sent.content.decode()  # the patient speaks German
    for refused in (again, twice):
        assert refused.status_code == 410
        body = refused.content.decode()
        assert "already been sent" in body
        assert "Jörg" not in body and "Größmann" not in body
    intake.refresh_from_db()
    assert intake.submitted_at is not None
    assert {row["item"]: row["present"] for row in intake.answers}["pregnancy"] is True


def test_an_expired_link_says_so_and_shows_nothing(client, link):
    intake, _token, url = link
    Intake.objects.filter(pk=intake.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    for response in (client.get(url), client.post(url, answers_form())):
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert "Jörg" not in response.content.decode()
    intake.refresh_from_db()
    assert intake.submitted_at is None and intake.answers == []


def test_a_wrong_token_says_so_and_shows_nothing(client, link):
    _intake, token, _url = link
    wrong = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = client.get(reverse("intake", args=[wrong]))

    assert response.status_code == 404
    body = response.content.decode()
    assert "does not work" in body and "Jörg" not in body


def test_wrong_tokens_from_one_address_are_rate_limited(client, link):
    _intake, _token, url = link
    for attempt in range(intakes.FAILURE_LIMIT):
        assert client.get(reverse("intake", args=[f"guess{attempt}"])).status_code == 404

    limited = client.get(url)  # even the right token waits now

    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert "Jörg" not in limited.content.decode()
    other_address = client.get(url, REMOTE_ADDR="192.0.2.77")
    assert other_address.status_code == 200
    assert IntakeAttempt.objects.filter(address="127.0.0.1").count() == intakes.FAILURE_LIMIT


def test_the_limit_ends_with_its_window(client, link):
    _intake, _token, url = link
    for attempt in range(intakes.FAILURE_LIMIT):
        client.get(reverse("intake", args=[f"guess{attempt}"]))
    IntakeAttempt.objects.update(at=timezone.now() - intakes.FAILURE_WINDOW - dt.timedelta(seconds=1))

    assert client.get(url).status_code == 200


def test_unconfirmed_answers_are_not_the_screening_of_record(client, patient, link):
    _intake, _token, url = link
    client.post(url, answers_form(pregnancy=True))

    assert ScreeningAnswer.objects.filter(patient=patient).count() == 0
    assert current_screening(patient=patient) == {}


def test_a_clinician_reviews_corrects_and_confirms(client, patient, link, clinician):
    intake, _token, url = link
    client.post(url, answers_form(pregnancy=True, keloid=True))
    client.force_login(clinician)

    review = client.get(reverse("patient-intake", args=[patient.pk]))
    assert review.status_code == 200
    assert "Not yet the screening of record" in review.content.decode()
    prefix = f"intake{intake.pk}-"
    corrected = {prefix + name: value for name, value in answers_form(pregnancy=True).items()}
    confirmed = client.post(reverse("intake-review", args=[patient.pk, intake.pk]), corrected)

    assert confirmed.status_code == 302
    screening = current_screening(patient=patient)
    assert screening["pregnancy"].present is True
    assert screening["keloid"].present is False  # as the clinician corrected it
    assert screening["pregnancy"].recorded_by == clinician
    submitted = Intake.objects.get(pk=intake.pk).submitted_at
    # the day the patient answered on the clinic's calendar, not UTC's
    assert screening["pregnancy"].answered_on == timezone.localdate(
        submitted, timezone=zoneinfo.ZoneInfo(patient.clinic.time_zone)
    )
    intake.refresh_from_db()
    assert intake.confirmed and intake.reviewed_by == clinician
    # reviewed once: a second confirmation is refused, nothing recorded twice
    again = client.post(reverse("intake-review", args=[patient.pk, intake.pk]), corrected)
    assert again.status_code == 400
    assert ScreeningAnswer.objects.filter(patient=patient, item="pregnancy").count() == 1


def test_discarding_records_nothing(client, patient, link, clinician):
    intake, _token, url = link
    client.post(url, answers_form(pregnancy=True))
    client.force_login(clinician)

    client.post(reverse("intake-review", args=[patient.pk, intake.pk]), {"discard": "1"})

    intake.refresh_from_db()
    assert intake.reviewed_at is not None and not intake.confirmed
    assert ScreeningAnswer.objects.filter(patient=patient).count() == 0


def test_an_assistant_makes_links_but_only_a_clinician_confirms(patient, assistant):
    intake, token = intakes.create_intake(patient=patient, by=assistant)
    intakes.submit_intake(
        token=token,
        answers=[intakes.Answer(item=item, present=False) for item in ScreeningItem.values],
        address="192.0.2.1",
    )
    with pytest.raises(PermissionDenied):
        intakes.confirm_intake(intake=intake, answers=intakes.answers_of(intake), by=assistant)


def test_the_link_page_shows_link_and_qr_code_and_emails_it(client, patient, clinician, smtp):
    client.force_login(clinician)

    page = client.post(reverse("patient-intake", args=[patient.pk]), {"send": "1"})

    body = page.content.decode()
    link = re.search(r"http://testserver(/intake/[A-Za-z0-9_-]+/)", body).group(1)
    assert 'src="data:image/svg+xml' in body  # the QR code, drawn by segno
    [message] = OutboxMessage.objects.filter(patient=patient, kind=MessageKind.INTAKE_LINK)
    # the row holds the link sealed, not in its text: a copy of the database opens no intake
    assert link not in message.body and link.encode() not in bytes(message.sealed_link)
    assert delivery.deliver(message.pk) == "sent"
    [received] = smtp.recorder.received
    assert received["To"] == patient.identity.email
    text = received.get_content()
    assert f"http://testserver{link}" in text
    assert "Größmann" not in text  # the given name only
    client.logout()
    assert client.get(link).status_code == 200


def test_another_clinic_cannot_see_or_confirm_an_intake(client, patient, link, other_clinic):
    intake, _token, url = link
    client.post(url, answers_form(pregnancy=True))
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    client.force_login(stranger)

    assert client.get(reverse("patient-intake", args=[patient.pk])).status_code == 404
    confirm = client.post(
        reverse("intake-review", args=[patient.pk, intake.pk]),
        {f"intake{intake.pk}-{k}": v for k, v in answers_form().items()},
    )
    assert confirm.status_code == 404
    assert ScreeningAnswer.objects.filter(patient=patient).count() == 0
    own_patient = factories.PatientFactory(clinic=other_clinic)
    # the intake's id under a patient of the stranger's own clinic is not found either
    assert (
        client.post(reverse("intake-review", args=[own_patient.pk, intake.pk]), {"discard": "1"}).status_code
        == 404
    )
    intake.refresh_from_db()
    assert intake.reviewed_at is None


def test_a_restricted_record_opens_no_intake(client, patient, link, clinic_admin):
    from exoderm.patients.erasure import request_erasure

    _intake, _token, url = link
    request_erasure(patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=False)

    response = client.get(url)
    assert response.status_code == 404
    assert "Jörg" not in response.content.decode()


def test_the_patient_page_says_when_answers_wait(client, patient, link, clinic_admin):
    _intake, _token, url = link
    client.post(url, answers_form())
    login_with_mfa(client, clinic_admin)

    body = client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "1 intake filled in by the patient waits for review." in body


def test_a_link_filled_in_before_the_worker_sends_it_is_not_sent(patient, clinician, smtp):
    patient.identity.email_opt_out = True  # asked for at the desk: an opt-out does not hold it back
    patient.identity.save()
    intake, token = intakes.create_intake(patient=patient, by=clinician)
    sent_first = intakes.email_intake_link(
        intake=intake, url=f"http://testserver/intake/{token}/", by=clinician
    )
    assert delivery.deliver(sent_first.pk) == "sent"
    other, other_token = intakes.create_intake(patient=patient, by=clinician)
    waiting = intakes.email_intake_link(
        intake=other, url=f"http://testserver/intake/{other_token}/", by=clinician
    )
    intakes.submit_intake(
        token=other_token,
        answers=[intakes.Answer(item=item, present=False) for item in ScreeningItem.values],
        address="192.0.2.1",
    )

    assert delivery.deliver(waiting.pk) == "nothing to send"

    waiting.refresh_from_db()
    assert waiting.status == "skipped" and waiting.detail == "the questionnaire was filled in already"
    assert smtp.recorder.outbox_ids() == [sent_first.pk]
