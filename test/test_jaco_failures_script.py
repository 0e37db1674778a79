"""scripts/jaco_failures.py: its shares on episodes built by hand, and a run as a user runs it
(the success it prints is the evaluation's for the same episodes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from skill_embedding_ros.tasks.jaco.observations import OBS_DIM, SLICES
from test.script_modules import load_script

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "results/runs/jaco_pretrain_from_dagger_embedding_seed2"


def _script():
    return load_script("jaco_failures")


def test_each_failure_is_counted_where_it_belongs():
    steps = 10
    obs = np.zeros((5, steps + 1, OBS_DIM))
    obs[:, :, SLICES["block_position"]] = (0.5, 0.0, 0.02)
    obs[1, 5:, SLICES["block_position"].start + 2] = 0.1  # lifted, never reached the goal
    obs[2, 5:, SLICES["block_position"].start] = 0.52  # pushed 2 cm, never reached
    visits = -np.ones((5, steps), dtype=int)
    visits[3, 2:6] = 0  # reached, then left
    visits[4, 8:] = 0  # reached late, ends inside too briefly
    outcome = -np.ones(5, dtype=int)
    shares = _script().failures(obs, visits, outcome)
    assert shares["success"] == 0.0
    assert shares["never_reached"] == 0.6
    assert shares["never_reached_block_not_lifted"] == 0.4  # episodes 0 and 2
    assert shares["never_reached_block_not_moved"] == 0.2  # episode 0
    assert shares["left_after_reaching"] == 0.2
    assert shares["reached_in_second_half"] == 0.2
    assert shares["ends_inside_too_briefly"] == 0.2


def test_a_run_prints_the_evaluations_success(tmp_path):
    out = tmp_path / "failures.json"
    done = subprocess.run(
        [sys.executable, "scripts/jaco_failures.py", str(RUN), "--tasks", "lift",
         "--episodes", "4", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["env_steps"] and "jaco_failures.py" in report["command"]
    assert 0.0 <= report["lift"]["success"] <= 1.0
    assert report["lift"]["success"] + report["lift"]["never_reached"] <= 1.0


def test_a_task_the_run_lacks_is_refused():
    done = subprocess.run(
        [sys.executable, "scripts/jaco_failures.py", str(RUN), "--tasks", "rail_push"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and "rail_push" in done.stderr
