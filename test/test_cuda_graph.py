"""agent.cuda_graph: which learners may replay their updates as one CUDA graph, checked on a CPU.

A capture fails at the first value an update reads back to the CPU (`.item()`, `bool(t)`) or
the first shape its data decides (a boolean mask's rows). torch's FakeTensorMode fails at the
same places, with no GPU: an update that runs under it can be captured, and the configs that
`graph_problem` keeps op by op are exactly those whose update does not run under it. The capture
and replay themselves are checked where a GPU is (test/test_device.py).
"""

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from skill_embedding_ros.agent.cuda_graph import graph_problem
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.testing.episodes import make_networks, replay_batch

CUDA = torch.device("cuda")


def _inputs(learner: Learner) -> dict[str, torch.Tensor]:
    """An update's tensors, as Learner.update hands them to `_update`; some steps demonstrated."""
    batch, (draw_obs, draw_task) = replay_batch(demonstrated_every=3)
    learner.update(batch, (draw_obs, draw_task))  # the optimizers' moments exist from here on
    return learner._tensors({**batch, "draw_obs": draw_obs, "draw_task": draw_task})


def _update_without_values(learner: Learner) -> list[str]:
    """The learner's update on tensors that hold no values: fails where it would read one."""
    inputs = _inputs(learner)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        names, values = learner._update({k: mode.from_tensor(v) for k, v in inputs.items()})
    assert values.shape == (len(names),)
    return names


@pytest.mark.parametrize(
    "family, overrides",
    [
        ("bernoulli", {}),
        ("gaussian", {}),
        ("none", {}),  # the no-embedding ablation: no embedding or inference step
        ("gaussian", {"precision": "bfloat16", "inference_noise": 0.1}),
        ("bernoulli", {"activation": "relu", "inference_actions": False}),
    ],
)
def test_an_update_that_reads_nothing_back_is_replayed_as_a_graph(family, overrides):
    nets = make_networks(family, **overrides)
    assert graph_problem(nets, CUDA) == ""
    names = _update_without_values(Learner(nets, hold_steps=8))
    assert "losses/critic" in names and "values/q_retrace" in names


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"normalize": True}, "agent.normalize"),
        ({"imitation": 1.0}, "agent.imitation"),
        ({"anchor": 1.0}, "agent.anchor"),
    ],
)
def test_the_configs_kept_op_by_op_are_those_that_read_values_back(overrides, problem):
    nets = make_networks("bernoulli", **overrides)
    assert graph_problem(nets, CUDA).startswith(problem)
    with pytest.raises(RuntimeError):  # FakeTensorMode's DataDependent/DynamicOutputShape errors
        _update_without_values(Learner(nets, hold_steps=8))


def test_a_learner_says_why_its_updates_run_op_by_op():
    assert Learner(make_networks(), hold_steps=8).graph_problem == "not on a CUDA device"
    assert graph_problem(make_networks(cuda_graph=False), CUDA) == "agent.cuda_graph is false"
