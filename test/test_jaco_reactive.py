"""The reactive Jaco controller: it solves every pre-training task, and its action is a function
of the observation alone, so a policy can represent it and it can label any state."""

import numpy as np
import pytest

from skill_embedding_ros.tasks.jaco import layouts
from skill_embedding_ros.tasks.jaco.reactive import ReactiveController
from skill_embedding_ros.tasks.jaco.scripted import run_episodes
from skill_embedding_ros.tasks.registry import get_suite

SUITE = get_suite("jaco_velocity")


@pytest.mark.parametrize("task", layouts.PRETRAINING)
def test_the_reactive_controller_solves_each_pretraining_task(task):
    """One episode per task, a strict success (benchmarks/bench_jaco_scripted.py --controller
    reactive measures 50 per task in both interfaces)."""
    obs = run_episodes(SUITE, task, 1, seed=11, controller_class=ReactiveController)
    assert (SUITE.outcomes(task, obs) == 0).all(), task


def test_its_action_depends_on_the_observation_alone():
    obs = run_episodes(SUITE, "push", 1, seed=11, controller_class=ReactiveController)[0]
    along = ReactiveController(SUITE, "push")
    actions = np.stack([along(o) for o in obs])
    # A fresh controller asked at the same states in reverse order: the same actions.
    fresh = ReactiveController(SUITE, "push")
    backwards = np.stack([fresh(o) for o in obs[::-1]])[::-1]
    np.testing.assert_array_equal(actions, backwards)
    phases = [along.decide(np.asarray(o, np.float64))[0] for o in obs]
    assert {"above", "down", "close", "up", "over", "lower", "release", "away"} <= set(phases)
