"""Task relabelling: rewards recomputed for another task match what the env pays that task, and
the learner trains the critic, and only the critic, on the relabelled task."""

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.data.relabel import relabel, task_rewards
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.episodes import make_episode, make_networks

TASKS = ["goal_0", "goal_1", "goal_0", "any"]


def _drive_to(env: SuiteEnv, task: int, region: int) -> Episode:
    """A real episode of `task` whose mass heads straight for `region` and stays there."""
    obs, _ = env.reset(options={"task": task})
    goal = np.asarray(env.suite.goals[region])
    observations, actions, rewards = [obs], [], []
    for _ in range(env.suite.episode_steps):
        action = np.clip((goal - obs[:2]) * 5.0, -1.0, 1.0).astype(np.float32)
        obs, r, *_ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(r)
    n = len(actions)
    return Episode(
        obs=np.asarray(observations, np.float32),
        action=np.asarray(actions, np.float32),
        reward=np.asarray(rewards, np.float32),
        terminal=np.zeros(n, bool),
        task=task,
        z=np.zeros((n, 2), np.float32),
        log_b_z=np.zeros(n, np.float32),
        log_b_a=np.zeros(n, np.float32),
        z_drawn=np.eye(1, n, dtype=bool)[0],
        intervention=np.zeros(n, bool),
    )


@pytest.fixture(scope="module")
def replay():
    env = SuiteEnv("reach", TASKS, seed=0)
    buf = ReplayBuffer(10_000, env.suite.obs_dim, env.suite.action_dim, z_dim=2)
    for task in range(len(TASKS)):
        for region in range(4):
            buf.add(_drive_to(env, task, region))
    return buf


def test_fraction_zero_keeps_every_segment_as_collected(replay):
    rng = np.random.default_rng(0)
    batch = replay.sample(64, 10, 4, rng)
    out = relabel(batch, task_rewards(get_suite("reach"), TASKS), 0.0, rng)
    np.testing.assert_array_equal(out["critic_task"], batch["task"])
    np.testing.assert_array_equal(out["critic_reward"], batch["reward"])


def test_relabelled_rewards_are_what_the_env_pays_that_task(replay):
    suite, rng = get_suite("reach"), np.random.default_rng(1)
    rewards = task_rewards(suite, TASKS)
    # Recomputing a segment's own task must give back exactly the reward the env paid.
    batch = replay.sample(256, 10, 4, rng)
    own = np.take_along_axis(rewards(batch["next_obs"]), batch["task"][:, None, None], -1)
    mask = batch["mask"] > 0
    np.testing.assert_array_equal(own[..., 0][mask], batch["reward"][mask])
    assert batch["reward"][mask].sum() > 0, "the scripted episodes should reach their regions"

    out = relabel(batch, rewards, 1.0, rng)
    moved = out["critic_task"] != batch["task"]
    assert 0.5 < moved.mean() < 0.95  # a uniform draw over 4 tasks keeps its own 1 in 4
    for i in np.flatnonzero(moved):
        paid = suite.reward(TASKS[out["critic_task"][i]], batch["next_obs"][i])
        np.testing.assert_array_equal(out["critic_reward"][i][mask[i]], paid[mask[i]])
    # Segments of goal_1 relabelled as goal_0 (or the reverse) can only score where the other
    # region lies, so some relabelled rewards must differ from the stored ones.
    assert (out["critic_reward"][moved] != batch["reward"][moved]).any()


def test_bad_fraction_is_refused(replay):
    batch = replay.sample(4, 10, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        relabel(batch, task_rewards(get_suite("reach"), TASKS), 1.5, np.random.default_rng(0))


def test_learner_trains_the_critic_on_the_relabelled_task_and_the_policy_on_its_own():
    buf = ReplayBuffer(200, obs_dim=3, action_dim=2, z_dim=2)
    for k in range(4):
        buf.add(make_episode(8, task=0, offset=0.1 * k))
    rng = np.random.default_rng(0)
    batch = buf.sample(16, segment=4, history=3, rng=rng)
    draws = buf.sample_draws(16, rng)
    # Every segment was collected under task 0; the critic is told it belongs to task 1.
    batch = {**batch, "critic_task": np.ones(16, np.int64), "critic_reward": batch["reward"]}

    torch.manual_seed(0)
    nets = make_networks("gaussian")
    learner = Learner(nets, hold_steps=8)
    seen = {"critic": [], "critic_target": []}

    def record(name):
        def hook(module, args):
            seen[name].append((args[3].flatten().unique().tolist(), len(args[3])))

        return hook

    for name in seen:
        getattr(nets, name).register_forward_pre_hook(record(name))
    learner.update(batch, draws)
    # The target critic scores Q' and E_pi Q' for task 1, both in one pass (2 x 16 segments).
    # The online critic runs for the critic loss (task 1), then for the policy loss and the
    # embedding (task 0, as collected; the embedding on 16 draws).
    assert seen["critic_target"] == [([1], 32)], seen
    assert seen["critic"] == [([1], 16), ([0], 16), ([0], 16)], seen
