"""Stable-Baselines3 SAC as a peer: the task one-hot, ActorCore's interface, our evaluation's
report, and a pickle-free safetensors round trip. Skipped where SB3 is not installed (it is a
benchmark dependency: requirements-bench.txt)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training import peer_sac
from skill_embedding_ros.training.peer_sac import (
    WEIGHTS,
    SacActor,
    SacSettings,
    evaluate_sac,
    load_sac,
    make_env,
    save_sac,
    train_sac,
)

pytest.importorskip("stable_baselines3")

TASKS = ["goal_0", "goal_1", "goal_0"]  # two identical tasks: told apart by the one-hot only
SMALL = SacSettings(net_arch=(16, 16), learning_starts=100, batch_size=32)


@pytest.fixture(scope="module")
def model():
    trained, minutes = train_sac("reach", TASKS, 300, seed=0, settings=SMALL)
    assert minutes > 0
    return trained


def _obs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, get_suite("reach").obs_dim)) * 0.5


def test_wrapper_appends_the_episodes_task_one_hot():
    env, plain = make_env("reach", TASKS, seed=3), SuiteEnv("reach", TASKS, seed=3)
    assert env.observation_space.shape == (plain.observation_space.shape[0] + len(TASKS),)
    obs, info = env.reset(options={"task": 2})
    base, _ = plain.reset(options={"task": 2})
    np.testing.assert_array_equal(obs, np.concatenate([base, [0, 0, 1]]).astype(np.float32))
    stepped = env.step(np.array([0.5, -0.5], np.float32))[0]
    np.testing.assert_array_equal(stepped[-3:], [0, 0, 1])
    assert env.observation_space.contains(stepped)
    # Without a task the env draws one per episode, as in training: every task shows up, and
    # the one-hot always names the drawn task.
    seen = set()
    for _ in range(30):
        obs, info = env.reset()
        assert obs[-3:].tolist() == np.eye(3)[info["task"]].tolist()
        seen.add(info["task"])
    assert seen == {0, 1, 2}


def test_actor_acts_in_bounds_with_no_z_and_matches_sb3(model):
    obs = _obs(6)
    actor = SacActor(model, len(TASKS), 6, deterministic=True)
    for i in range(6):
        actor.begin(i, i % 3)
    d = actor.act(obs)
    assert d.action.shape == (6, 2) and d.action.dtype == np.float32
    assert np.all(np.abs(d.action) <= 1.0)
    assert d.z.shape == (6, 0)
    # Mean actions are SB3's own deterministic actions for the same one-hot observations.
    inputs = peer_sac.with_task(obs, np.arange(6) % 3, len(TASKS))
    np.testing.assert_allclose(d.action, model.predict(inputs, deterministic=True)[0], atol=1e-6)
    # The task reaches the policy: same state, other task id, other action.
    actor.begin(0, 1)
    assert not np.allclose(actor.act(obs).action[0], d.action[0])


def test_stochastic_actions_follow_the_generator(model):
    obs = _obs(50)

    def sampled(seed: int) -> np.ndarray:
        actor = SacActor(model, len(TASKS), 50, False, torch.Generator().manual_seed(seed))
        return actor.act(obs)

    a, b, c = sampled(1), sampled(1), sampled(2)
    np.testing.assert_array_equal(a.action, b.action)
    assert not np.allclose(a.action, c.action)
    assert np.all(np.abs(a.action) <= 1.0) and np.isfinite(a.log_b_a).all()
    mean = SacActor(model, len(TASKS), 50, True).act(obs).action
    assert not np.allclose(a.action, mean)


def test_short_training_gives_our_evaluation_report(model):
    for deterministic, label in ((True, "deterministic"), (False, "stochastic")):
        report, rollouts = evaluate_sac(model, "reach", TASKS, 4, deterministic=deterministic)
        assert report["actions"] == label
        assert report["tasks"] == TASKS and report["episodes_per_task"] == 4
        assert [r["task_id"] for r in report["per_task"]] == [0, 1, 2]
        for row, r in zip(report["per_task"], rollouts, strict=True):
            keys = {"success_rate", "touched_rate", "mean_return", "episodes_per_outcome"}
            assert keys | {"distinct_solutions", "per_z"} <= set(row)
            assert 0.0 <= row["success_rate"] <= row["touched_rate"] <= 1.0
            assert sum(row["episodes_per_outcome"].values()) <= 4
            # No embedding: one (empty) z, so one per-z row that holds every episode.
            assert [g["episodes"] for g in row["per_z"]] == [4]
            assert r.obs.shape == (4, get_suite("reach").episode_steps + 1, 4)
            assert r.z.shape == (4, 0)
        json.dumps(report)  # JSON-ready, as eval.json needs


def test_evaluation_repeats_for_a_seed(model):
    one = evaluate_sac(model, "reach", TASKS, 3, seed=7, deterministic=False)[1]
    two = evaluate_sac(model, "reach", TASKS, 3, seed=7, deterministic=False)[1]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)


def test_safetensors_round_trip_reproduces_actions_exactly(model, tmp_path):
    save_sac(model, tmp_path, "reach", TASKS, {"seed": 0})
    loaded, info = load_sac(tmp_path)
    assert info["tasks"] == TASKS and info["settings"]["net_arch"] == [16, 16]
    obs = _obs(20, seed=5)
    for deterministic in (True, False):
        acts = []
        for m in (model, loaded):
            actor = SacActor(m, len(TASKS), 20, deterministic, torch.Generator().manual_seed(3))
            for i in range(20):
                actor.begin(i, i % 3)
            acts.append(actor.act(obs).action)
        np.testing.assert_array_equal(acts[0], acts[1])
    # The loaded critics are the trained ones too (all of the policy's tensors came back).
    for k, v in model.policy.state_dict().items():
        assert torch.equal(v, loaded.policy.state_dict()[k]), k


def test_loading_weights_of_another_shape_fails_clearly(model, tmp_path):
    save_sac(model, tmp_path, "reach", TASKS, {"seed": 0})
    info = json.loads((tmp_path / "sac.json").read_text())
    info["tasks"] = ["goal_0", "goal_1"]  # one input fewer than the weights have
    (tmp_path / "sac.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="does not fit"):
        load_sac(tmp_path)
    assert (tmp_path / WEIGHTS).is_file()


def test_missing_sb3_names_the_requirements_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(ImportError, match=r"requirements-bench\.txt"):
        peer_sac.build_sac(make_env("reach", TASKS, 0), SacSettings(), 0)


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "peer_sac.py"
    spec = importlib.util.spec_from_file_location("peer_sac_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_rows_use_our_column_names_and_keep_other_seeds(tmp_path):
    script = _script()
    task = {
        "task_id": 0,
        "task": "any",
        "success_rate": 0.5,
        "mean_return": 12.345678,
        "episodes_per_outcome": {0: 3, 2: 1},
        "distinct_solutions": 1,
        "touched_rate": 0.25,
        "returns": {"mean": 12.345678, "max": 30.0},
        "per_z": [{"z": "", "episodes": 4}],
    }
    report = {"env_steps": 100, "minutes": 0.5, "per_task": [task]}
    row = script.row("peer_sac_x", 1, "stochastic", report, 0.0, "abc")
    assert row["t0_any_success"] == 0.5 and row["t0_any_solutions"] == 1
    assert row["t0_any_regions"] == "0:3 2:1" and row["t0_any_return"] == 12.3457
    # Keys the evaluation adds come along; lists (per-z rows) stay in eval.json.
    assert row["t0_any_touched_rate"] == 0.25
    assert row["t0_any_returns"] == "mean:12.3457 max:30.0"
    assert not any("per_z" in k for k in row)
    path = tmp_path / "peer.csv"
    script.write_csv(path, [row, {**row, "seed": 0}])
    script.write_csv(path, [{**row, "actions": "deterministic"}])
    lines = path.read_text().splitlines()
    keys = [tuple(line.split(",")[1:3]) for line in lines[2:]]
    assert keys == [("0", "stochastic"), ("1", "deterministic"), ("1", "stochastic")]
