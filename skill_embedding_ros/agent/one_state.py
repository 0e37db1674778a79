"""The skill policy acting on one state, in numpy: what a skill-policy node runs each control step.

`act` (agent/actor.py) computes a ~ pi(.|s, z) and log b(a|s,z) with torch, some forty operators
for one state. At a batch of one their arithmetic is a few thousand multiply-adds, and torch's
dispatch around each operator costs more than all of it: a node's core acted in 63 us with this
and in 227 us through `act` (benchmarks/results_graph.json, `acting_one_state`), where a composed
actor's whole step took 710 us (docs/speed.md, "The lockstep graph"). The in-process actor and
evaluation act on batches and keep `act`, so their numbers do not move.

The same math as `PolicyNet.forward` and `act`: the observation normalizer, the z features, the
MLP, the clamped log std, the tanh-squashed Gaussian and its log-probability, with the noise drawn
from the same torch generator (a seed gives the same noise stream). Not bit for bit: numpy's
float32 products and transcendental functions round differently from torch's, so actions and
log-probabilities agree to about 1e-5 (test/test_one_state.py), as two BLAS libraries do.

The weights are numpy views of the module's tensors: `load_state_dict` copies into those tensors
in place, so weights a node loads between episodes are the ones used here, without a copy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from skill_embedding_ros.agent.normalizer import CLIP, MIN_STD

HALF_LOG_2PI = np.float32(0.5 * math.log(2 * math.pi))
LOG_2 = np.float32(math.log(2.0))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0))


ACTIVATIONS = {nn.ELU: _elu, nn.ReLU: _relu}
"""numpy versions of networks.ACTIVATIONS (ELU with torch's default alpha of 1)."""


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


class OneStatePolicy:
    """pi(a|s,z) of a `PolicyNet` for one state at a time: called as `act` is, without the
    policy argument: (obs [1, S], z [1, Z], deterministic, generator) -> (a [1, A], log b [1]).

    `obs_dim`: read only the first `obs_dim` entries of an observation (a transfer suite's
    observation extends the skills' own, transfer/skills.py `PrefixPolicy`)."""

    def __init__(self, policy, obs_dim: int | None = None):
        self.layers = []
        for module in policy.net:
            if isinstance(module, nn.Linear):
                self.layers.append((_view(module.weight), _view(module.bias)))
            elif type(module) in ACTIVATIONS:
                self.layers.append(ACTIVATIONS[type(module)])
            else:
                raise TypeError(f"no numpy version of {type(module).__name__} in a policy")
        norm = policy.obs_norm
        self.norm = None if norm is None else (_view(norm.mean), _view(norm.var))
        self.bernoulli = policy.family == "bernoulli"
        self.code_scale = np.float32(policy.code_scale)
        self.log_std_bounds = tuple(np.float32(b) for b in policy.log_std_bounds)
        self.obs_dim = obs_dim

    def __call__(
        self,
        obs: np.ndarray,
        z: np.ndarray,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ):
        if len(obs) != 1:
            raise ValueError(f"OneStatePolicy acts on one state, got {len(obs)}")
        mean, log_std = self.forward(obs[0, : self.obs_dim], z[0])
        if deterministic:
            return np.tanh(mean)[None], np.full(1, np.nan, np.float32)
        noise = torch.randn((1, len(mean)), generator=generator).numpy()[0]
        std = np.exp(log_std)
        u = mean + std * noise
        gauss = np.float32(-0.5) * ((u - mean) / std) ** 2 - log_std - HALF_LOG_2PI
        jacobian = np.float32(2.0) * (LOG_2 - u - np.logaddexp(np.float32(0), -2 * u))
        return np.tanh(u)[None], np.sum(gauss - jacobian, dtype=np.float32)[None]

    def forward(self, obs: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[S], [Z] -> (mean, log std), each [A]: `PolicyNet.forward` for one state."""
        obs = np.asarray(obs, np.float32)
        if self.norm is not None:
            mean, var = self.norm
            std = np.maximum(np.sqrt(var), MIN_STD)
            obs = np.minimum(np.maximum((obs - mean) / std, -CLIP), CLIP)
        if self.bernoulli:
            z = self.code_scale * (np.float32(2.0) * z - np.float32(1.0))
        x = np.concatenate((obs, np.asarray(z, np.float32)))
        for layer in self.layers:
            x = layer[0] @ x + layer[1] if type(layer) is tuple else layer(x)
        half = len(x) // 2
        low, high = self.log_std_bounds  # np.clip's own checks cost more than the clip
        return x[:half], np.minimum(np.maximum(x[half:], low), high)
