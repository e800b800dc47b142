"""keep_freed_memory: a process that analyses photo after photo stops faulting its memory in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from exoderm.skinlab import keep_freed_memory

# Analyses the same phantom four times in a fresh process and prints the page faults of the last
# (the heap reaches its working size within the first two or three).
_SCRIPT = """
import json, resource, sys
from exoderm.skinlab import analyze, keep_freed_memory
from exoderm.skinlab.phantom import make_phantom

if sys.argv[1] == "keep":
    assert keep_freed_memory()
ph = make_phantom(shape=(1500, 2000), mm_per_px=0.05, seed=4)
for _ in range(3):
    analyze(ph.rgb, roi="full", mm_per_px=ph.mm_per_px)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
record = analyze(ph.rgb, roi="full", mm_per_px=ph.mm_per_px).to_dict()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "record": record}))
"""


def _second_analysis(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_kept_memory_is_not_faulted_in_again_and_results_are_the_same():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent

    default, kept = _second_analysis("default"), _second_analysis("keep")
    # with malloc's defaults every analysis faults in most of its arrays again
    assert default["faults"] > 1000, default["faults"]
    assert kept["faults"] < default["faults"] / 10, (kept["faults"], default["faults"])
    assert kept["record"] == default["record"]
