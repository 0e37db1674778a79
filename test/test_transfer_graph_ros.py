"""Transfer through the ROS 2 graph (docs/transfer.md, "Through the graph"): `train_sim` with a
transfer run file trains a high-level policy over frozen skills from the store, as separate
processes over DDS, and `evaluate_sim` runs the transfer checkpoint it wrote. A graph whose
bridges simulate another suite than the transfer run's is refused before anything starts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.launch.graph import GraphError, find_graph, load_graph
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, ros_env
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint
from skill_embedding_ros.transfer.model import load_transfer
from skill_embedding_ros.transfer.skills import load_skills

SKILLS = """
agent: {embedding: gaussian, z_dim: 2, hidden: [16], critic_hidden: [16]}
train: {suite: reach, tasks: [goal_0, goal_1, goal_2]}
"""
HOLD, STEPS = 10, 300


@pytest.fixture
def run_file(tmp_path):
    (tmp_path / "skills.yaml").write_text(SKILLS)
    untrained_checkpoint(tmp_path / "skills.yaml", tmp_path / "skills.safetensors")
    path = tmp_path / "transfer.yaml"
    path.write_text(
        f"skills: {tmp_path / 'skills.safetensors'}\nsuite: reach_transfer\ntask: sequence\n"
        f"transfer: {{hold: {HOLD}, hidden: [16], critic_hidden: [16], batch: 4, segment: 3,"
        f" warmup_steps: 50, env_steps: {STEPS}, log_every: 100}}\n"
    )
    return path


def launch(domain, *args: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "launch", *args]
    probe = Probe(domain)  # keeps the domain's discovery warm, as the other graph tests do
    try:
        return subprocess.run(
            cmd, env=ros_env(domain), cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
    finally:
        probe.close()


def test_a_graph_for_another_suite_is_refused(run_file):
    with pytest.raises(GraphError, match="pass suite:=reach_transfer"):
        load_graph(find_graph("train_sim")).resolve({"transfer": str(run_file)})


def test_transfer_trains_through_the_graph_and_evaluates_there(run_file, tmp_path):
    domain = fresh_domain()
    run_dir = tmp_path / "run"
    result = launch(
        domain,
        "train_sim",
        "actors:=1",
        f"transfer:={run_file}",
        "suite:=reach_transfer",
        f"run_dir:={run_dir}",
        timeout=150,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "with a high-level policy (embedding, z held 10 steps) over frozen skills" in log
    assert "learning a transfer to reach_transfer ['sequence']" in log

    # The actor recorded low-level episodes of the transfer suite, z held K steps.
    episodes = StoreReader(run_dir / "store").new_episodes()
    assert sum(len(e) for e in episodes) >= STEPS
    for ep in episodes:
        assert ep.obs.shape[1] == 5 and ep.task == 0 and len(ep) == 50
        held = ep.z.reshape(-1, HOLD, ep.z.shape[1])
        assert np.array_equal(held, np.repeat(held[:, :1], HOLD, 1))

    # The learner wrote a transfer checkpoint; the skills in it are the ones it was given.
    model, _, meta = load_transfer(run_dir / "checkpoint.safetensors")
    assert meta["env_steps"] >= STEPS and meta["updates"] > 0 and meta["task"] == "sequence"
    given = load_skills(tmp_path / "skills.safetensors").state()
    assert all(torch.equal(given[k], v) for k, v in model.skills.state().items())

    result = launch(
        domain,
        "evaluate_sim",
        f"checkpoint:={run_dir / 'checkpoint.safetensors'}",
        "suite:=reach_transfer",
        "episodes:=2",
        timeout=120,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "evaluate reach_transfer tasks ['sequence'] with a high-level policy" in log
    assert log.count("task sequence: return") == 2, log[-3000:]
