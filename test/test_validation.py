"""The one episode check every reader applies (data/validation.py), ROS-free: each kind of
poison is named, and a fit episode passes."""

import dataclasses

import numpy as np
import pytest
import torch

from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.data.validation import (
    EpisodeSpec,
    episode_problem,
    nonfinite_tensors,
    tensors_problem,
)
from skill_embedding_ros.testing.episodes import make_episode

SPEC = EpisodeSpec(obs_dim=3, action_dim=2, z_dim=2, num_tasks=2, max_steps=100)


def _poisoned(**changes):
    episode = make_episode(8, task=1)
    for name, value in changes.items():
        if callable(value):
            value = value(getattr(episode, name))
        episode = dataclasses.replace(episode, **{name: value})
    return episode


def _set(index, value):
    def apply(array):
        array = array.copy()
        array[index] = value
        return array

    return apply


POISON = {
    "observation has 4 values": dict(obs=lambda o: np.concatenate([o, o[:, :1]], 1)),
    "action has 3 values": dict(action=lambda a: np.concatenate([a, a[:, :1]], 1)),
    "z has 1 values": dict(z=lambda z: z[:, :1]),
    "task id 7": dict(task=7),
    "task id -1": dict(task=-1),
    "action reaches 1e+30": dict(action=_set((2, 0), 1e30)),
    "action reaches 1.5": dict(action=_set((2, 0), 1.5)),
    "reward reaches 1e+30": dict(reward=_set(3, 1e30)),
    "observation reaches 2e+06": dict(obs=_set((0, 1), 2e6)),
    "z reaches 1e+07": dict(z=_set((0, 0), 1e7)),
    "'obs' holds non-finite": dict(obs=_set((4, 2), np.nan)),
    "'reward' holds non-finite": dict(reward=_set(0, np.inf)),
    "'z' holds non-finite": dict(z=_set((1, 1), np.nan)),
    "log_b_a holds non-finite": dict(log_b_a=_set(1, -np.inf)),
    "log_b_z reaches 1e+20": dict(log_b_z=_set(1, 1e20)),
    "'reward' has 7 rows": dict(reward=lambda r: r[:-1]),
    "obs has 1 dimensions": dict(obs=lambda o: o[:, 0]),
    "z_drawn[0] is False": dict(z_drawn=_set(0, False)),
}


@pytest.mark.parametrize("what", POISON)
def test_each_poison_is_named(what):
    problem = episode_problem(_poisoned(**POISON[what]), SPEC)
    assert problem is not None and what in problem, problem


def test_a_fit_episode_passes_and_then_fits_the_replay():
    episode = make_episode(8, task=1, offset=0.5)
    episode.log_b_a[2] = np.nan  # unknown behaviour (a demonstration): allowed
    episode.action[0] = 1.0 + 1e-4  # rounding of a command at the bound: within tolerance
    assert episode_problem(episode, SPEC) is None
    ReplayBuffer(100, 3, 2, 2).add(episode)


def test_an_episode_longer_than_the_replay_is_refused():
    problem = episode_problem(make_episode(8), dataclasses.replace(SPEC, max_steps=5))
    assert "8 steps exceed the replay capacity 5" in problem


def test_tensors_must_match_names_shapes_dtypes_and_be_finite_and_bounded():
    want = {"a": ((2, 3), torch.float32), "b": ((4,), torch.float32)}
    good = {"a": torch.zeros(2, 3), "b": torch.ones(4)}
    assert tensors_problem(want, good) is None
    cases = {
        "missing ['b']": {"a": good["a"]},
        "unexpected ['c']": {**good, "c": torch.zeros(1)},
        "a is (3, 2)": {**good, "a": torch.zeros(3, 2)},
        "torch.float64": {**good, "a": torch.zeros(2, 3, dtype=torch.float64)},
        "non-finite values in ['b']": {**good, "b": torch.tensor([0, 1, float("nan"), 2])},
        "b reaches 1e+30": {**good, "b": torch.tensor([0, 1, 1e30, 2])},
    }
    for what, got in cases.items():
        problem = tensors_problem(want, got)
        assert problem is not None and what in problem, (what, problem)
    assert nonfinite_tensors({"x": torch.tensor([float("inf")]), "y": torch.ones(1)}) == ["x"]
