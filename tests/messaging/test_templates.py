"""Message templates per language: edited by the clinic admin (page and API), checked, previewed,
and used for the next message; the built-in wording until then and after a reset."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from exoderm.messaging import delivery, services
from exoderm.messaging.models import MessageKind, MessageTemplate
from tests import factories
from tests.signin import login_with_mfa

URL = "/messages/templates/visit_reminder/email/de/"
AT = dt.datetime(2026, 12, 9, 9, 30, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_an_edited_template_is_used_for_the_patients_language_only(clinic, clinic_admin, smtp):
    services.save_template(
        clinic=clinic, kind=MessageKind.VISIT_REMINDER, channel="email", language="de",
        subject="Ihr Termin bei uns", body="Hallo {{ given_name }}, bis {{date}} um {{ time }}!",
        by=clinic_admin,
    )  # fmt: skip
    german = factories.PatientFactory(clinic=clinic, identity__given_name="Jörg", identity__phone="")
    english = factories.PatientFactory(clinic=clinic, identity__language="en", identity__phone="")
    for index, patient in enumerate((german, english)):
        [message] = services.queue_for_patient(
            patient=patient, kind=MessageKind.VISIT_REMINDER, about=f"visit:{index}", at=AT
        )
        delivery.deliver(message.pk)
    de, en = smtp.recorder.received
    assert de["Subject"] == "Ihr Termin bei uns"
    assert de.get_content().strip() == "Hallo Jörg, bis 09.12.2026 um 10:30!"
    assert en["Subject"] == "Reminder of your appointment on 09 Dec 2026"  # still the built-in one


@pytest.mark.django_db
def test_a_template_is_checked_before_it_is_saved(clinic, clinic_admin, clinician):
    def save(channel="email", subject="Termin", body="Hallo {{ given_name }}", by=clinic_admin):
        return services.save_template(
            clinic=clinic, kind="check_in", channel=channel, language="de", subject=subject, body=body, by=by
        )

    with pytest.raises(ValidationError) as refused:
        save(body="Hallo {{ diagnosis }}")
    assert "Unknown placeholder {{ diagnosis }}" in str(refused.value)
    with pytest.raises(ValidationError, match="An e-mail needs a subject"):
        save(subject=" ")
    with pytest.raises(ValidationError, match="at most 459 characters"):
        save(channel="sms", body="x" * 460)
    with pytest.raises(PermissionDenied):
        save(by=clinician)
    assert MessageTemplate.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_edits_and_previews_a_template_on_the_page(client, clinic, clinic_admin):
    login_with_mfa(client, clinic_admin)
    listing = client.get("/messages/templates/")
    assert listing.status_code == 200 and "Erinnerung an Ihren Termin" in listing.content.decode()

    page = client.get(URL).content.decode()
    assert "Erinnerung an Ihren Termin am 09.12.2026" in page  # the preview with sample values

    preview = client.post(URL + "preview/", {"subject": "Bis bald, {{ given_name }}", "body": "{{ oops }}"})
    assert preview.status_code == 200
    shown = preview.content.decode()
    assert "Bis bald, Erika" in shown and "Unknown placeholder" in shown and "oops" in shown
    assert MessageTemplate.objects.count() == 0  # a preview stores nothing

    saved = client.post(URL, {"subject": "Bis bald", "body": "Hallo {{ given_name }}"})
    assert saved.status_code == 302
    template = MessageTemplate.objects.get()
    assert (template.language, template.subject, template.body) == (
        "de",
        "Bis bald",
        "Hallo {{ given_name }}",
    )

    refused = client.post(URL, {"subject": "Bis bald", "body": "Hallo {{ oops }}"})
    assert refused.status_code == 200 and "Unknown placeholder" in refused.content.decode()

    client.post(URL, {"reset": "1"})
    assert MessageTemplate.objects.count() == 0


@pytest.mark.django_db
def test_only_the_admin_reaches_the_templates(client, clinician):
    login_with_mfa(client, clinician)
    assert client.get("/messages/templates/").status_code == 403
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_the_api_edits_previews_and_resets_templates(api_as, clinic_admin, clinician):
    api = api_as(clinic_admin)
    listed = api.get("/message-templates").json()
    assert len(listed) == 6 * 2 * 2 and not any(t["customised"] for t in listed)

    key = {"kind": "check_in", "channel": "sms", "language": "en"}
    saved = api.put(
        "/message-templates", {**key, "body": "{{ clinic_name }}: how are you, {{ given_name }}?"}
    )
    assert saved.status_code == 200 and saved.json()["customised"] is True
    assert MessageTemplate.objects.get().body.endswith("how are you, {{ given_name }}?")
    bad = api.put("/message-templates", {**key, "body": "{{ nope }}"})
    assert bad.status_code == 422

    preview = api.post(
        "/message-templates/preview", {"channel": "sms", "body": "Hi {{ given_name }} {{ x }}"}
    )
    assert preview.json() == {"subject": "", "body": "Hi Erika {{ x }}", "unknown_placeholders": ["x"]}

    assert api.post("/message-templates/reset", key).status_code == 204
    assert MessageTemplate.objects.count() == 0
    assert api_as(clinician).put("/message-templates", {**key, "body": "x"}).status_code == 403


@pytest.mark.django_db
def test_the_messages_a_patient_asks_for_have_no_template_to_edit(client, clinic, clinic_admin):
    """The signed consent's e-mail and the intake link are worded around a document or a link by the
    code that sends them, translated like the pages: the admin's list offers every other kind."""
    from exoderm.messaging.models import TRANSACTIONAL_KINDS
    from exoderm.messaging.selectors import templates

    listed = {entry.kind for entry in templates(clinic)}
    assert listed == set(MessageKind.values) - set(TRANSACTIONAL_KINDS)
    login_with_mfa(client, clinic_admin)
    for kind in TRANSACTIONAL_KINDS:
        assert client.get(f"/messages/templates/{kind}/email/de/").status_code == 404
        with pytest.raises(ValidationError):
            services.save_template(
                clinic=clinic,
                kind=kind,
                channel="email",
                language="de",
                subject="S",
                body="B",
                by=clinic_admin,
            )
