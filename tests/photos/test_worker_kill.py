"""A worker killed with SIGKILL in the middle of analyses: every photo still ends analysed exactly once."""

from __future__ import annotations

import signal
import time

import pytest

from tests.photos import _scenario

PHOTOS = 10


@pytest.mark.slow
def test_sigkilled_worker_leaves_every_photo_analysed_exactly_once(tmp_path):
    root = tmp_path / "site"
    ids = _scenario.prepare(root, PHOTOS, side=900)  # large enough to catch a worker inside an analysis
    assert len(ids) == PHOTOS

    first = _scenario.start_worker(root, "first")
    try:
        deadline = time.monotonic() + 180
        while True:  # kill it while it is inside an analysis, after it finished a few
            state = _scenario.status(root)
            if state["analyses"] >= 2 and state["running"] == 1:
                break
            assert first.poll() is None, (root / "first.log").read_text()
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    killed = _scenario.status(root)
    assert killed["finished"] < PHOTOS
    assert [t["status"] for t in killed["tasks"]].count("RUNNING") == 1  # the killed one, stuck

    workers = [_scenario.start_worker(root, "second"), _scenario.start_worker(root, "third")]
    try:
        final, _seconds = _scenario.wait_until_analysed(root, PHOTOS, timeout=300)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)

    assert {pk: p["analyses"] for pk, p in final["photos"].items()} == {str(pk): 1 for pk in ids}
    assert {p["status"] for p in final["photos"].values()} == {"done"}
    statuses = sorted((t["status"], t["exception_class_path"]) for t in final["tasks"])
    assert ("FAILED", "exoderm.photos.tasks.WorkerLost") in statuses
    assert all(s == "SUCCESSFUL" or c.endswith("WorkerLost") for s, c in statuses), statuses
    assert sum(1 for s, _c in statuses if s == "SUCCESSFUL") >= PHOTOS
    lost = [t for t in final["tasks"] if t["exception_class_path"].endswith("WorkerLost")]
    assert [t["worker_ids"] for t in lost] == [["first"]]


@pytest.mark.slow
def test_two_workers_racing_on_the_same_photos_store_each_result_once(tmp_path):
    root = tmp_path / "site"
    photos = 4
    ids = _scenario.prepare(root, photos, side=480)
    _scenario.run(root, "-m", "tests.photos._scenario", "requeue", str(root), "2")  # 3 tasks per photo
    workers = [_scenario.start_worker(root, "left"), _scenario.start_worker(root, "right")]
    try:
        deadline = time.monotonic() + 300
        while True:
            state = _scenario.status(root)
            if all(t["status"] in ("SUCCESSFUL", "FAILED") for t in state["tasks"]):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
    assert {pk: p["analyses"] for pk, p in state["photos"].items()} == {str(pk): 1 for pk in ids}
    outcomes = sorted(t["return_value"] for t in state["tasks"])
    assert len(outcomes) == 3 * photos and set(outcomes) <= {"analysed", "already analysed"}
    assert outcomes.count("analysed") == photos  # exactly one insert per photo won
