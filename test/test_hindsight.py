"""Hindsight relabelling (data/relabel.py): a segment's goal replaced by what its episode reached
later, in every observation, and its rewards recomputed as the env pays them for that goal."""

import numpy as np
import pytest

from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.data.relabel import hindsight, task_rewards
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.jaco.scripted import ScriptedController
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.episodes import make_episode, make_networks
from skill_embedding_ros.training.trainer import replay_update

SUITE = get_suite("jaco_velocity")
TASKS = ["push", "lift"]
SEGMENT, HISTORY = 10, 4


def _scripted(task: int, seed: int) -> Episode:
    """A real episode of the scripted controller: the block goes to the goal."""
    env = SuiteEnv(SUITE, TASKS, seed=seed)
    script = ScriptedController(SUITE, TASKS[task])
    obs, _ = env.reset(options={"task": task})
    observations, actions, rewards = [obs], [], []
    for _ in range(SUITE.episode_steps):
        action = script(obs).astype(np.float32)
        obs, reward, *_ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
    n = len(actions)
    return Episode(
        obs=np.asarray(observations, np.float32),
        action=np.asarray(actions, np.float32),
        reward=np.asarray(rewards, np.float32),
        terminal=np.zeros(n, bool),
        task=task,
        z=np.zeros((n, 2), np.float32),
        log_b_z=np.zeros(n, np.float32),
        log_b_a=np.full(n, -3.0, np.float32),
        z_drawn=np.eye(1, n, dtype=bool)[0],
        intervention=np.zeros(n, bool),
    )


@pytest.fixture(scope="module")
def replay():
    buf = ReplayBuffer(2_000, SUITE.obs_dim, SUITE.action_dim, z_dim=2)
    buf.add(_scripted(0, seed=1))
    buf.add(_scripted(1, seed=2))
    return buf


def test_future_states_come_from_later_in_the_same_episode():
    buf = ReplayBuffer(1_000, 3, 2, z_dim=2)
    lengths = (30, 7, 50)  # the short one is shorter than a segment
    for k, n in enumerate(lengths):
        buf.add(make_episode(n, offset=1000.0 * k))  # obs at step i: 1000 k + i
    rng = np.random.default_rng(0)
    starts = buf.sample_starts(2_000, rng)
    reached = buf.future_states(starts, SEGMENT, rng)[:, 0]
    episode, step = np.divmod(buf.obs[starts, 0], 1000.0)
    got_episode, got_state = np.divmod(reached, 1000.0)
    np.testing.assert_array_equal(got_episode, episode)  # never another episode's
    n = np.asarray(lengths)[episode.astype(int)]
    # The state after a step from the segment's last (or the episode's) to the episode's end.
    assert np.all(got_state >= np.minimum(step + SEGMENT, n)) and np.all(got_state <= n)
    assert got_state.max() == n.max() and len(np.unique(got_state)) > 20  # spread out


def test_relabelled_segments_hold_the_reached_goal_and_the_env_reward_for_it(replay):
    rng = np.random.default_rng(1)
    starts = replay.sample_starts(256, rng)
    batch = replay.segment_arrays(starts, SEGMENT, HISTORY)
    reached = replay.future_states(starts, SEGMENT, rng)
    out = hindsight(batch, reached, SUITE.goal, task_rewards(SUITE, TASKS), 1.0, rng)

    goal = SLICES["goal"]
    block = reached[:, SLICES["block_position"]]
    for key in ("obs", "next_obs"):
        np.testing.assert_array_equal(
            out[key][..., goal], np.broadcast_to(block[:, None], (256, SEGMENT, 3))
        )
        rest = np.ones(SUITE.obs_dim, bool)
        rest[goal] = False
        np.testing.assert_array_equal(out[key][..., rest], batch[key][..., rest])
    valid = batch["window_valid"].astype(bool)
    np.testing.assert_array_equal(
        out["obs_window"][valid][:, goal],
        np.broadcast_to(block[:, None, None], (*valid.shape, 3))[valid],
    )
    assert not out["obs_window"][~valid].any()  # the padding stays zero
    # Each reward is what the env's reward pays the segment's own task in the new state.
    for i in range(256):
        want = SUITE.reward(TASKS[batch["task"][i]], out["next_obs"][i])
        np.testing.assert_allclose(out["reward"][i], want, rtol=1e-6)
    # The goal was reached by the episode itself, so later states earn the in-target term:
    # segments that end where the goal was taken from score higher than under the drawn goal.
    for key in ("action", "log_b_a", "z", "mask", "task"):
        np.testing.assert_array_equal(out[key], batch[key])
    at_goal = out["reward"][:, -1] > 0.75  # only inside the target (0.3 of the 1.0)
    assert at_goal.mean() > 0.2 and out["reward"].mean() > batch["reward"].mean()


def test_fraction_zero_changes_nothing_and_a_fraction_moves_about_that_share(replay):
    rng = np.random.default_rng(2)
    starts = replay.sample_starts(2_000, rng)
    batch = replay.segment_arrays(starts, SEGMENT, HISTORY)
    reached = replay.future_states(starts, SEGMENT, rng)
    rewards = task_rewards(SUITE, TASKS)
    assert hindsight(batch, reached, SUITE.goal, rewards, 0.0, rng) is batch
    out = hindsight(batch, reached, SUITE.goal, rewards, 0.3, rng)
    moved = np.any(out["obs"] != batch["obs"], axis=(1, 2))
    assert 0.25 < moved.mean() < 0.35
    with pytest.raises(ValueError, match="hindsight fraction must lie in"):
        hindsight(batch, reached, SUITE.goal, rewards, 1.5, rng)


def test_a_learner_update_with_hindsight(replay):
    overrides = (
        "train.suite=jaco_velocity",
        "train.tasks=[push, lift]",
        "agent.z_dim=2",
        "agent.history=3",
    )
    overrides += ("replay.hindsight=0.5", "replay.relabel=0.5", "replay.capacity=2000")
    cfg = load_run_config(None, overrides)
    nets = make_networks("gaussian", 2, SUITE.obs_dim, SUITE.action_dim)
    metrics = replay_update(Learner(nets, hold_steps=200), replay, cfg, np.random.default_rng(3))
    assert np.isfinite(metrics["losses/critic"]) and np.isfinite(metrics["values/q"])
