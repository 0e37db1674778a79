"""scripts/clone_demos.py, scripts/dagger_jaco.py and scripts/swap_embedding.py, as a user runs
them (in a subprocess, from the repository root): what they write, and a clear refusal of a store
that is not one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from skill_embedding_ros.agent.checkpoint import ACTOR, read_checkpoint
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import (
    build_networks,
    start_learner_from,
)
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.training.evaluate import kl_matrix
from skill_embedding_ros.training.trainer import hold_steps

REPO = Path(__file__).resolve().parents[1]
CONFIG = "config/jaco_push_lift_imitation.yaml"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_dagger_labels_the_expert_round_and_evaluates(tmp_path):
    out = tmp_path / "dagger.json"
    # The six-task config narrowed to a pair by --set, as the per-pair pre-training runs it.
    six, pair = "config/jaco_pretrain_dagger.yaml", "train.tasks=[push, lift]"
    done = _run(
        "scripts/dagger_jaco.py", "--config", six, "--set", pair, "--rounds", "1",
        "--episodes", "1", "--updates", "5", "--eval-episodes", "1", "--standardize", "--fit-std",
        "--out", str(out),
        "--checkpoint", str(tmp_path / "dagger.safetensors"), "--hidden", "32", "32",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["standardized"] and result["fit_std"] and result["policy_hidden"] == [32, 32]
    errors = result["rounds"][-1]["loss_per_task"]
    assert set(errors) == {"push", "lift"} and all(0 < e < 4 for e in errors.values())
    assert result["command"].startswith("python scripts/dagger_jaco")
    # One episode of 200 steps per task and round, every visited state labelled and kept.
    assert [r["labelled_states"] for r in result["rounds"]] == [400, 800]
    assert set(result["rounds"][-1]["success_and_return"]) == {"push", "lift"}
    # The last round's policy, as a checkpoint a reinforcement-learning run starts from: its
    # policy acts with the statistics of the expert round, and its critics start fresh.
    tensors, meta = read_checkpoint(tmp_path / "dagger.safetensors")
    assert meta["kind"] == ACTOR and meta["config"]["agent"]["normalize"] is True
    assert meta["config"]["train"]["tasks"] == ["push", "lift"]
    assert float(tensors["nets.policy.obs_norm.count"]) == 400
    cfg = load_run_config(six, [pair, "agent.hidden=[32, 32]"])
    learner = Learner(build_networks(cfg), hold_steps(cfg))
    # No FRESH_CRITICS warning: this config's anchor holds the policy near the one it loads.
    assert start_learner_from(learner, tmp_path / "dagger.safetensors") == ""
    policy, anchor = learner.nets.policy.state_dict(), learner.nets.anchor.state_dict()
    for name, value in policy.items():
        assert torch.equal(value, tensors[f"nets.policy.{name}"]), name
        assert torch.equal(anchor[name], value), name


def test_the_spread_of_the_committed_imitation_policy(tmp_path):
    policy = "results/jaco_dagger_policy.safetensors"
    done = _run("scripts/policy_spread.py", policy, "--task", "lift")
    assert done.returncode == 0, done.stderr[-3000:]
    spread = [float(s) for s in done.stdout.split()]
    # Nine action dimensions; imitation left the deviations untrained, some of them wide.
    assert len(spread) == 9 and min(spread) > 0 and max(spread) > 2, spread
    refused = _run("scripts/policy_spread.py", policy, "--task", "stack")
    assert refused.returncode == 2 and "not one of the checkpoint's tasks" in refused.stderr


def _clone_demos():
    spec = importlib.util.spec_from_file_location("clone_demos", REPO / "scripts/clone_demos.py")
    clone_demos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clone_demos)
    return clone_demos


def test_the_fitted_spread_is_the_residual_of_the_mean():
    clone_demos = _clone_demos()
    spread, generator = torch.tensor([0.1, 0.3, 0.6]), torch.Generator().manual_seed(0)
    mean = torch.zeros(20_000, 3, requires_grad=True)
    expert = torch.tanh(spread * torch.randn(20_000, 3, generator=generator))
    log_std = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([log_std], lr=0.05)
    for _ in range(600):
        optimizer.zero_grad()
        clone_demos.std_loss(mean, log_std, expert).backward()
        optimizer.step()
    # Maximum likelihood puts each width at the spread of the pre-squash expert around the mean,
    # and leaves the mean to the squared error.
    assert torch.allclose(log_std.exp(), spread, rtol=0.05), log_std.exp()
    assert mean.grad is None or not mean.grad.any()


def test_fitting_the_spread_moves_only_the_widths_of_the_output_layer():
    cfg = load_run_config(CONFIG, [])
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(64, 34)).astype(np.float32)
    action = rng.uniform(-1, 1, size=(64, 9)).astype(np.float32)
    task = rng.integers(0, 2, size=64)
    trained = {}
    for fit_std in (False, True):
        torch.manual_seed(0)
        nets = build_networks(cfg)
        optimizer = torch.optim.Adam(nets.policy.parameters(), lr=1e-3)
        _clone_demos().clone_steps(nets, optimizer, obs, action, task, 20, 16, 0, fit_std)
        trained[fit_std] = nets.policy.state_dict()
    output = f"net.{len(nets.policy.net) - 1}."  # its rows: 9 means, then 9 log widths
    for name, value in trained[True].items():
        without = trained[False][name]
        if name.startswith(output):
            assert torch.equal(value[:9], without[:9]), name
            assert not torch.equal(value[9:], without[9:]), name
        else:
            assert torch.equal(value, without), f"{name}: the hidden layers learn the mean only"


def test_where_a_policy_leaves_the_block():
    policy = "results/jaco_dagger_policy.safetensors"
    done = _run("scripts/jaco_episode_ends.py", policy, "--task", "push", "--episodes", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    header, *lines = done.stdout.strip().splitlines()
    assert header.startswith("planar_m height_m") and len(lines) == 2
    for line in lines:
        planar, height, carried, target, *fingers = (float(x) for x in line.split())
        assert 0 <= planar < 1 and abs(height) < 1 and len(fingers) == 3
        assert 0 <= target <= 200 and 0 <= carried <= 200
    refused = _run("scripts/jaco_episode_ends.py", policy, "--task", "stack")
    assert refused.returncode == 2 and "not one of the checkpoint's tasks" in refused.stderr


def test_cloning_refuses_a_store_that_is_not_one(tmp_path):
    done = _run("scripts/clone_demos.py", "--config", CONFIG, "--demos", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: train.demos:") and str(tmp_path) in done.stderr


def test_dagger_rollouts_let_the_expert_act_at_the_given_share(monkeypatch):
    """--beta: at each step the expert acts with the round's share, else the policy. Driven by
    the expert (share 1) the lift episode holds the block at the goal; by the untrained policy
    (share 0) it never does."""
    from skill_embedding_ros.tasks.jaco import rewards
    from skill_embedding_ros.tasks.registry import get_suite

    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("dagger_jaco", REPO / "scripts/dagger_jaco.py")
    dagger = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dagger)
    cfg = load_run_config(CONFIG)
    suite, tasks = get_suite(cfg.train.suite), list(cfg.train.tasks)
    torch.manual_seed(0)
    nets = build_networks(cfg)
    held = {}
    for share in (0.0, 1.0):
        obs, _, task = dagger.rollouts(nets, suite, tasks, 1, seed=3, expert_share=share)
        held[share] = rewards.held(obs[task == tasks.index("lift")]).mean()
    assert held[0.0] == 0.0 and held[1.0] > 0.3, held


def test_training_the_embedding_lets_z_name_tasks_the_observation_cannot():
    # Two tasks, the same states, opposite expert actions: only z can tell them apart.
    cfg = load_run_config(CONFIG, [])
    obs = np.zeros((64, 34), np.float32)
    task = np.arange(64) % 2
    action = np.where(task[:, None] == 0, 0.5, -0.5).astype(np.float32) * np.ones((1, 9))
    errors, kl = {}, {}
    for alpha in (None, 1e-3):
        torch.manual_seed(0)
        nets = build_networks(cfg)
        trained = list(nets.policy.parameters())
        if alpha is not None:
            trained += list(nets.embedding.parameters())
        optimizer = torch.optim.Adam(trained, lr=1e-2)
        curve = _clone_demos().clone_steps(
            nets, optimizer, obs, action, task, 400, 32, 0, False, alpha
        )
        errors[alpha], kl[alpha] = curve[-1], float(kl_matrix(nets)[0, 1])
    assert kl[None] == 0.0, "without the option p(z|t) stays untrained"
    assert kl[1e-3] > 5.0, kl
    assert errors[1e-3] < 0.2 * errors[None], errors


def test_swapping_the_embedding_keeps_one_policy_and_the_others_p_z_given_t(tmp_path):
    """scripts/swap_embedding.py: the written actor checkpoint holds the first run's policy and
    the second's embedding, tensor for tensor; embeddings of two shapes are refused by name."""
    runs = REPO / "results" / "runs"
    policy, embedding = runs / "jaco_pretrain_from_dagger_seed0", runs / "jaco_pretrain_dagger"
    out = tmp_path / "swap" / "policy.safetensors"
    done = _run("scripts/swap_embedding.py", str(policy), str(embedding), "--out", str(out))
    assert done.returncode == 0, done.stderr
    got, meta = read_checkpoint(out)
    kept, _ = read_checkpoint(policy / "policy.safetensors")
    given, _ = read_checkpoint(embedding / "policy.safetensors")
    assert meta["kind"] == ACTOR and meta["embedding_from"] == str(embedding)
    assert set(got) == set(kept)
    for name, tensor in got.items():
        want = given[name] if name.startswith("nets.embedding.") else kept[name]
        assert torch.equal(tensor, want), name
    assert not torch.equal(got["nets.embedding.linear.bias"], kept["nets.embedding.linear.bias"])

    other = runs / "reach_bernoulli_seed0"
    refused = _run("scripts/swap_embedding.py", str(policy), str(other), "--out", str(out))
    assert refused.returncode == 2 and "cannot swap the embedding" in refused.stderr
    assert "size mismatch" in refused.stderr
