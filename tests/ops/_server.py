"""`exoderm serve` in its own process, for the tests of what operators see."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def exoderm_serve(
    tmp_path: Path, *, workers: int = 1, log: Path | None = None, **environment: str
) -> Iterator[str]:
    """Run `exoderm serve` with ``environment`` until the block ends; yields its base URL once
    `/healthz` answers. Its error output goes to ``log`` if given (a long run would fill the pipe
    that is read only when the server fails to start, and stall the server)."""
    port = free_port()
    env = {
        **os.environ,
        "EXODERM_DATA_DIR": str(tmp_path),
        "SECURE_COOKIES": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        **environment,
    }
    command = [sys.executable, "-m", "exoderm.cli", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb") if log else subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # a long timeout: a request the server received is never sent twice (metrics count it)
                urllib.request.urlopen(f"{base}/healthz", timeout=30).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else log
                assert time.monotonic() < deadline, "the server did not come up within a minute"
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
