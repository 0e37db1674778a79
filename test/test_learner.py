"""Learner: gradients reach every network they should, and only those."""

import copy
import inspect

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.networks import (
    MLP,
    InferenceNet,
    layers_in,
    precision_warning,
    z_features,
)
from skill_embedding_ros.testing.episodes import make_networks, replay_batch


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_one_update_moves_every_network():
    for family in ("gaussian", "bernoulli"):
        nets = make_networks(family)
        learner = Learner(nets, hold_steps=8)
        names = ("embedding", "policy", "inference", "critic", "critic_target")
        before = {n: _params(getattr(nets, n)) for n in names}
        metrics = learner.update(*replay_batch())
        assert all(np.isfinite(v) for v in metrics.values()), metrics
        for n in names:
            assert _changed(before[n], getattr(nets, n)), f"{family}: {n} did not move"


def test_the_activation_is_a_setting_and_relu_trains_too():
    elu, relu = make_networks("gaussian"), make_networks("gaussian", activation="relu")
    kinds = {type(m).__name__ for m in relu.modules()} - {type(m).__name__ for m in elu.modules()}
    assert kinds == {"ReLU"} and not any(isinstance(m, torch.nn.ELU) for m in relu.modules())
    before = _params(relu.policy)
    metrics = Learner(relu, hold_steps=8).update(*replay_batch())
    assert all(np.isfinite(v) for v in metrics.values()) and _changed(before, relu.policy)


def test_bfloat16_runs_the_updates_layers_in_bfloat16_and_leaves_float32_networks():
    seen = {"float32": set(), "bfloat16": set()}  # dtypes of the MLP layers' outputs
    for precision in seen:
        nets = make_networks("bernoulli", precision=precision)
        hooks = [
            layer.register_forward_hook(
                lambda _m, _i, out, into=seen[precision]: into.add(out.dtype)
            )
            for net in nets.modules()
            if isinstance(net, MLP)
            for layer in net
            if isinstance(layer, torch.nn.Linear)
        ]
        before = {n: _params(getattr(nets, n)) for n in ("policy", "critic", "inference")}
        metrics = Learner(nets, hold_steps=8).update(*replay_batch())
        assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
        assert all(_changed(before[n], getattr(nets, n)) for n in before)
        for hook in hooks:
            hook.remove()
        # Outside the update the networks are float32 ones: weights, and what they compute.
        assert all(p.dtype == torch.float32 for p in nets.parameters())
        assert all(getattr(m, "autocast", None) is None for m in nets.modules())
        mean, _ = nets.policy(torch.zeros(1, 3), torch.zeros(1, 2))
        assert mean.dtype == torch.float32
    assert seen == {"float32": {torch.float32}, "bfloat16": {torch.bfloat16}}


def test_bfloat16_on_a_cpu_without_it_is_warned_of(monkeypatch):
    """An AVX2 CPU computes bfloat16 products in a slow fallback (docs/speed.md): the learner
    says so. torch's own test of the CPU decides."""
    for supported in (True, False):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda s=supported: s)
        warning = Learner(make_networks("bernoulli", precision="bfloat16"), hold_steps=8).warning
        assert bool(warning) is not supported, warning
        assert Learner(make_networks("bernoulli"), hold_steps=8).warning == ""
    assert "agent.precision: bfloat16" in warning and "use float32" in warning
    assert precision_warning("bfloat16", "meta") == ""  # no test for it: not guessed


def test_bfloat16_layers_see_weights_changed_between_passes():
    # The learner steps the critic, then runs it for the policy's loss: autocast's cached
    # bfloat16 copy of a weight must not outlive the pass that made it.
    nets = make_networks("bernoulli")
    net, x = nets.critic.net, torch.randn(64, nets.critic.net[0].in_features)
    with layers_in(nets, "bfloat16"):
        before = net(x)
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(2.0)
        after = net(x)
    exact = net(x)  # float32, outside
    assert not torch.allclose(after, before, rtol=0.05, atol=0.05)
    assert after.dtype == torch.float32
    torch.testing.assert_close(after, exact, rtol=0.05, atol=0.05)


def test_embedding_entropy_term_moves_phi_on_its_own():
    # A public implementation detached H[p(z|t)] from phi; here alpha1 alone must move it.
    for family in ("gaussian", "bernoulli"):
        deltas = {}
        for alpha1 in (0.0, 1.0):
            nets = make_networks(family, alpha1=alpha1)
            with torch.no_grad():  # make Q blind to z, so only the entropy term can move phi
                nets.critic.net[0].weight[:, 3 + 2 : 3 + 2 + 2] = 0
                nets.policy.net[0].weight[:, 3:] = 0
            learner = Learner(nets, hold_steps=8)
            for name in ("critic", "policy"):
                learner.optimizers[name].param_groups[0]["lr"] = 0.0
            before = nets.latent.entropy(nets.embedding(torch.arange(2))).sum().item()
            for seed in range(20):
                learner.update(*replay_batch(seed))
            after = nets.latent.entropy(nets.embedding(torch.arange(2))).sum().item()
            deltas[alpha1] = after - before
        assert abs(deltas[0.0]) < 1e-3, (family, deltas)
        if family == "gaussian":
            assert deltas[1.0] > 1e-3, (family, deltas)  # entropy grows without bound
        else:
            assert deltas[1.0] >= -1e-6  # starts at its maximum (fair coins) and stays there


