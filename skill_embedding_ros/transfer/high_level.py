"""The high-level policy HL(z|s) over a frozen embedding space, and its critic Q_H(s, z).

Two policies share one interface (params from a state; sample, log-probability, entropy and
the expected critic value of z):

* `EmbeddingPolicy` (the method): a distribution of the skills' own family over R^Z (Gaussian)
  or over codes (Bernoulli), parameterized by an MLP of the state; it is p(z|t) with the task id
  replaced by the state, and reuses the same `Latent` (reparameterized / straight-through).
* `SelectionPolicy` (the baseline): a categorical over the T pre-training task ids, id k
  standing for its task's code z_k (`task_codes`). Its expectations are exact sums over ids.
"""

from __future__ import annotations

import torch
from torch import nn

from skill_embedding_ros.agent.networks import Latent, mlp, z_features

MATCH = 1e-6
"""Largest difference (z units) between a replayed z and a task's code that still names that
code: z is stored as float32 copies of the codes, so a match is exact up to round-off."""


def task_codes(latent: Latent, params: torch.Tensor) -> torch.Tensor:
    """Each task's representative z from its embedding parameters [T, P] -> [T, Z]: the mean of
    a Gaussian p(z|t), the most probable code of a Bernoulli one (its mean, a probability per
    bit, is no code the skills were trained on)."""
    if latent.family == "gaussian":
        return latent.split(params)[0]
    if latent.family == "bernoulli":
        return (params > 0).to(params.dtype)
    raise ValueError(f"no task codes for embedding family {latent.family!r}")


BOX_WIDTHS = 2.0
"""Standard deviations around each task's mean that the box of a Gaussian HL's mean spans."""


def embedding_box(latent: Latent, params: torch.Tensor, widths: float = BOX_WIDTHS):
    """Where the skills were trained, per z dimension: from min_t (mu_t - w sigma_t) to
    max_t (mu_t + w sigma_t) over the tasks' Gaussians p(z|t). params [T, 2Z] ->
    (centre [Z], half-width [Z]). A Gaussian HL keeps its mean inside it: outside, neither the
    skills nor Q_H were ever trained, and the SVG follows the critic's extrapolation there (an
    unbounded mean was measured running to z ~ 1e3 within 10 k steps, Q_H at 285 where at most
    about 50 is reachable)."""
    mean, log_std = latent.split(params)
    low = (mean - widths * log_std.exp()).min(0).values
    high = (mean + widths * log_std.exp()).max(0).values
    return (low + high) / 2, (high - low) / 2


