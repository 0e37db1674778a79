"""agent.compile: the learner's layers under torch.compile in its updates, and only there.
Inductor's kernels are not eager's to the bit, so the updates are held to eager ones within a
tolerance; what must not change at all (checkpoint keys, the acting networks) is held exactly.
The first update compiles (about 20 s here without inductor's cache, once per process)."""

from __future__ import annotations

import functools

import pytest
import torch

from skill_embedding_ros.agent import networks
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.networks import MLP
from skill_embedding_ros.testing.episodes import make_networks, replay_batch


@functools.cache
def _cannot_compile() -> str:
    return networks.compile_problem("cpu")


def _pair(family: str = "bernoulli"):
    if _cannot_compile():  # CI without a C++ compiler: the test above still runs
        pytest.skip(_cannot_compile())
    eager = make_networks(family)
    compiled = make_networks(family, compile=True)
    compiled.load_state_dict(eager.state_dict())
    return Learner(eager, hold_steps=8), Learner(compiled, hold_steps=8)


def _counted(learner: Learner) -> list:
    """Each call of the learner's torch.compile'd layers appends to the list returned."""
    calls, layers = [], learner._compiled
    assert layers and all(hasattr(fn, "_torchdynamo_orig_callable") for fn in layers.values())
    for net, fn in list(layers.items()):
        layers[net] = lambda x, fn=fn: calls.append(1) or fn(x)
    return calls


@pytest.mark.parametrize("family", ["bernoulli", "gaussian"])
def test_compiled_updates_follow_eager_ones(family):
    torch.manual_seed(0)
    eager, compiled = _pair(family)
    calls = _counted(compiled)
    for i in range(3):
        torch.manual_seed(i)
        want = eager.update(*replay_batch(seed=i))
        torch.manual_seed(i)
        got = compiled.update(*replay_batch(seed=i))
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert len(calls) >= 3 * len(compiled._compiled)  # every layer, every update
    want, got = eager.nets.state_dict(), compiled.nets.state_dict()
    assert list(got) == list(want)  # the same checkpoint keys: a compiled run's loads anywhere
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_the_networks_act_eagerly_outside_an_update():
    _, compiled = _pair()
    calls = _counted(compiled)
    torch.manual_seed(0)
    compiled.update(*replay_batch())
    assert calls  # the update's layers went through torch.compile
    layers = [m for m in compiled.nets.modules() if isinstance(m, MLP)]
    assert layers and all(m.compiled is None for m in layers)
    # An actor sharing the policy, or an evaluation, runs the eager layers.
    during = len(calls)
    mean, log_std = compiled.nets.policy(torch.randn(5, 3), torch.randn(5, 2))
    assert len(calls) == during
    assert torch.isfinite(mean).all() and torch.isfinite(log_std).all()


def test_where_torch_compile_cannot_build_the_learner_says_what_to_do(monkeypatch):
    def no_compiler(fn, **kwargs):  # what inductor raises without g++, in short
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    monkeypatch.setattr(networks.torch, "compile", no_compiler)
    with pytest.raises(ValueError, match=r"No working C\+\+ compiler.*apt install g\+\+"):
        Learner(make_networks(compile=True), hold_steps=8)
    assert networks.compile_problem("cuda") == ""  # a GPU's kernels need no C++ compiler
