"""Transfer on the arm: the same command as the point mass's (`skill-embedding transfer`) trains
a high-level policy over frozen Jaco skills for the paper's arm transfer tasks (rail-push by the
embedding, L-wall by task selection; spring-wall is a walled scene like L-wall), and `evaluate`
runs its checkpoint in a fresh process. Whether it solves them needs skills that solve their
pre-training tasks first (docs/jaco_pretraining.md)."""

import json
import subprocess
import sys

import pytest
import torch

from skill_embedding_ros.cli import main
from skill_embedding_ros.ros.processes import REPO
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint
from skill_embedding_ros.transfer.model import load_transfer
from skill_embedding_ros.transfer.skills import load_skills
from skill_embedding_ros.transfer.train import CHECKPOINT


@pytest.fixture(scope="module")
def skills(tmp_path_factory):
    path = tmp_path_factory.mktemp("skills") / "policy.safetensors"
    return untrained_checkpoint("jaco_velocity_smoke.yaml", path)


@pytest.mark.parametrize(("task", "method"), [("rail_push", "embedding"), ("l_wall", "selection")])
def test_an_arm_transfer_trains_over_frozen_skills_and_evaluates(skills, tmp_path, task, method):
    out = tmp_path / "run"
    args = ["transfer", "--skills", str(skills), "--task", task, "--method", method]
    args += ["--env-steps", "400", "--hold", "10", "--episodes", "1", "--out", str(out)]
    args += ["--set", "envs=2", "--set", "batch=8", "--set", "warmup_steps=200", "--quiet"]
    assert main(args) == 0
    model, _, meta = load_transfer(out / CHECKPOINT)
    assert meta["task"] == task and meta["env_steps"] >= 400
    # The skills in the transfer checkpoint are the pre-trained ones, bit for bit.
    frozen, kept = load_skills(skills).state(), model.skills.state()
    assert frozen and kept.keys() == frozen.keys()
    assert all(torch.equal(v, kept[k]) for k, v in frozen.items())
    result = subprocess.run(
        [sys.executable, "-m", "skill_embedding_ros.cli", "evaluate", str(out), "--episodes", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "eval.json").read_text())
    assert report["agent"].startswith(f"transfer ({method})")
    assert [row["task"] for row in report["per_task"]] == [task]
