"""The message pages in Chromium: the admin edits a template and sees the preview change while
typing (HTMX), the patient page loads its messages panel, the outbox; no CSP violation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.messaging import services
from exoderm.messaging.models import MessageKind, MessageStatus, MessageTemplate, OutboxMessage
from tests import factories
from tests._browser import shot
from tests.signin import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_template_preview_patient_panel_and_outbox_in_the_browser(browser_page, live_server):
    page, url = browser_page, live_server.url
    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin", language="en")
    patient = factories.PatientFactory(clinic=clinic, identity__family_name="Größmann")
    email, sms = services.queue_for_patient(
        patient=patient, kind=MessageKind.VISIT_REMINDER, about="visit:1",
        at=timezone.now() + dt.timedelta(days=2),
    )  # fmt: skip
    OutboxMessage.objects.filter(pk=email.pk).update(status=MessageStatus.SENT, sent_at=timezone.now())
    OutboxMessage.objects.filter(pk=sms.pk).update(status=MessageStatus.UNCONFIRMED)

    login_in_browser(page, url, admin)
    page.goto(f"{url}/messages/templates/visit_reminder/email/en/")
    page.fill("#id_subject", "See you soon, {{ given_name }}")
    page.fill("#id_body", "Dear {{ given_name }}, until {{ date }} at {{ clinic_name }}. {{ oops }}")
    preview = page.locator("#preview")
    preview.get_by_text("See you soon, Erika").wait_for()
    assert "until 09 Dec 2026 at Hautzentrum Mitte" in preview.inner_text()
    assert "Unknown placeholder" in preview.inner_text()
    shot(page, "message-template-preview")
    page.fill("#id_body", "Dear {{ given_name }}, see you on {{ date }} at {{ time }}.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{url}/messages/templates/")
    assert MessageTemplate.objects.get().subject == "See you soon, {{ given_name }}"

    page.goto(f"{url}/messages/")
    assert "Größmann" in page.inner_text("main")
    shot(page, "messages-outbox")
    page.get_by_role("link", name="Send again").click()  # asks first: a resend reaches the patient again
    page.get_by_text("by SMS to").wait_for()
    page.get_by_role("button", name="Send again").click()
    page.get_by_text("The message is queued again.").wait_for()

    page.goto(f"{url}/patients/{patient.pk}/")
    panel = page.locator("#patient-messages")
    panel.get_by_text("Reminder before a visit").first.wait_for()
    assert "Queued" in panel.inner_text() and "Sent" in panel.inner_text()  # queued again
    # each opt-out's box stands before its words, on their line, as every other checkbox
    opt_out = panel.get_by_label("No messages by SMS")
    words = panel.locator("label", has_text="No messages by SMS")
    assert abs(opt_out.bounding_box()["y"] - words.bounding_box()["y"]) < words.bounding_box()["height"]
    opt_out.check()
    panel.get_by_role("button", name="Save message preferences").click()
    page.get_by_text("Message preferences saved.").wait_for()
    patient.identity.refresh_from_db()
    assert patient.identity.sms_opt_out is True
    page.check_clean()
