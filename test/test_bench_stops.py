"""The safety-figures benchmark's smoke run: three stops of each kind through the emulated arm,
the driver and the gate (real processes, real DDS) are measured and written. Checks that the
script runs against the nodes; the figures themselves come from `make bench`
(benchmarks/results_stops.json: 100 of each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~40 s of real graph
def test_quick_stops_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "results_stops.json"
    cmd = [sys.executable, "benchmarks/bench_stops.py", "--trials", "3", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["command"] == "python benchmarks/bench_stops.py --trials 3 --out " + str(out)
    assert res["link"]["rate"] == 500.0 and res["promise_ms"] == 100.0
    for kind in ("deadman_release", "policy_silence", "stale_states"):
        figures = res[kind]
        assert figures["trials"] == 3 and 0 <= figures["within_two_periods"] <= 3
        assert 0 < figures["p50_ms"] <= figures["max_ms"] < 5000
