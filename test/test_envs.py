"""Task suites: the observation builder, pure rewards, and the Gymnasium env."""

import numpy as np
import pytest

from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.point_mass.observations import build_observation
from skill_embedding_ros.tasks.registry import get_suite


def test_observation_builder_orders_and_validates():
    obs = build_observation(
        ("x", "y"),
        ("block",),
        {"x": 1.0, "y": 2.0, "extra": 9.0},
        {"x": 0.1, "y": 0.2},
        {"block": (np.array([0.5, 0.6, 0.05]), np.array([1.0, 0.0, 0.0, 0.0]))},
    )
    np.testing.assert_allclose(obs, [1.0, 2.0, 0.1, 0.2, 0.5, 0.6])
    with pytest.raises(ValueError, match="missing \\['y'\\]"):
        build_observation(("x", "y"), (), {"x": 1.0}, {"x": 0.0}, {})
    with pytest.raises(ValueError, match="non-finite"):
        build_observation(("x",), (), {"x": float("nan")}, {"x": 0.0}, {})


def test_rewards_are_pure_functions_of_the_observation():
    suite = get_suite("reach")
    at = np.array([[0.8, 0.0, 0, 0], [0.0, 0.8, 0, 0], [0.0, 0.0, 0, 0], [-0.75, 0.05, 0, 0]])
    np.testing.assert_array_equal(suite.goal_index(at), [0, 1, -1, 2])
    np.testing.assert_array_equal(suite.reward("any", at), [1, 1, 0, 1])
    np.testing.assert_array_equal(suite.reward("goal_1", at), [0, 1, 0, 0])
    push = get_suite("push")
    block_in_goal_0 = np.array([0.0, 0.0, 0, 0, 0.6, 0.0])
    assert push.reward("goal_0", block_in_goal_0) == 1  # the block counts, not the mass


@pytest.mark.parametrize("name", ["reach", "push", "reach_force"])
def test_one_state_is_scored_as_in_a_batch(name):
    """The one-state reward (Python floats) gives the batch's answer, also a few float32 steps
    from a region's edge (a radius wider by 1e-7 of itself fails this)."""
    suite = get_suite(name)
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 4000)
    centre = np.asarray(suite.goals)[rng.integers(len(suite.goals), size=4000)]
    edge = centre + suite.goal_radius * np.stack([np.cos(angle), np.sin(angle)], -1)
    edge = edge.astype(np.float32)
    steps = rng.integers(-3, 4, size=edge.shape).astype(np.float32)
    edge = edge + steps * np.spacing(np.abs(edge))  # a few float32 ulps either side
    far = rng.uniform(-1.2, 1.2, (1000, 2)).astype(np.float32)
    states = np.zeros((5000, suite.obs_dim), np.float32)
    suite.target_position(states)[:] = np.concatenate([edge, far])  # a view: sets the target
    batch = suite.rewards(suite.tasks, states)
    one = np.stack([suite.rewards(suite.tasks, s) for s in states])
    assert 0 < batch.mean() < 1  # both sides of the edges are in the sample
    np.testing.assert_array_equal(one, batch)
    assert one.dtype == batch.dtype and suite.reward(suite.tasks[0], states[0]).shape == ()
    with pytest.raises(ValueError, match="valid tasks"):
        suite.reward("goal_9", states[0])


def test_unknown_names_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid tasks"):
        get_suite("reach").check_task("goal_9")
    with pytest.raises(ValueError, match="available"):
        get_suite("maze")


def test_env_reaches_a_goal_and_scores_it_like_the_pure_function():
    env = SuiteEnv("reach", ["goal_0", "any"], seed=0)
    obs, info = env.reset(options={"task": 0})
    assert info["task"] == 0 and obs.shape == env.observation_space.shape
    total = 0.0
    for step in range(env.suite.episode_steps):
        # 0.1 m per step at 1 m/s: eight steps reach the region at x = 0.8, then hold still.
        obs, r, terminated, truncated, info = env.step(np.array([1.0 if step < 8 else 0.0, 0]))
        assert r == env.suite.reward("goal_0", obs)
        total += r
    assert truncated and not terminated and total > 10


def test_env_is_deterministic_for_a_seed_and_rejects_bad_actions():
    def run(seed):
        env = SuiteEnv("push", ["any"], seed=seed)
        env.reset(seed=seed)
        return np.stack([env.step(np.array([0.3, 1.0]))[0] for _ in range(20)])

    np.testing.assert_array_equal(run(3), run(3))
    assert run(3)[-1, 5] > 0.1  # the mass pushed the block up (+y)
    env = SuiteEnv("reach", ["any"])
    env.reset()
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
