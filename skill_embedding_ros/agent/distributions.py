"""The two distributions the method needs beyond torch's: a tanh-squashed Gaussian for bounded
actions and a straight-through relaxed Bernoulli for binary skill codes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def tanh_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor):
    """log pi(a) for a = tanh(u), u ~ N(mean, exp(log_std)^2), summed over the last dim.

    Change of variables: log pi(a) = log N(u) - sum log(1 - tanh(u)^2), with the Jacobian term
    written as 2 (log 2 - u - softplus(-2u)) so it stays finite where tanh saturates.
    Shapes: u, mean, log_std [..., A] -> [...].
    """
    gauss = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    jacobian = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (gauss - jacobian).sum(-1)


def atanh_clipped(a: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Pre-squash value of an action in [-1, 1], clipped so boundary actions stay finite."""
    return torch.atanh(a.clamp(-1.0 + eps, 1.0 - eps))


def sample_tanh_gaussian(mean: torch.Tensor, log_std: torch.Tensor):
    """Reparameterized sample: (a, log pi(a)). Shapes [..., A] -> ([..., A], [...])."""
    u = mean + log_std.exp() * torch.randn_like(mean)
    return torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)


def bernoulli_log_prob(z: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(z) of bits z in {0, 1} under independent Bernoullis, summed: [..., Z] -> [...]."""
    return -F.binary_cross_entropy_with_logits(logits, z, reduction="none").sum(-1)


def bernoulli_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of independent Bernoullis, summed over bits (nats): [..., Z] -> [...]."""
    p = torch.sigmoid(logits)
    return F.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)


def relaxed_bernoulli_st(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Straight-through relaxed Bernoulli sample (Maddison et al. 2017; Jang et al. 2017).

    The forward value is a hard bit in {0, 1}, so the critic and the policy see the same codes as
    in replay; the backward pass takes the gradient of the relaxed sample
    sigmoid((logits + logistic noise) / temperature). Shape [..., Z] -> [..., Z].
    """
    uniform = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
    noise = torch.log(uniform) - torch.log1p(-uniform)
    soft = torch.sigmoid((logits + noise) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly `hard` forward: soft - soft is 0


def bounded_log_std(raw: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """log sigma in (low, high) from an unbounded network output, smoothly:
    log sigma = low + (high - low) * sigmoid(raw + b), b = log(-low / high) when low < 0 < high
    (so raw = 0 gives log sigma = 0, unit width, as a zero-initialised layer starts), else 0.

    A clamp cuts the gradient at its bound: a width the entropy term pushed there stayed there,
    whatever the reward asked. Here d log sigma / d raw = (high - low) s (1 - s) > 0 everywhere,
    and it scales every term's gradient alike, so where the terms balance inside the bounds is
    unchanged and Adam (which follows the sign of the sum) can always bring the width back.
    Shape [...] -> [...].
    """
    offset = math.log(-low / high) if low < 0.0 < high else 0.0
    return low + (high - low) * torch.sigmoid(raw + offset)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor):
    """Diagonal Gaussian log density summed over the last dim: [..., Z] -> [...].

    torch.distributions.Normal's log_prob, operation for operation (so the same numbers), without
    its argument checks: they read a value back to the CPU, which a CUDA graph cannot hold."""
    scale = log_std.exp()
    log_density = (
        -((z - mean) ** 2) / (2 * scale**2) - scale.log() - math.log(math.sqrt(2 * math.pi))
    )
    return log_density.sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian entropy summed over the last dim (nats): [..., Z] -> [...]."""
    return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
