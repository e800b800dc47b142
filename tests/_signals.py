"""Children that a test stops with SIGINT, as Ctrl-C would."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child the test interrupts: SIGINT back to its default, so that Python
    turns it into KeyboardInterrupt. A test run started as a background job (``make test &``, a CI
    script under nohup) inherits SIGINT ignored, and the child would run on to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