def selection_log_prob(logits: torch.Tensor, codes: torch.Tensor, z: torch.Tensor):
    """log b(z|s) of a z chosen by a categorical over ids: log sum_{k: z_k = z} pi_k(s).

    Several ids may share one code (two identical pre-training tasks): z then has their summed
    probability. A z that is no code has -inf (its trace weight becomes 0).
    logits [..., T], codes [T, Z], z [..., Z] -> [...].
    """
    match = ((z.unsqueeze(-2) - codes).abs() <= MATCH).all(-1)  # [..., T]
    log_pi = torch.log_softmax(logits, -1)
    return torch.logsumexp(log_pi.masked_fill(~match, float("-inf")), -1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H = -sum_k pi_k log pi_k (nats): [..., T] -> [...]."""
    log_pi = torch.log_softmax(logits, -1)
    return -(log_pi.exp() * log_pi).sum(-1)


def categorical_expectation(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """E_{k ~ pi} [v_k] = sum_k pi_k v_k, exact: [..., T] x2 -> [...]. Its gradient with
    respect to the logits is the exact policy gradient over ids (no sampling needed)."""
    return (torch.softmax(logits, -1) * values).sum(-1)


class SkillsState:
    """The state as the high-level networks read it: its first `dim` entries (the skills'
    observation) standardized by the skills' frozen normalizer, the rest as they are. Given to
    a network by `read_states_as`, not registered: the statistics are saved and broadcast once,
    with the skills, never as high-level weights."""

    def __init__(self, normalizer: nn.Module, dim: int):
        self.normalizer, self.dim = normalizer, dim

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        head = self.normalizer(obs[..., : self.dim])
        return torch.cat([head, obs[..., self.dim :]], -1) if obs.shape[-1] > self.dim else head


def read_states_as(net: nn.Module, state: SkillsState | None) -> nn.Module:
    """`net` reads its state input through `state` from now on (None: raw)."""
    net.__dict__["state"] = state
    return net


def _state(net: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    state = net.__dict__.get("state")
    return obs if state is None else state(obs)


class HighLevelCritic(nn.Module):
    """Q_H(s, z): the value of holding z for K steps from s, then following HL. z enters as it
    enters the skills' networks (Bernoulli bits as +-code_scale, networks.z_features)."""

    def __init__(self, obs_dim: int, z_dim: int, hidden: tuple[int, ...], family: str, scale):
        super().__init__()
        self.family, self.scale = family, scale
        self.net = mlp(obs_dim + z_dim, tuple(hidden), 1)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """[..., S], [..., Z] -> [...]"""
        x = torch.cat([_state(self, obs), z_features(z, self.family, self.scale)], -1)
        return self.net(x).squeeze(-1)

    def each(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every critic's value, each to regress on the targets (here one)."""
        return (self(obs, z),)


class TwinCritic(nn.Module):
    """Two `HighLevelCritic`s: called, the smaller value (what targets and the policy use);
    `each` gives both, each for its own regression."""

    def __init__(self, *args):
        super().__init__()
        self.first, self.second = HighLevelCritic(*args), HighLevelCritic(*args)

    def each(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.first(obs, z), self.second(obs, z)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.minimum(*self.each(obs, z))


class EmbeddingPolicy(nn.Module):
    """HL(z|s) in the skills' family: an MLP of the state -> `Latent` parameters. A Gaussian's
    mean is squashed into the box the skills were trained in (`embedding_box`: centre +
    half-width * tanh), its width bounded as the embedding's."""

    def __init__(self, obs_dim: int, latent: Latent, hidden: tuple[int, ...], box=None):
        super().__init__()
        if latent.fixed:
            raise ValueError("skills without an embedding (family none) have no z to choose")
        if (latent.family == "gaussian") != (box is not None):
            raise ValueError("a Gaussian HL needs the skills' box (embedding_box), no other")
        self.latent = latent
        self.net = mlp(obs_dim, tuple(hidden), latent.param_dim)
        if box is not None:
            self.register_buffer("centre", box[0].detach().clone())
            self.register_buffer("half_width", box[1].detach().clone())
        # Start in the middle of the trained box with unit width, or at fair coins, everywhere.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., S] -> params [..., P]"""
        out = self.net(_state(self, obs))
        if self.latent.family != "gaussian":
            return out
        raw_mean, raw_log_std = out.chunk(2, -1)
        return torch.cat([self.centre + self.half_width * torch.tanh(raw_mean), raw_log_std], -1)

    def log_prob(self, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.latent.log_prob(params, z)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        return self.latent.entropy(params)

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """(z [N, Z], log b(z|s) [N]) to act with."""
        params = self(obs)
        z = self.latent.sample(params, generator)
        return z, self.latent.log_prob(params, z)

    def expected_q(self, critic, obs: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """E_{z ~ HL(.|s)} Q(s, z), one reparameterized sample (the gradient reaches the
        params through z, as the embedding's SVG): [..., S], [..., P] -> [...]"""
        return critic(obs, self.latent.rsample(params))


class SelectionPolicy(nn.Module):
    """HL(k|s): a categorical over pre-training task ids; id k acts as the frozen code z_k."""

    def __init__(self, obs_dim: int, codes: torch.Tensor, hidden: tuple[int, ...]):
        super().__init__()
        self.register_buffer("codes", codes.detach().clone())
        self.net = mlp(obs_dim, tuple(hidden), len(codes))
        nn.init.zeros_(self.net[-1].weight)  # uniform over ids at the start
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., S] -> logits [..., T]"""
        return self.net(_state(self, obs))

    def log_prob(self, logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return selection_log_prob(logits, self.codes, z)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        return categorical_entropy(logits)

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """(z [N, Z] = the chosen ids' codes, log b(z|s) [N])."""
        logits = self(obs)
        ids = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)
        z = self.codes[ids]
        return z, self.log_prob(logits, z)

    def expected_q(self, critic, obs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """sum_k pi_k(s) Q(s, z_k), exact: [..., S], [..., T] -> [...]"""
        lead = obs.shape[:-1]
        n, z_dim = self.codes.shape
        obs_k = obs.unsqueeze(-2).expand(*lead, n, obs.shape[-1])
        q = critic(obs_k, self.codes.expand(*lead, n, z_dim))  # [..., T]
        return categorical_expectation(logits, q)
