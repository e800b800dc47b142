"""A worker killed with SIGKILL in the middle of sending: afterwards every message was received by
the SMTP server once, not twice, and none is lost (see exoderm.messaging.delivery)."""

from __future__ import annotations

import collections
import signal
import time

import pytest

from tests.messaging import _scenario
from tests.messaging._servers import SmtpServer
from tests.photos._scenario import start_worker

MESSAGES = 6


@pytest.fixture
def smtp_for_workers(monkeypatch):
    """The SMTP server the worker processes send to (their settings come from the environment)."""
    with SmtpServer() as server:
        monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
        monkeypatch.setenv("EMAIL_PORT", str(server.port))
        monkeypatch.setenv("EMAIL_USE_TLS", "0")
        monkeypatch.setenv("MESSAGE_LEASE_SECONDS", "600")  # recovery must come from the dead pid
        yield server


def _kill_while_held(root, smtp, *, step: str, after: int):
    """Start a worker, let it send ``after`` messages, hold the next at ``step`` and SIGKILL it there."""
    smtp.recorder.hold_at, smtp.recorder.hold_after = step, after
    first = start_worker(root, "first")
    try:
        assert smtp.recorder.held.wait(120), (root / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    smtp.recorder.release.set()  # the server notices the connection is gone
    state = _scenario.status(root)
    assert [m["status"] for m in state["messages"].values()].count("sending") == 1  # the killed one
    return state


def _finish_with_a_new_worker(root, done):
    second = start_worker(root, "second")
    try:
        deadline = time.monotonic() + 120
        while True:
            state = _scenario.status(root)
            if done(state):
                return state
            assert second.poll() is None, (root / "second.log").read_text()
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)


@pytest.mark.slow
def test_killed_before_handing_over_the_message_is_sent_by_the_next_worker_once(tmp_path, smtp_for_workers):
    root = tmp_path / "site"
    ids = _scenario.prepare(root, MESSAGES)
    _kill_while_held(root, smtp_for_workers, step="RCPT", after=2)

    final = _finish_with_a_new_worker(
        root, lambda s: all(m["status"] == "sent" for m in s["messages"].values())
    )

    received = collections.Counter(smtp_for_workers.recorder.outbox_ids())
    assert received == {pk: 1 for pk in ids}  # each once: none lost, none twice
    assert sorted(m["attempts"] for m in final["messages"].values()) == [1] * (MESSAGES - 1) + [2]
    lost = [t for t in final["tasks"] if t["exception_class_path"].endswith("WorkerLost")]
    assert [(t["status"], t["worker_ids"]) for t in lost] == [("FAILED", ["first"])]


@pytest.mark.slow
def test_killed_after_handing_over_the_message_is_unconfirmed_and_not_sent_again(tmp_path, smtp_for_workers):
    root = tmp_path / "site"
    ids = _scenario.prepare(root, MESSAGES)
    # the server took the third message and the worker dies before it hears the server's "250"
    _kill_while_held(root, smtp_for_workers, step="DATA", after=3)
    held = smtp_for_workers.recorder.outbox_ids()[2]

    final = _finish_with_a_new_worker(
        root, lambda s: all(m["status"] in ("sent", "unconfirmed") for m in s["messages"].values())
    )
    time.sleep(1)  # a second chance to send it twice, if the code were wrong

    received = collections.Counter(smtp_for_workers.recorder.outbox_ids())
    assert received == {pk: 1 for pk in ids}
    statuses = {pk: m["status"] for pk, m in _scenario.status(root)["messages"].items()}
    assert statuses == {pk: "unconfirmed" if pk == held else "sent" for pk in ids}
    assert final["messages"][held]["attempts"] == 1
