"""Real servers on the loopback for the message tests: an SMTP server (aiosmtpd) and an HTTP SMS
gateway, each recording what it received and able to refuse, fail or stall on request."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpRecorder:
    """The SMTP server's handler: every message taken (at the end of DATA) is in ``received``.

    ``refuse_rcpt`` answers RCPT with that reply; ``fail_data`` answers that many DATA with 451;
    ``hold_at`` ("RCPT" or "DATA") stalls the session there once ``received`` holds ``hold_after``
    messages, sets ``held`` and waits for ``release`` (at DATA, after the message was taken).
    """

    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []
        self.refuse_rcpt = ""
        self.fail_data = 0
        self.hold_at = ""
        self.hold_after = 0
        self.held = threading.Event()
        self.release = threading.Event()

    async def _hold(self, step: str) -> None:
        if self.hold_at == step and len(self.received) >= self.hold_after and not self.held.is_set():
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        await self._hold("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_data > 0:
            self.fail_data -= 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(message)  # type: ignore[arg-type]
        await self._hold("DATA")
        return "250 OK"

    def outbox_ids(self) -> list[int]:
        """The outbox row of each message received, from its Message-ID (``<...exoderm-ID@exoderm>``)."""
        return [int(re.search(r"exoderm-(\d+)@", str(m["Message-ID"])).group(1)) for m in self.received]  # type: ignore[union-attr]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = SmtpRecorder()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.recorder.release.set()
        self.controller.stop()

    def mailers(self) -> dict[str, Any]:
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port, "use_tls": False, "timeout": 10},
            }
        }


@dataclass
class SmsRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class SmsGatewayServer:
    """An HTTP SMS gateway: records each POST; answers with the next of ``answers`` (status, body),
    then 201 ``{"id": "gw-N"}``."""

    requests: list[SmsRequest] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def __enter__(self) -> SmsGatewayServer:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                gateway.requests.append(
                    SmsRequest(self.path, dict(self.headers.items()), json.loads(self.rfile.read(length)))
                )
                status, body = (
                    gateway.answers.pop(0)
                    if gateway.answers
                    else (201, {"id": f"gw-{len(gateway.requests)}"})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1/messages"
