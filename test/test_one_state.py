"""A node's one-state policy in numpy (agent/one_state.py) acts as the torch policy does: the same
noise stream, actions and log-probabilities equal to float32 rounding, weights loaded between
episodes followed, and the node's acting builders use it."""

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.acting import skill_acting
from skill_embedding_ros.agent.actor import act
from skill_embedding_ros.agent.networks import PolicyNet
from skill_embedding_ros.agent.one_state import OneStatePolicy
from skill_embedding_ros.settings.run import AgentConfig
from skill_embedding_ros.transfer.skills import PrefixPolicy

OBS, Z, ACTIONS = 6, 2, 3


def policy(seed: int, obs_dim: int = OBS, **agent) -> PolicyNet:
    """A policy with random weights (a fresh one's last layer is near zero) and, when it
    normalizes, statistics far from the identity, so every part of the forward pass counts."""
    torch.manual_seed(seed)
    net = PolicyNet(obs_dim, Z, ACTIONS, AgentConfig(hidden=(32, 32), **agent))
    with torch.no_grad():
        for p in net.net.parameters():
            p.normal_(0.0, 0.4)
        if net.obs_norm is not None:
            net.obs_norm.mean.normal_(0.0, 1.0)
            net.obs_norm.var.uniform_(0.01, 4.0)
            net.obs_norm.mean[0], net.obs_norm.var[0] = 0.0, 1e-4  # std below MIN_STD
    return net.requires_grad_(False)


def states(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    obs = (rng.normal(size=(n, 1, OBS)) * 3).astype(np.float32)
    obs[..., 0] /= 30  # inside the normalizer's clip at MIN_STD, outside at a std of 0.01
    z = rng.integers(0, 2, size=(n, 1, Z)).astype(np.float32)
    return obs, z


def assert_agree(torch_policy, fast, deterministic, seed=0):
    """Every state acted on by both from generators seeded alike: the same actions and
    log-probabilities to float32 rounding, and the same draws taken from the generators."""
    g_torch, g_fast = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    obs, z = states(seed)
    for o, zz in zip(obs, z, strict=True):
        a, log_b = act(torch_policy, o, zz, deterministic, g_torch)
        a_fast, log_b_fast = fast(o, zz, deterministic, g_fast)
        assert a_fast.shape == a.shape and log_b_fast.shape == log_b.shape
        assert a_fast.dtype == np.float32 and log_b_fast.dtype == np.float32
        np.testing.assert_allclose(a_fast, a, rtol=0, atol=2e-5)
        if deterministic:
            assert np.isnan(log_b_fast).all() and np.isnan(log_b).all()
        else:
            np.testing.assert_allclose(log_b_fast, log_b, rtol=1e-4, atol=1e-3)
    assert torch.equal(g_torch.get_state(), g_fast.get_state())


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize(
    "agent",
    [
        {},
        {"normalize": True},
        {"activation": "relu"},
        {"embedding": "gaussian"},
        {"code_scale": 3.0, "normalize": True},
    ],
)
def test_it_acts_as_the_torch_policy(agent, deterministic):
    net = policy(1, **agent)
    assert_agree(net, OneStatePolicy(net), deterministic)


def test_it_acts_with_weights_loaded_after_it_was_built():
    """A node loads weights between episodes into the same module (load_state_dict copies in
    place): the numpy views see them, and a policy from before would be caught."""
    net, other = policy(1, normalize=True), policy(2, normalize=True)
    fast = OneStatePolicy(net)
    obs, z = states(3, 1)
    before = fast(obs[0], z[0], True)[0]
    net.load_state_dict(other.state_dict())
    after = fast(obs[0], z[0], True)[0]
    assert np.abs(after - before).max() > 1e-3
    assert_agree(other, fast, False)


def test_a_prefix_of_the_observation_as_transfer_reads_it():
    """Transfer's frozen skills read the first entries of a longer observation."""
    narrow = policy(4, obs_dim=OBS - 2)
    assert_agree(PrefixPolicy(narrow, OBS - 2), OneStatePolicy(narrow, OBS - 2), False)


def test_it_refuses_a_batch_and_a_layer_it_does_not_know():
    net = policy(1)
    obs, z = states(0, 2)
    with pytest.raises(ValueError, match="one state, got 2"):
        OneStatePolicy(net)(obs[:, 0], z[:, 0])
    net.net[1] = torch.nn.Tanh()
    with pytest.raises(TypeError, match="no numpy version of Tanh"):
        OneStatePolicy(net)


def test_a_skill_policy_node_acts_with_it():
    acting = skill_acting("reach_bernoulli.yaml", "", False, 0)
    assert isinstance(acting.core.one_state, OneStatePolicy)
    acting.core.begin(0, 0)
    obs = np.zeros((1, acting.suite.obs_dim), np.float32)
    decision = acting.core.act(obs)
    assert decision.action.shape == (1, acting.suite.action_dim)
    assert np.isfinite(decision.log_b_a).all() and decision.z_drawn.all()
