"""How a message leaves: e-mail through Django's mailer, SMS through a small gateway interface.

Each channel's ``send`` calls ``handing_over()`` right before the step after which the message may
have been delivered (the end of the SMTP DATA, the gateway's HTTP request), and raises:

- :class:`TemporaryFailure` when the message certainly was not accepted and a later attempt may
  succeed (connection refused, a 4xx reply of the SMTP server, a 5xx or 429 of the gateway);
- :class:`PermanentFailure` when it certainly was not accepted and never will be (an address the
  server refuses, a 4xx of the gateway);
- anything else (a connection lost while waiting for the reply) after ``handing_over()``: the
  outcome is unknown, and the caller must not send again (see :mod:`exoderm.messaging.delivery`).
"""

from __future__ import annotations

import email.policy
import json
import logging
import re
import smtplib
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

logger = logging.getLogger(__name__)


class TemporaryFailure(Exception):
    """Not accepted this time; a later attempt may succeed."""


class PermanentFailure(Exception):
    """Not accepted, and never will be (a refused address, a refused request)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


@dataclass(frozen=True)
class Outgoing:
    """What a channel sends: the message's id names it at the provider (Message-ID, reference).
    Attachments go with an e-mail only (the kinds that have one are sent by e-mail only)."""

    reference: str
    recipient: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


HandingOver = Callable[[], None]


# --- e-mail ---------------------------------------------------------------------------------------


_LINE_START_DOT = re.compile(rb"(?m)^\.")


def send_email(message: Outgoing, handing_over: HandingOver) -> str:
    """Send through the default mailer (``MAILERS``: SMTP when ``EMAIL_HOST`` is set, else the log).

    With SMTP the transaction is driven here, step by step, so that ``handing_over`` runs after
    the whole text went to the server and before the final ``.`` that asks it to take the message:
    until then a lost connection makes the server drop it. Returns the Message-ID.
    """
    message_id = make_msgid(idstring=message.reference, domain="exoderm")
    mail = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
    )
    for attachment in message.attachments:
        mail.attach(attachment.filename, attachment.content, attachment.mimetype)
    connection = mailers.default
    if not isinstance(connection, SmtpBackend):
        # console, file or memory backends (demo, development): nothing can be half-delivered
        handing_over()
        connection.send_messages([mail])
        return message_id
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        raise TemporaryFailure(f"SMTP server not reachable: {error}") from error
    smtp = connection.connection
    assert smtp is not None
    completed = False
    try:
        _transaction(connection, smtp, mail, handing_over)
        completed = True
    finally:
        if completed:
            try:
                connection.close()
            except Exception:  # the message's fate is decided; a failing QUIT changes nothing
                logger.debug("closing the SMTP connection failed", exc_info=True)
        else:
            # Stopped inside the transaction (perhaps inside DATA, where a QUIT would be read as
            # text): drop the connection, and the server drops the unfinished message with it.
            smtp.close()
            connection.connection = None
    return message_id


def _transaction(
    connection: SmtpBackend, smtp: smtplib.SMTP, mail: EmailMessage, handing_over: HandingOver
) -> None:
    sender = connection.prep_address(mail.from_email)
    recipients = [connection.prep_address(address) for address in mail.recipients()]
    text = mail.message(policy=email.policy.SMTP).as_bytes()
    try:
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(sender, ["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else [])
        _refused(code, reply, "MAIL FROM")
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            _refused(code, reply, f"RCPT TO {recipient}")
        code, reply = smtp.docmd("DATA")
        if code != 354:
            _refused(code, reply, "DATA")
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
        smtp.send(_LINE_START_DOT.sub(b"..", text))
    except (OSError, smtplib.SMTPServerDisconnected) as error:
        raise TemporaryFailure(f"SMTP connection lost before the message was complete: {error}") from error
    handing_over()
    smtp.send(b".\r\n")  # from here on, the server may have taken the message
    code, reply = smtp.getreply()
    if code != 250:
        _refused(code, reply, "end of DATA")


def _refused(code: int, reply: bytes, step: str) -> None:
    if 200 <= code < 300:
        return
    text = f"{step}: {code} {reply.decode(errors='replace')}"
    raise (PermanentFailure(text) if 500 <= code < 600 else TemporaryFailure(text))


# --- SMS -----------------------------------------------------------------------------------------


class SmsGateway(Protocol):
    def send(self, message: Outgoing, handing_over: HandingOver) -> str:
        """Send one SMS; returns the provider's reference."""
        ...


class ConsoleSmsGateway:
    """For the demo and development: the SMS is written to the log and, with ``SMS_FILE``, appended
    to that file as one JSON line."""

    def send(self, message: Outgoing, handing_over: HandingOver) -> str:
        handing_over()
        logger.info("SMS to %s: %s", message.recipient, message.body)
        if settings.SMS_FILE:
            with Path(settings.SMS_FILE).open("a", encoding="utf-8") as file:
                record = {"reference": message.reference, "to": message.recipient, "text": message.body}
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
        return f"console-{message.reference}"


class HttpSmsGateway:
    """A common HTTP SMS gateway API: ``POST SMS_GATEWAY_URL`` with a JSON body
    ``{"to", "from", "text", "reference"}``, ``Authorization: Bearer SMS_GATEWAY_TOKEN`` and an
    ``Idempotency-Key`` (the message's reference: a gateway that honours it drops a repeat);
    a 2xx answer accepts the message, its JSON ``id`` (or ``message_id``) is the provider's reference.
    """

    def __init__(self, *, url: str, token: str, sender: str, timeout: float) -> None:
        self.url, self.token, self.sender, self.timeout = url, token, sender, timeout

    def send(self, message: Outgoing, handing_over: HandingOver) -> str:
        body = json.dumps(
            {
                "to": message.recipient,
                "from": self.sender,
                "text": message.body,
                "reference": message.reference,
            }
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": message.reference,
            },
        )
        handing_over()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = response.read()
        except urllib.error.HTTPError as error:
            text = f"SMS gateway answered {error.code}: {error.read(500).decode(errors='replace')}"
            # an error answer means the gateway did not take the message
            if error.code == 429 or error.code >= 500:
                raise TemporaryFailure(text) from error
            raise PermanentFailure(text) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError | socket.gaierror):
                raise TemporaryFailure(f"SMS gateway not reachable: {error.reason}") from error
            raise
        try:
            data = json.loads(answer or b"{}")
        except ValueError:
            data = {}
        reference = data.get("id") or data.get("message_id") if isinstance(data, dict) else None
        return str(reference or "")


def sms_gateway() -> SmsGateway:
    """The gateway ``SMS_BACKEND`` names: ``console`` (default) or ``http``."""
    if settings.SMS_BACKEND == "http":
        return HttpSmsGateway(
            url=settings.SMS_GATEWAY_URL,
            token=settings.SMS_GATEWAY_TOKEN,
            sender=settings.SMS_SENDER,
            timeout=settings.SMS_TIMEOUT,
        )
    return ConsoleSmsGateway()
