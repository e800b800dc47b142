"""The demo's outbox: a fortnight of sent messages, without an SMTP server, seeded once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exoderm.messaging.demo import seed_outbox
from exoderm.messaging.models import MessageStatus, OutboxMessage
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests.messaging._servers import free_port


@pytest.mark.django_db
def test_the_demo_outbox_is_sent_by_the_console_backends_once(clinic, settings):
    # even with SMTP configured (to a port where nobody listens) the demo writes to no server
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "use_tls": False, "timeout": 1},
        }
    }
    scene = factories.SessionScene(clinic)
    session = scene.record()
    five_days_ago = timezone.now() - dt.timedelta(days=5, hours=2)
    TreatmentSession.objects.filter(pk=session.pk).update(performed_at=five_days_ago)

    count = seed_outbox(clinic=clinic)

    statuses = sorted(OutboxMessage.objects.values_list("kind", "status"))
    assert count == len(statuses) >= 3
    assert {status for _kind, status in statuses} == {MessageStatus.SENT, MessageStatus.BOUNCED}
    assert {kind for kind, _status in statuses} >= {"aftercare_microneedling", "check_in"}
    assert seed_outbox(clinic=clinic) == 0
    assert OutboxMessage.objects.count() == count
