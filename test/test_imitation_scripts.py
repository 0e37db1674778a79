"""scripts/clone_demos.py and scripts/dagger_jaco.py, as a user runs them (in a subprocess, from
the repository root): what they write, and a clear refusal of a store that is not one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = "config/jaco_push_lift_imitation.yaml"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_dagger_labels_the_expert_round_and_evaluates(tmp_path):
    out = tmp_path / "dagger.json"
    done = _run(
        "scripts/dagger_jaco.py", "--config", CONFIG, "--rounds", "1", "--episodes", "1",
        "--updates", "5", "--eval-episodes", "1", "--standardize", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["standardized"] and result["command"].startswith("python scripts/dagger_jaco")
    # One episode of 200 steps per task and round, every visited state labelled and kept.
    assert [r["labelled_states"] for r in result["rounds"]] == [400, 800]
    assert set(result["rounds"][-1]["success_and_return"]) == {"push", "lift"}


def test_cloning_refuses_a_store_that_is_not_one(tmp_path):
    done = _run("scripts/clone_demos.py", "--config", CONFIG, "--demos", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: train.demos:") and str(tmp_path) in done.stderr
