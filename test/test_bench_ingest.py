"""The ingest benchmark's smoke run (`--quick`: small bags, one repeat): every bag ingests, and
each figure is what its parts say. Checks the script runs, not speeds (those are in
benchmarks/results_ingest.json, from a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_quick_ingest_benchmark_times_each_bag_beside_a_plain_read(tmp_path):
    out = tmp_path / "results_ingest.json"
    cmd = [sys.executable, "benchmarks/bench_ingest.py", "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["command"] == f"python benchmarks/bench_ingest.py --quick --out {out}"
    assert {"cpus", "torch"} <= set(res["machine"])
    for key in ("records_bag", "robot_bag", "robot_bag_10x"):
        bag = res[key]
        assert bag["transitions"] > 0 and bag["messages"] > bag["transitions"], key
        ratio = bag["ingest_s"] / bag["plain_read_s"]
        assert bag["ingest_time_over_plain_read"] == pytest.approx(ratio, rel=0.05, abs=0.01)
    assert res["robot_bag_10x"]["transitions"] == 10 * res["robot_bag"]["transitions"]
    for kind in ("records", "robot"):
        small, large = res[f"peak_memory_{kind}"]
        assert small["code"] == large["code"] == 0
        assert large["transitions"] == 10 * small["transitions"]
        for run in (small, large):
            assert 0 <= run["of_it_joint_limits_mb"] <= run["ingest_added_mb"]
    # The robot pipeline's constant is there whatever the bag: MuJoCo and the suite's model.
    assert res["peak_memory_robot"][0]["of_it_joint_limits_mb"] > 5
    assert res["peak_memory_records"][0]["of_it_joint_limits_mb"] == 0


def test_ingest_profile_names_each_stage_and_the_whole():
    """profile_ingest.py reaches into the pipeline's stages one by one: this keeps it running
    as they change (its figures are for reading, not asserting)."""
    cmd = [sys.executable, "benchmarks/profile_ingest.py", "--episodes", "20", "--repeats", "1"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1200 control steps" in proc.stdout
    for stage in ("read", "digest", "decode", "align", "records", "write", "whole ingest"):
        assert f"\n  {stage}" in proc.stdout, stage


def test_ingest_digests_are_the_same_bytes_run_again_and_tell_damage_apart():
    """scripts/ingest_digests.py is compared across checkouts byte for byte: its output must
    not vary between runs of the same code, and must see what the ingest stores."""
    cmd = [sys.executable, "scripts/ingest_digests.py", "--episodes", "2"]
    runs = [subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)]
    runs.append(subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300))
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-3000:]
    assert runs[0].stdout == runs[1].stdout
    out = json.loads(runs[0].stdout)
    assert len(out) == 2 * 7 * 2 * 2
    clean, fast = out["push/clean/None/1"], out["push/fast/None/1"]
    assert clean["records"] > 0 and clean["sha256"] != fast["sha256"]  # the clipped commands
    assert out["push/non_finite/None/1"]["counts"]["non_finite"] > 0
