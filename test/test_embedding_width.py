"""The Gaussian embedding's width is learned: its bound never cuts the gradient (issue 14).

With log sigma = clamp(raw, -5, 1), p(z|t) reached the clamp within 10 k steps and every
gradient to its width stopped there; distributions.bounded_log_std bounds it smoothly."""

import math

import pytest
import torch

from skill_embedding_ros.agent import distributions as D
from skill_embedding_ros.agent.networks import Embedding, Latent

LOW, HIGH = -5.0, 1.0  # AgentConfig.log_std_bounds


def _width_grad(raw_value: float, clamped: bool) -> float:
    """d H[p(z|t)] / d (the embedding's raw log-std bias), with the raw output at raw_value:
    through the embedding's own Latent, or through the clamp it used to apply."""
    latent = Latent("gaussian", 2, (LOW, HIGH))
    embedding = Embedding(1, latent)
    with torch.no_grad():
        embedding.linear.bias[2:] = raw_value  # params = (mean, raw log std)
    params = embedding(torch.zeros(1, dtype=torch.int64))
    if clamped:
        entropy = D.gaussian_entropy(params[..., 2:].clamp(LOW, HIGH))
    else:
        entropy = latent.entropy(params)
    entropy.sum().backward()
    return embedding.linear.bias.grad[2:].abs().min().item()


def test_bounded_log_std_stays_inside_and_starts_at_unit_width():
    raw = torch.linspace(-50, 50, 1001)
    log_std = D.bounded_log_std(raw, LOW, HIGH)
    assert log_std.min() >= LOW and log_std.max() <= HIGH
    assert torch.all(log_std[1:] >= log_std[:-1])  # monotone: no two widths swap order
    # A zero-initialised embedding starts at unit width, as it did under the clamp.
    assert D.bounded_log_std(torch.zeros(()), LOW, HIGH).abs().item() < 1e-6
    # Bounds that do not straddle 0 still bound (raw 0 -> the midpoint).
    assert D.bounded_log_std(torch.zeros(()), 0.5, 1.5).item() == pytest.approx(1.0)


@pytest.mark.parametrize("raw", [HIGH, HIGH + 2.0, HIGH + 5.0, LOW, LOW - 3.0])
def test_the_width_gradient_is_nonzero_at_and_beyond_the_old_bound(raw):
    old = _width_grad(raw + 1e-3 if raw >= HIGH else raw - 1e-3, clamped=True)
    new = _width_grad(raw, clamped=False)
    assert old == 0.0  # what the clamp did: no gradient past its bound
    assert new > 1e-4, new


def test_the_latent_uses_the_smooth_bound_everywhere():
    """log_prob, entropy, sampling and KL all see the same width, with a gradient to it."""
    latent = Latent("gaussian", 2, (LOW, HIGH))
    params = torch.tensor([0.0, 0.0, 4.0, 4.0], requires_grad=True)  # raw log std far past 1
    _, log_std = latent.split(params)
    assert torch.all(log_std < HIGH)
    entropy = latent.entropy(params)
    assert entropy.item() == pytest.approx(D.gaussian_entropy(log_std).item())
    entropy.backward()
    assert params.grad[2:].abs().min() > 0


def test_a_width_past_the_old_bound_comes_back_when_the_objective_asks():
    """The entropy term drove the width to its bound; when the objective then asks for a
    narrower one, Adam must bring it back. Under the clamp it could not move at all."""
    target = -1.0  # log sigma the objective wants

    def train(bound) -> float:
        raw = torch.full((2,), 4.0, requires_grad=True)  # past the old bound
        opt = torch.optim.Adam([raw], lr=0.05)
        for _ in range(300):
            opt.zero_grad()
            ((bound(raw) - target) ** 2).sum().backward()
            opt.step()
        return bound(raw).max().item()

    assert train(lambda r: r.clamp(LOW, HIGH)) == HIGH  # stuck at the clamp
    assert abs(train(lambda r: D.bounded_log_std(r, LOW, HIGH)) - target) < 0.05


def test_the_bound_scales_every_gradient_alike():
    """Where the terms of the objective balance inside the bounds does not move: the smooth bound
    multiplies every term's gradient by the same positive factor."""
    raw = torch.tensor(0.7, requires_grad=True)
    log_std = D.bounded_log_std(raw, LOW, HIGH)
    log_std.backward()
    s = torch.sigmoid(torch.tensor(0.7 + math.log(-LOW / HIGH)))
    assert raw.grad.item() == pytest.approx(((HIGH - LOW) * s * (1 - s)).item(), rel=1e-5)
