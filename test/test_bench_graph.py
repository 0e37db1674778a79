"""The graph benchmark's smoke run: `--quick` with one actor measures every figure (real nodes,
real DDS) and writes them. Checks that the script still runs against the nodes, not speeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~30 s of real graph; `make bench` runs the full version
def test_quick_graph_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "results_graph.json"
    cmd = [sys.executable, "benchmarks/bench_graph.py", "--quick", "--actors", "1"]
    proc = subprocess.run(
        [*cmd, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())

    assert res["command"].startswith("python benchmarks/bench_graph.py --quick")
    assert res["machine"]["cpus"] > 0 and res["machine"]["python"]
    assert "commit" in res
    graph = res["graph"]["1"]
    figures = [
        res["inprocess"]["steps_per_s"],
        res["acting_one_state"]["one_state_us"],
        res["acting_one_state"]["torch_us"],
        res["dds_round_trip"]["round_trips_per_s"],
        res["dds_round_trip"]["p50_us"],
        res["dds_round_trip"]["p99_us"],
        res["weights_broadcast"]["payload_bytes"],
        res["weights_broadcast"]["p50_us"],
        res["weights_broadcast"]["p99_us"],
        graph["steps_per_s_per_actor"],
        graph["policy_latency_p50_us"],
        graph["policy_latency_p99_us"],
        graph["episodes_stored"],
        res["ratios"]["graph_vs_inprocess_steps_ratio"],
        res["ratios"]["graph_step_over_dds_round_trip"],
    ]
    assert all(x > 0 for x in figures), figures
    assert graph["exit_codes"] == {}  # every node stopped cleanly on Ctrl-C
    composed = res["graph_composed"]["1"]  # compose:=true, one process for the actor
    assert composed["steps_per_s_per_actor"] > 0 and composed["episodes_stored"] > 0
    assert composed["exit_codes"] == {}
    assert res["ratios"]["composed_vs_separate_total_steps_1_actors"] > 0
    dds_only = res["graph_composed_dds"]["1"]  # composed, without intra-process messages
    assert dds_only["episodes_stored"] > 0 and dds_only["exit_codes"] == {}
    assert res["ratios"]["intra_process_vs_dds_composed_steps_1_actors"] > 0
    shares = graph["cpu_share_per_process"]  # of one core, per process kind
    assert set(shares) == {"skill_policy", "safety_gate", "sim_bridge", "replay_recorder"}
    assert all(0 < v < 2 for v in shares.values()), shares
    assert set(composed["cpu_share_per_process"]) == {"actor_container", "replay_recorder"}
    assert 0 <= graph["cpu_stolen_share"] < 1  # the hypervisor's share of the machine's CPU
    assert graph["actor_cpu_us_per_step"] > 0
    idle = res["idle"]["cpu_share_per_process"]  # each node alone, with nothing to do
    assert set(idle) == {"replay_recorder", "learner", "sim_bridge", "safety_gate", "skill_policy"}
    assert all(0 <= v < 1 for v in idle.values()), idle
    assert "steps/s" in proc.stdout  # the table
