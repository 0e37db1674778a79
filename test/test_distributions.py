"""Distributions against numeric references."""

import math

import numpy as np
import torch

from skill_embedding_ros.agent import distributions as D
from skill_embedding_ros.agent.networks import Latent


def _normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_tanh_gaussian_log_prob_matches_numeric_density():
    # Density of a = tanh(u) from the probability of a small interval, via the Gaussian CDF.
    mean, log_std = 0.3, math.log(0.7)
    h = 1e-6
    for a in (-0.95, -0.5, 0.0, 0.4, 0.9, 0.999):
        lo, hi = math.atanh(a - h), math.atanh(a + h)
        s = math.exp(log_std)
        density = (_normal_cdf((hi - mean) / s) - _normal_cdf((lo - mean) / s)) / (2 * h)
        u = torch.tensor([[math.atanh(a)]], dtype=torch.float64)
        got = D.tanh_gaussian_log_prob(
            u,
            torch.tensor([[mean]], dtype=torch.float64),
            torch.tensor([[log_std]], dtype=torch.float64),
        )
        assert abs(got.item() - math.log(density)) < 1e-4, a


def test_tanh_gaussian_log_prob_sums_over_dimensions():
    u = torch.randn(4, 3)
    mean, log_std = torch.randn(4, 3), torch.randn(4, 3) * 0.3
    total = D.tanh_gaussian_log_prob(u, mean, log_std)
    parts = sum(
        D.tanh_gaussian_log_prob(u[:, i : i + 1], mean[:, i : i + 1], log_std[:, i : i + 1])
        for i in range(3)
    )
    torch.testing.assert_close(total, parts)


def test_tanh_gaussian_stays_finite_when_saturated():
    u = torch.tensor([[30.0, -30.0]])
    assert torch.isfinite(D.tanh_gaussian_log_prob(u, torch.zeros(1, 2), torch.zeros(1, 2))).all()


def test_relaxed_bernoulli_is_hard_forward_with_gradient():
    logits = torch.tensor([[1.0, -0.5, 0.0]] * 20000, requires_grad=True)
    z = D.relaxed_bernoulli_st(logits, temperature=0.5)
    assert set(z.detach().unique().tolist()) <= {0.0, 1.0}
    # Hard samples follow Bernoulli(sigmoid(logits)).
    np.testing.assert_allclose(
        z.detach().mean(0).numpy(), torch.sigmoid(logits[0]).detach().numpy(), atol=0.02
    )
    z.sum().backward()
    assert (logits.grad >= 0).all() and (logits.grad.mean(0) > 0.05).all()


def test_bernoulli_log_prob_and_entropy():
    logits = torch.tensor([0.0, 2.0])
    z = torch.tensor([1.0, 0.0])
    expected = math.log(0.5) + math.log(1 - 1 / (1 + math.exp(-2.0)))
    assert abs(D.bernoulli_log_prob(z, logits).item() - expected) < 1e-6
    assert abs(D.bernoulli_entropy(torch.zeros(2)).item() - 2 * math.log(2)) < 1e-6


def test_latent_kl_is_zero_for_equal_and_positive_otherwise():
    for family, size in (("gaussian", 4), ("bernoulli", 2)):
        latent = Latent(family, 2)
        p, q = torch.randn(size), torch.randn(size)
        assert abs(latent.kl(p, p).item()) < 1e-6
        assert latent.kl(p, q).item() > 0


def test_latent_kl_matches_monte_carlo():
    latent = Latent("gaussian", 2)
    p, q = torch.tensor([0.2, -0.1, -0.5, 0.1]), torch.tensor([-0.3, 0.4, 0.2, -0.2])
    z = latent.sample(p.expand(200_000, 4))
    mc = (latent.log_prob(p, z) - latent.log_prob(q, z)).mean()
    assert abs(mc.item() - latent.kl(p, q).item()) < 0.02


def test_gaussian_log_prob_is_torchs_normal_to_the_bit():
    """The learner's Gaussian log density is torch.distributions.Normal's, without its argument
    checks (a CUDA graph cannot hold them: agent/cuda_graph.py); the same numbers to the bit."""
    torch.manual_seed(0)
    z, mean, log_std = torch.randn(3, 64, 5).unbind(0)
    want = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).sum(-1)
    assert torch.equal(D.gaussian_log_prob(z, mean, log_std), want)
