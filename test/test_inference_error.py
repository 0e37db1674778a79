"""The inferred-skill error along a trajectory (training/inference_error.py): its windows are the
learner's, its actions are the ones the episodes executed, and the force-controlled point mass
it is made for behaves as its model file says."""

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.learner import Networks
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.settings.base import from_dict
from skill_embedding_ros.settings.run import RunConfig
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.inference_error import infer_along, inference_traces, windows

SUITE = get_suite("reach_force")


def _run(family="gaussian"):
    cfg = from_dict(
        RunConfig,
        {
            "agent": {"embedding": family, "z_dim": 2, "hidden": [16], "critic_hidden": [16]},
            "train": {"suite": "reach_force", "tasks": ["goal_0", "goal_1"]},
        },
    )
    torch.manual_seed(0)
    return Networks(SUITE.obs_dim, SUITE.action_dim, 2, cfg.agent), cfg


def test_windows_are_the_learners():
    rng = np.random.default_rng(0)
    steps, history = 12, 4
    obs = rng.normal(size=(steps + 1, 4)).astype(np.float32)
    actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    episode = Episode(
        obs=obs,
        action=actions,
        reward=np.zeros(steps, np.float32),
        terminal=np.zeros(steps, bool),
        task=0,
        z=np.zeros((steps, 2), np.float32),
        log_b_z=np.zeros(steps, np.float32),
        log_b_a=np.zeros(steps, np.float32),
        z_drawn=np.arange(steps) == 0,
        intervention=np.zeros(steps, bool),
    )
    replay = ReplayBuffer(100, 4, 2, 2)
    replay.add(episode)
    want = replay.segment_arrays(np.array([0]), steps, history)
    got = windows(obs[None, :-1], actions[None], history)
    for mine, theirs in zip(got, ("obs_window", "action_window", "window_valid"), strict=True):
        np.testing.assert_array_equal(mine, want[theirs])


def test_the_actions_it_infers_from_are_the_executed_ones():
    nets, cfg = _run()
    (trace, _) = inference_traces(nets, cfg, episodes=3, seed=7)
    assert trace.inferred.shape == (3, SUITE.episode_steps, 2)
    assert trace.error.shape == (3, SUITE.episode_steps)
    np.testing.assert_allclose(
        trace.error, np.linalg.norm(trace.inferred - trace.rollouts.z[:, None], axis=-1)
    )
    # Replaying the mean actions for the recorded z from the same start retraces the episode.
    env = SuiteEnv(SUITE, cfg.train.tasks, seed=7)
    obs, _ = env.reset(options={"task": 0})
    np.testing.assert_allclose(obs, trace.rollouts.obs[0, 0])
    z = torch.as_tensor(trace.rollouts.z[:1])
    for k in range(SUITE.episode_steps):
        with torch.no_grad():
            mean, _ = nets.policy(torch.as_tensor(obs[None], dtype=torch.float32), z)
        obs, *_ = env.step(torch.tanh(mean)[0].numpy())
        np.testing.assert_allclose(obs, trace.rollouts.obs[0, k + 1], atol=1e-5)


def test_only_a_gaussian_embedding_has_an_error_to_measure():
    nets, _ = _run("bernoulli")
    with pytest.raises(ValueError, match="gaussian"):
        infer_along(nets, 4, np.zeros((1, 3, 4), np.float32), np.zeros((1, 2), np.float32))


def test_the_force_point_mass_brakes_into_a_region():
    """A force on a damped mass: full force reaches at most 1 m/s, and a bang-bang controller
    that brakes in time stays in the right region (goal_0) and succeeds strictly."""
    assert SUITE.actuator == "torque" and SUITE.tasks == ("any", "goal_0", "goal_1")
    env = SuiteEnv(SUITE, ["goal_0"], seed=0)
    obs, _ = env.reset(options={"task": 0})
    path, speeds = [obs], []
    for _ in range(SUITE.episode_steps):
        x, vx = obs[0], obs[2]
        obs, *_ = env.step(np.array([1.0 if 0.8 - x > 0.8 * vx else -1.0, 0.0]))
        path.append(obs)
        speeds.append(abs(obs[2]))
    assert max(speeds) < 1.0
    assert SUITE.success("goal_0", np.stack(path)[None])[0]
    assert not SUITE.success("goal_1", np.stack(path)[None])[0]
    # Full force for 2 s: v = 1 - exp(-t) m/s (1 kg, 1 N s/m), 0.86 m/s, never 1.
    obs, _ = env.reset(options={"task": 0})
    for _ in range(20):
        obs, *_ = env.step(np.array([0.0, 1.0]))
    assert 0.8 < obs[3] < 0.9
