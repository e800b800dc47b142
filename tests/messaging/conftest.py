"""Fixtures of the message tests: a real SMTP server and a real HTTP SMS gateway on the loopback."""

from __future__ import annotations

import pytest

from tests.messaging._servers import SmsGatewayServer, SmtpServer


@pytest.fixture
def smtp(settings):
    """An SMTP server on the loopback that the default mailer sends to; ``smtp.recorder.received``."""
    with SmtpServer() as server:
        settings.MAILERS = server.mailers()
        settings.DEFAULT_FROM_EMAIL = "Hautzentrum <praxis@hautzentrum.example>"
        yield server


@pytest.fixture
def sms_gateway(settings):
    """An HTTP SMS gateway on the loopback configured as ``SMS_BACKEND=http``."""
    with SmsGatewayServer() as gateway:
        settings.SMS_BACKEND = "http"
        settings.SMS_GATEWAY_URL = gateway.url
        settings.SMS_GATEWAY_TOKEN = "test-gateway-key"
        settings.SMS_SENDER = "Hautzentrum"
        yield gateway
