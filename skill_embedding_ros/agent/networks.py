"""The four networks of the method: embedding p(z|t), skill policy pi(a|s,z), inference
q(z|a,s^H) and critic Q(s,a;z,t).

Embedding and inference output distributions over z of the same family, handled by `Latent`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn

from skill_embedding_ros.agent import distributions as D
from skill_embedding_ros.agent.normalizer import Normalizer
from skill_embedding_ros.settings.run import AgentConfig

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
"""Hidden-layer activations: ELU is the paper's; ReLU is cheaper on a CPU (benchmarks)."""


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""agent.precision -> the dtype a learner's layers compute in under torch.autocast (None:
float32 throughout, the paper's and every result row's)."""


def precision_warning(precision: str, device: torch.device | str) -> str:
    """Why agent.precision would slow this learner down, or "". Without bfloat16 arithmetic
    torch's products fall back to a slow path: an update takes several times float32's time
    (docs/speed.md, "Mixed precision", measured on an AVX2 CPU)."""
    if PRECISIONS[precision] is None:
        return ""
    device = torch.device(device)
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":  # oneDNN's own test: AVX512 at least (AVX512-BF16, AMX: fast)
        supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    else:
        return ""  # no test for it here: the user's measurement decides
    if supported:
        return ""
    needs = " (it needs AVX512; AVX512-BF16 or AMX to be fast)" if device.type == "cpu" else ""
    return (
        f"agent.precision: {precision}, but this {device.type.upper()} has no {precision} "
        f"arithmetic torch can use{needs}: the learner's matrix products take a slow fallback "
        "(an update takes several times float32's: docs/speed.md); use float32 here"
    )


class MLP(nn.Sequential):
    """Linear layers with an activation between them; its parameters and state_dict are a plain
    nn.Sequential's.

    `autocast`: None, or a lower precision the layers compute in (set by the learner for its
    updates: `layers_in`, agent.precision). Weights and output stay float32, so the losses and
    the optimizer around it do not change. Each call opens and closes its own autocast region:
    autocast caches its casts of the weights until its region closes, and the learner steps one
    network's weights between passes through another (a region around the whole update would
    hand the policy's loss the critic's weights from before the critic's step)."""

    autocast: torch.dtype | None = None
    compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
    """None, or `layers` under torch.compile (set by the learner for its updates: `layers_in`,
    agent.compile), which `forward` calls instead."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) if self.compiled is None else self.compiled(x)

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        if self.autocast is None:
            return super().forward(x)
        # No cast cache: a pass casts each weight once anyway, and a CUDA graph's capture must
        # not keep casts that outlive it (torch.cuda.graphs, autocast).
        with torch.autocast(x.device.type, dtype=self.autocast, cache_enabled=False):
            return super().forward(x).float()


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int, activation: str = "elu") -> MLP:
    """Multilayer perceptron, `activation` between the layers (ELU: the paper's)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(inputs, width), ACTIVATIONS[activation]()]
        inputs = width
    layers.append(nn.Linear(inputs, outputs))
    return MLP(*layers)


def compile_problem(device: torch.device | str) -> str:
    """Why agent.compile cannot run on `device`, or "". On a CPU, inductor builds its kernels
    with a C++ compiler and Python's headers: a first tiny function is compiled to find out (a
    second or two, once), rather than failing at the learner's first update."""
    if torch.device(device).type != "cpu":
        return ""
    try:
        torch.compile(_probe, dynamic=False)(torch.ones(2))
    except Exception as err:  # inductor raises many kinds for a missing tool
        text = str(err).strip()
        first = text.splitlines()[0][:200] if text else type(err).__name__
        return (
            f"agent.compile: torch.compile cannot build kernels on this CPU ({first}); it needs "
            "a C++ compiler and Python's headers (Debian: apt install g++ python3-dev), or set "
            "agent.compile: false"
        )
    return ""


def _probe(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x) + 1.0


def compiled_layers(module: nn.Module) -> dict[MLP, Callable]:
    """Each MLP of `module` -> its layers under torch.compile (agent.compile). torch.compile
    compiles on a first call, for each shape it meets (dynamic=False: an update's few shapes
    recur every update)."""
    return {
        net: torch.compile(net.layers, dynamic=False)
        for net in module.modules()
        if isinstance(net, MLP)
    }


@contextmanager
def layers_in(module: nn.Module, precision: str, compiled: dict[MLP, Callable] | None = None):
    """Inside, every MLP of `module` computes its layers in `precision` (agent.precision), and
    through `compiled` (`compiled_layers`, agent.compile) where given; on leaving, float32 and
    eager again, so whatever else runs these networks (an actor sharing the policy, an
    evaluation, a checkpoint) sees plain float32 networks."""
    dtype = PRECISIONS[precision]
    nets = []
    if dtype is not None or compiled:
        nets = [net for net in module.modules() if isinstance(net, MLP)]
    for net in nets:
        net.autocast = dtype
        net.compiled = compiled.get(net) if compiled else None
    try:
        yield
    finally:
        for net in nets:
            net.autocast = net.compiled = None


FAMILIES = ("gaussian", "bernoulli", "none")


class Latent:
    """A distribution family over z, parameterized by a raw network output.

    Gaussian: params [..., 2Z] = (mean, raw log_std). Bernoulli: params [..., Z] = logits.
    none (the no-embedding ablation): params [..., Z] are ignored; z is always zeros, a point
    mass, so log p(z) = 0 and H = 0 and nothing downstream changes shape.
    """

    def __init__(self, family: str, z_dim: int, log_std_bounds=(-5.0, 1.0), temperature=0.5):
        if family not in FAMILIES:
            raise ValueError(f"embedding family must be one of {FAMILIES}, got {family!r}")
        self.family, self.z_dim = family, z_dim
        self.log_std_bounds, self.temperature = log_std_bounds, temperature

    @property
    def param_dim(self) -> int:
        return 2 * self.z_dim if self.family == "gaussian" else self.z_dim

    @property
    def fixed(self) -> bool:
        """z is a constant (family none): there is no p(z|t) or q(z|...) to train."""
        return self.family == "none"

    def split(self, params):
        """Gaussian params [..., 2Z] -> (mean, log_std), each [..., Z], log_std smoothly within
        log_std_bounds (distributions.bounded_log_std: a clamp would cut the width's gradient)."""
        mean, raw = params.chunk(2, dim=-1)
        return mean, D.bounded_log_std(raw, *self.log_std_bounds)

    def _zeros(self, params: torch.Tensor) -> torch.Tensor:
        """[..., P] -> [...]: log p and H of the point mass (family none)."""
        return torch.zeros(params.shape[:-1], dtype=params.dtype, device=params.device)

    def log_prob(self, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """[..., P], [..., Z] -> [...]"""
        if self.family == "gaussian":
            return D.gaussian_log_prob(z, *self.split(params))
        if self.fixed:
            return self._zeros(params)
        return D.bernoulli_log_prob(z, params)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        """[..., P] -> [...] (nats)"""
        if self.family == "gaussian":
            return D.gaussian_entropy(self.split(params)[1])
        if self.fixed:
            return self._zeros(params)
        return D.bernoulli_entropy(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None):
        """Sample without gradient, as actors do (Bernoulli: hard bits): [..., P] -> [..., Z]"""
        with torch.no_grad():
            if self.fixed:
                return torch.zeros_like(params)
            if self.family == "gaussian":
                mean, log_std = self.split(params)
                noise = torch.randn(
                    mean.shape, generator=generator, dtype=mean.dtype, device=mean.device
                )
                return mean + log_std.exp() * noise
            u = torch.rand(
                params.shape, generator=generator, dtype=params.dtype, device=params.device
            )
            return (u < torch.sigmoid(params)).to(params.dtype)

    def rsample(self, params: torch.Tensor) -> torch.Tensor:
        """Sample with a pathwise gradient (reparameterized / straight-through relaxed)."""
        if self.fixed:
            return torch.zeros_like(params)
        if self.family == "gaussian":
            mean, log_std = self.split(params)
            return mean + log_std.exp() * torch.randn_like(mean)
        return D.relaxed_bernoulli_st(params, self.temperature)

    def kl(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """KL(p || q) between two parameter sets: [..., P] x2 -> [...]"""
        if self.fixed:
            return self._zeros(p + q)  # one point mass: both broadcast to the pairs' shape
        if self.family == "gaussian":
            (m1, s1), (m2, s2) = self.split(p), self.split(q)
            var1, var2 = (2 * s1).exp(), (2 * s2).exp()
            return (s2 - s1 + (var1 + (m1 - m2) ** 2) / (2 * var2) - 0.5).sum(-1)
        p1 = torch.sigmoid(p)
        lp1, lp0 = nn.functional.logsigmoid(p), nn.functional.logsigmoid(-p)
        lq1, lq0 = nn.functional.logsigmoid(q), nn.functional.logsigmoid(-q)
        return (p1 * (lp1 - lq1) + (1 - p1) * (lp0 - lq0)).sum(-1)


class Embedding(nn.Module):
    """p_phi(z|t): a linear map from the one-hot task id to the distribution's parameters."""

    def __init__(self, num_tasks: int, latent: Latent):
        super().__init__()
        self.num_tasks, self.latent = num_tasks, latent
        self.linear = nn.Linear(num_tasks, latent.param_dim)
        # Start every task at the same maximally spread distribution: zero mean and unit std
        # (Gaussian) or fair coins (Bernoulli), so no code is favoured before any reward is seen.
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, task: torch.Tensor) -> torch.Tensor:
        """task: [...] int64 -> params [..., P]"""
        return self.linear(nn.functional.one_hot(task, self.num_tasks).float())


def z_features(z: torch.Tensor, family: str, scale: float = 1.0) -> torch.Tensor:
    """How z enters the policy and the critic. Bernoulli bits go in as +-scale (relaxed: in
    (-scale, scale)), so every code has the same norm and the four codes of two bits sit
    symmetrically around 0, instead of code 00 being a zero input that the other codes are
    offsets from. A larger scale makes the untrained networks treat the codes more differently
    (AgentConfig.code_scale)."""
    return scale * (2.0 * z - 1.0) if family == "bernoulli" else z


def share(net: nn.Module, obs_norm: Normalizer | None) -> None:
    """Give `net` another network's observation normalizer without registering it, so its
    statistics are saved (and broadcast) once, with the policy that owns them."""
    net.__dict__["obs_norm"] = obs_norm


def normalized(net: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    """`obs` as `net` reads it: standardized when the run normalizes (agent.normalize)."""
    return obs if net.obs_norm is None else net.obs_norm(obs)


class PolicyNet(nn.Module):
    """pi_theta(a|s,z): tanh-squashed Gaussian over actions in [-1, 1]."""

    def __init__(self, obs_dim: int, z_dim: int, action_dim: int, cfg: AgentConfig):
        super().__init__()
        self.net = mlp(obs_dim + z_dim, cfg.hidden, 2 * action_dim, cfg.activation)
        # The policy keeps the hard clamp of its log std: a smooth bound here would change every
        # trained row, Bernoulli ones included. The embedding's width is the one measured stuck
        # at its clamp (distributions.bounded_log_std); the action width's is not measured.
        self.log_std_bounds = cfg.log_std_bounds
        self.family, self.code_scale = cfg.embedding, cfg.code_scale
        # The policy owns the statistics (agent/normalizer.py): they travel with its weights.
        self.obs_norm = Normalizer(obs_dim) if cfg.normalize else None

    def forward(self, obs: torch.Tensor, z: torch.Tensor):
        """[..., S], [..., Z] -> (mean, log_std), each [..., A] (pre-squash)."""
        x = torch.cat([normalized(self, obs), z_features(z, self.family, self.code_scale)], -1)
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std.clamp(*self.log_std_bounds)

    def log_prob(self, obs, z, action) -> torch.Tensor:
        """log pi(action | obs, z) of stored actions in [-1, 1]: -> [...]"""
        mean, log_std = self(obs, z)
        return D.tanh_gaussian_log_prob(D.atanh_clipped(action), mean, log_std)


class InferenceNet(nn.Module):
    """q_psi(z | a, s^H): infers the skill from a window of the last H states and actions.

    It takes no task id, by construction: a trajectory alone must identify its z.
    """

    def __init__(
        self, obs_dim: int, action_dim: int, latent: Latent, cfg: AgentConfig, obs_norm=None
    ):
        super().__init__()
        self.latent = latent
        share(self, obs_norm)
        self.use_actions = cfg.inference_actions
        step_dim = obs_dim + (action_dim if self.use_actions else 0) + 1
        self.net = mlp(cfg.history * step_dim, cfg.hidden, latent.param_dim, cfg.activation)

    def forward(self, obs_window, action_window, valid) -> torch.Tensor:
        """[..., H, S], [..., H, A], [..., H] (1 where the step exists) -> params [..., P]"""
        if self.obs_norm is not None:  # padding stays zeros: `valid` says where steps are
            obs_window = self.obs_norm(obs_window) * valid.unsqueeze(-1)
        parts = [obs_window, action_window] if self.use_actions else [obs_window]
        x = torch.cat([*parts, valid.unsqueeze(-1)], -1)
        return self.net(x.flatten(-2))


class Critic(nn.Module):
    """Q(s, a; z, t)."""

    def __init__(
        self, obs_dim: int, action_dim: int, z_dim: int, num_tasks: int, cfg, obs_norm=None
    ):
        super().__init__()
        self.num_tasks, self.family = num_tasks, cfg.embedding
        share(self, obs_norm)
        self.code_scale = cfg.code_scale
        inputs = obs_dim + action_dim + z_dim + num_tasks
        self.net = mlp(inputs, cfg.critic_hidden, 1, cfg.activation)

    def forward(self, obs, action, z, task) -> torch.Tensor:
        """[..., S], [..., A], [..., Z], [...] int64 -> [...]"""
        onehot = nn.functional.one_hot(task, self.num_tasks).float()
        z = z_features(z, self.family, self.code_scale)
        x = torch.cat([normalized(self, obs), action, z, onehot], -1)
        return self.net(x).squeeze(-1)