def test_embedding_entropy_gradient_reaches_phi_for_bernoulli():
    nets = make_networks("bernoulli")
    with torch.no_grad():
        nets.embedding.linear.bias.fill_(2.0)  # away from the maximum, so the gradient is not 0
    params = nets.embedding(torch.arange(2))
    loss = losses.embedding_loss(torch.zeros(2), nets.latent.entropy(params), 1.0, 10.0)
    loss.backward()
    assert nets.embedding.linear.bias.grad.abs().sum() > 0


def test_inference_network_never_sees_the_task():
    assert "task" not in inspect.signature(InferenceNet.forward).parameters
    batch, draws = replay_batch()
    other = dict(batch, task=1 - batch["task"])
    nets = make_networks("gaussian")
    a, b = Learner(copy.deepcopy(nets), 8), Learner(copy.deepcopy(nets), 8)
    torch.manual_seed(1)
    ma = a.update(batch, draws)
    torch.manual_seed(1)
    mb = b.update(other, draws)
    assert ma["losses/inference"] == mb["losses/inference"]
    assert ma["losses/critic"] != mb["losses/critic"]  # the critic does see t


def test_importance_weights_truncate_and_cut_unknown_behaviour():
    log_pi = torch.tensor([0.0, -1.0, 2.0])
    c = losses.importance_weights(
        log_pi, torch.zeros(3), torch.tensor([0.0, 0.0, float("nan")]), torch.zeros(3), lam=0.9
    )
    torch.testing.assert_close(c, torch.tensor([0.9, 0.9 * np.exp(-1.0), 0.0], dtype=c.dtype))


def test_bernoulli_codes_enter_policy_and_critic_as_plus_minus_code_scale():
    nets = make_networks("bernoulli")
    codes = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    features = z_features(codes, "bernoulli")
    assert torch.equal(features.abs(), torch.ones_like(codes))  # every code the same norm
    assert torch.equal(features.sum(0), torch.zeros(2))  # centred on 0
    obs = torch.randn(4, 3)
    mean, _ = nets.policy(obs, codes)
    by_hand = nets.policy.net(torch.cat([obs, features], -1)).chunk(2, -1)[0]
    assert torch.allclose(mean, by_hand)
    gaussian_z = torch.randn(4, 2)
    assert torch.equal(z_features(gaussian_z, "gaussian"), gaussian_z)

    scaled = make_networks("bernoulli", code_scale=3.0)
    action, task = torch.rand(4, 2), torch.zeros(4, dtype=torch.long)
    q = scaled.critic(obs, action, codes, task)
    onehot = torch.nn.functional.one_hot(task, 2).float()
    by_hand = scaled.critic.net(torch.cat([obs, action, 3 * features, onehot], -1)).squeeze(-1)
    assert torch.allclose(q, by_hand)
    mean, _ = scaled.policy(obs, codes)
    assert torch.allclose(mean, scaled.policy.net(torch.cat([obs, 3 * features], -1))[:, :2])
    with pytest.raises(ValueError, match="code_scale must be positive"):
        make_networks("bernoulli", code_scale=0.0)


def test_fixed_weights_pass_the_same_gradient_to_the_input_and_keep_none():
    from skill_embedding_ros.agent.learner import weights_fixed

    nets = make_networks("gaussian")
    obs, action = torch.randn(5, 3), torch.randn(5, 2, requires_grad=True)
    z, task = torch.randn(5, 2), torch.zeros(5, dtype=torch.long)
    (want,) = torch.autograd.grad(nets.critic(obs, action, z, task).sum(), action)
    with weights_fixed(nets.critic):
        q = nets.critic(obs, action, z, task)
    q.sum().backward()
    assert torch.equal(action.grad, want)
    assert all(p.grad is None and p.requires_grad for p in nets.critic.parameters())
    with pytest.raises(RuntimeError), weights_fixed(nets.critic):
        raise RuntimeError("a failed forward pass")
    assert all(p.requires_grad for p in nets.critic.parameters())


def test_the_anchor_weight_follows_the_critics_values_when_asked():
    """agent.anchor_per_q: the anchor's weight is `anchor` x the batch's mean |Q| of the
    policy's actions, so it holds as hard against a critic whose values grew (TD3+BC's
    scaling); without it the weight is `anchor` whatever the values."""
    weight = {}
    for per_q in (False, True):
        for shift in (0.0, 50.0):
            nets = make_networks("gaussian", anchor=2.0, anchor_per_q=per_q)
            with torch.no_grad():
                nets.critic.net[-1].bias += shift  # the critic's values, 50 higher
            torch.manual_seed(0)
            weight[per_q, shift] = Learner(nets, hold_steps=8).update(*replay_batch())
            weight[per_q, shift] = weight[per_q, shift]["values/anchor_weight"]
    assert weight[False, 0.0] == weight[False, 50.0] == 2.0
    assert weight[True, 0.0] < 10.0 and 2.0 * 45 < weight[True, 50.0] < 2.0 * 55, weight
