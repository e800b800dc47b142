"""Workers on two hosts share one queue and one photo volume: every photo is analysed exactly once,
also when one host's worker dies mid-analysis and only the other host can take over.

The hosts are real to the workers: each runs in its own UTS namespace with its own host name (so a
worker cannot look up the other's process and must rely on the lease), in its own working
directory. Creating the namespaces needs root, which CI has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.photos import _scenario

PHOTOS = 8
LEASE_SECONDS = "8"


def start_worker_on_host(root: Path, host: str) -> subprocess.Popen[bytes]:
    return _scenario.start_worker_on_host(root, host, PHOTO_ANALYSIS_LEASE_SECONDS=LEASE_SECONDS)


@pytest.mark.slow
def test_two_hosts_analyse_each_photo_once_and_take_over_a_dead_hosts_photo(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("host names of their own need a UTS namespace, which needs root (CI runs as root)")
    root = tmp_path / "site"
    ids = _scenario.prepare(root, PHOTOS, side=900)
    host_a = start_worker_on_host(root, "host-a")
    host_b = None
    try:
        deadline = time.monotonic() + 180
        while True:  # host-a dies inside an analysis, after it finished one
            state = _scenario.status(root)
            if state["analyses"] >= 1 and state["running"] == 1:
                break
            assert host_a.poll() is None, (root / "host-a.log").read_text()
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        host_a.send_signal(signal.SIGKILL)
        host_a.wait()
        # A worker looks for stalled tasks when it starts one (then at most every 30 s): host-b starts
        # after host-a's lease is over, so its first task finds the photo host-a left behind.
        time.sleep(float(LEASE_SECONDS) + 1)
        host_b = start_worker_on_host(root, "host-b")
        final, _seconds = _scenario.wait_until_analysed(root, PHOTOS, timeout=300)
    finally:
        for worker in (host_a, host_b):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)

    assert {pk: p["analyses"] for pk, p in final["photos"].items()} == {str(pk): 1 for pk in ids}
    assert {p["status"] for p in final["photos"].values()} == {"done"}
    lost = [t for t in final["tasks"] if t["exception_class_path"].endswith("WorkerLost")]
    assert [t["worker_ids"] for t in lost] == [["host-a"]]  # found by host-b through the lease alone
    successful = [t for t in final["tasks"] if t["status"] == "SUCCESSFUL"]
    assert {w for t in successful for w in t["worker_ids"]} == {"host-a", "host-b"}
