"""Hindsight relabelling (data/relabel.py): a segment's goal replaced by what its episode reached
later, in every observation, and its rewards recomputed as the env pays them for that goal."""

import numpy as np
import pytest

from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.data.relabel import hindsight, relabel, task_rewards
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.jaco.scripted import run_episodes
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.episodes import make_episode, make_networks
from skill_embedding_ros.training.trainer import replay_update

SUITE = get_suite("jaco_velocity")
TASKS = ["push", "lift"]
SEGMENT, HISTORY = 10, 4


def _scripted(task: int, seed: int) -> Episode:
    """A real episode of the scripted controller, which takes the block to the goal (actions
    left at zero: only states and rewards matter here)."""
    obs = run_episodes(SUITE, TASKS[task], 1, seed=seed)[0]
    n = len(obs) - 1
    return Episode(
        obs=obs.astype(np.float32),
        action=np.zeros((n, SUITE.action_dim), np.float32),
        reward=SUITE.reward(TASKS[task], obs[1:]).astype(np.float32),
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


def test_future_states_are_the_states_after_the_segment_to_the_episode_end():
    # Capacity 100: the fourth episode wraps to the ring's start and evicts the first.
    buf = ReplayBuffer(100, 3, 2, z_dim=2)
    lengths = (30, 7, 60, 25)  # the second is shorter than a segment
    for k, n in enumerate(lengths):
        buf.add(make_episode(n, offset=1000.0 * k))  # obs at step i: 1000 k + i
    assert buf.num_episodes == 3
    rng = np.random.default_rng(0)
    for start in np.flatnonzero(buf.valid)[::7]:
        episode, step = divmod(int(buf.obs[start, 0]), 1000)
        n = lengths[episode]
        reached = buf.future_states(np.full(2_000, start), SEGMENT, rng)[:, 0]
        got_episode, got = np.divmod(reached.astype(int), 1000)
        assert (got_episode == episode).all()  # never another episode's
        # The state after each step from the segment's last (or the episode's) to its end.
        np.testing.assert_array_equal(np.unique(got), np.arange(min(step + SEGMENT, n), n + 1))


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
    for key in ("action", "log_b_a", "z", "mask", "task"):
        np.testing.assert_array_equal(out[key], batch[key])
    # The goal was reached by the episode itself, so later states earn the in-target term:
    # segments that end where the goal was taken from score higher than under the drawn goal.
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


def test_segments_with_a_demonstrated_step_keep_their_goal(replay):
    rng = np.random.default_rng(5)
    starts = replay.sample_starts(200, rng)
    batch = replay.segment_arrays(starts, SEGMENT, HISTORY)
    batch["intervention"][:100, 3] = True  # a person (or a demonstrator) chose that action
    reached = replay.future_states(starts, SEGMENT, rng)
    out = hindsight(batch, reached, SUITE.goal, task_rewards(SUITE, TASKS), 1.0, rng)
    kept = np.all(out["obs"] == batch["obs"], axis=(1, 2))
    valid = batch["mask"][:, 3] > 0  # past an episode's end the flag belongs to no step of it
    assert kept[:100][valid[:100]].all() and not kept[100:].any()
    with pytest.raises(ValueError, match="before task relabelling"):
        hindsight({**out, "critic_reward": out["reward"]}, reached, SUITE.goal, print, 1.0, rng)


def _update_batch(replay, monkeypatch, rng, *overrides):
    """The batch and draws replay_update hands the learner, and what it returns."""
    seen = []
    monkeypatch.setattr(Learner, "update", lambda self, *args: seen.append(args) or {"x": 1.0})
    base = ("train.suite=jaco_velocity", "train.tasks=[push, lift]", "agent.z_dim=2")
    cfg = load_run_config(None, (*base, "agent.history=3", "replay.capacity=2000", *overrides))
    nets = make_networks("gaussian", 2, SUITE.obs_dim, SUITE.action_dim)
    metrics = replay_update(Learner(nets, hold_steps=200), replay, cfg, rng)
    ((batch, draws),) = seen
    return batch, draws, metrics


def test_replay_update_relabels_goals_then_tasks(replay, monkeypatch):
    rng = np.random.default_rng(3)
    batch, _, metrics = _update_batch(
        replay, monkeypatch, rng, "replay.hindsight=1.0", "replay.relabel=0.5"
    )
    # Every goal is a block position its own episode reached (the two episodes: tasks 0, 1).
    for task in (0, 1):
        rows = batch["task"] == task
        episode = replay.next_obs[replay.valid & (replay.task == task)]
        reached = episode[:, SLICES["block_position"]]
        goals = batch["obs"][rows][:, 0, SLICES["goal"]]
        assert all(np.any(np.all(reached == g, axis=1)) for g in goals)
    # The critic's rewards score the new goals, for whichever task relabelling drew.
    for i in range(len(batch["task"])):
        want = SUITE.reward(TASKS[batch["critic_task"][i]], batch["next_obs"][i])
        np.testing.assert_allclose(batch["critic_reward"][i], want, rtol=1e-6)
    assert metrics["values/hindsight_distance"] > 0.01  # the scripted blocks moved (m)


def test_without_hindsight_the_batches_are_drawn_as_before(replay, monkeypatch):
    rng = np.random.default_rng(4)
    batch, draws, metrics = _update_batch(replay, monkeypatch, rng, "replay.relabel=0.5")
    before = np.random.default_rng(4)  # the draws in the order they were made before
    want = relabel(replay.sample(32, SEGMENT, 3, before), task_rewards(SUITE, TASKS), 0.5, before)
    want_draws = replay.sample_draws(32, before)
    assert batch.keys() == want.keys() and metrics == {"x": 1.0}
    for key, value in want.items():
        np.testing.assert_array_equal(batch[key], value)
    for got, wanted in zip(draws, want_draws, strict=True):
        np.testing.assert_array_equal(got, wanted)
    assert rng.random() == before.random()  # and the stream goes on alike
