"""The demo benchmark's smoke run: a short budget through the graph and in process, each timed
and each with its periodic evaluation in summary.json. Checks the script runs, not speeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~40 s: a 4 k-step graph and in-process run; `make bench` runs 120 k
def test_short_demo_benchmark_times_both_and_reads_their_evaluations(tmp_path):
    out = tmp_path / "results_demo.json"
    cmd = [sys.executable, "benchmarks/bench_demo.py", "--env-steps", "4000"]
    proc = subprocess.run(
        [*cmd, "--out", str(out), "--logs", str(tmp_path / "runs")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["command"].startswith("python benchmarks/bench_demo.py --env-steps 4000")
    assert res["env_steps"] == 4000 and res["eval_every"] == 1000
    assert res["graph_minutes"] > 0 and res["in_process_minutes"] > 0
    ratio = res["graph_minutes"] / res["in_process_minutes"]
    assert res["graph_vs_in_process_wall"] == pytest.approx(ratio, rel=0.1)  # minutes rounded
    for side in ("graph", "in_process"):
        assert list(res[f"{side}_env_steps_to_solutions"]) == ["t0_any"]
        summary = json.loads((tmp_path / "runs" / side / "summary.json").read_text())
        assert summary["periodic_eval"]["points"] >= 1
