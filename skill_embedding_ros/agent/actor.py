"""Actor logic: draw z from p(z|t), hold it, act with pi(a|s,z), and assemble episodes with the
behaviour log-probabilities Retrace needs. ROS-free; the skill-policy node reuses these pieces."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from skill_embedding_ros.agent.distributions import tanh_gaussian_log_prob
from skill_embedding_ros.data.replay import Episode


@torch.no_grad()
def draw_z(embedding, task: np.ndarray, generator: torch.Generator | None = None):
    """Sample z ~ p(z|t) for each task id. Returns (z [N, Z], log b(z|t) [N]) as numpy."""
    params = embedding(torch.as_tensor(task, dtype=torch.int64))
    z = embedding.latent.sample(params, generator)
    return z.numpy(), embedding.latent.log_prob(params, z).numpy()


@torch.no_grad()
def act(
    policy,
    obs: np.ndarray,
    z: np.ndarray,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
):
    """a ~ pi(.|s, z) (or tanh of the mean). Returns (a [N, A], log b(a|s,z) [N]) as numpy.

    A deterministic action gets log b = nan: it has no density, and must not train a critic.
    """
    mean, log_std = policy(torch.as_tensor(obs), torch.as_tensor(z))
    if deterministic:
        return torch.tanh(mean).numpy(), np.full(len(obs), np.nan, np.float32)
    noise = torch.randn(mean.shape, generator=generator)
    u = mean + log_std.exp() * noise
    return torch.tanh(u).numpy(), tanh_gaussian_log_prob(u, mean, log_std).numpy()


class EpisodeBuilder:
    """Accumulates one episode step by step and hands it out as an `Episode`."""

    def __init__(self, obs: np.ndarray, task: int):
        self.task = task
        self.obs = [np.asarray(obs, np.float32)]
        self.steps: list[tuple] = []

    def add(
        self, action, reward, terminal, next_obs, z, log_b_z, log_b_a, z_drawn, intervention=False
    ) -> None:
        self.steps.append((action, reward, terminal, z, log_b_z, log_b_a, z_drawn, intervention))
        self.obs.append(np.asarray(next_obs, np.float32))

    def __len__(self) -> int:
        return len(self.steps)

    def build(self) -> Episode:
        cols = list(zip(*self.steps, strict=True))
        return Episode(
            obs=np.stack(self.obs),
            action=np.stack(cols[0]).astype(np.float32),
            reward=np.asarray(cols[1], np.float32),
            terminal=np.asarray(cols[2], bool),
            task=self.task,
            z=np.stack(cols[3]).astype(np.float32),
            log_b_z=np.asarray(cols[4], np.float32),
            log_b_a=np.asarray(cols[5], np.float32),
            z_drawn=np.asarray(cols[6], bool),
            intervention=np.asarray(cols[7], bool),
        )


class Actor:
    """Steps a batch of Gymnasium envs with one batched policy call per step.

    z is drawn at each episode start and redrawn every `z_hold` steps (0: held all episode).
    Envs report their task id in `info["task"]`.
    """

    def __init__(
        self,
        make_env: Callable[[int], object],
        n_envs: int,
        embedding,
        policy,
        z_hold: int = 0,
        seed: int = 0,
        deterministic: bool = False,
    ):
        self.envs = [make_env(seed * 10_000 + i) for i in range(n_envs)]
        self.embedding, self.policy = embedding, policy
        self.z_hold, self.deterministic = z_hold, deterministic
        self.generator = torch.Generator().manual_seed(seed)
        self.builders: list[EpisodeBuilder | None] = [None] * n_envs
        self.obs = np.zeros((n_envs, self.envs[0].observation_space.shape[0]), np.float32)
        self.z = np.zeros((n_envs, embedding.latent.z_dim), np.float32)
        self.log_b_z = np.zeros(n_envs, np.float32)
        self.age = np.zeros(n_envs, np.int64)
        for i, env in enumerate(self.envs):
            obs, info = env.reset(seed=seed * 10_000 + i)
            self._begin(i, obs, info["task"])

    def _begin(self, i: int, obs, task: int) -> None:
        self.obs[i] = obs
        self.age[i] = 0
        self.builders[i] = EpisodeBuilder(obs, task)

    def load_state_dict(self, embedding_state: dict, policy_state: dict) -> None:
        self.embedding.load_state_dict(embedding_state)
        self.policy.load_state_dict(policy_state)

    def step(self) -> list[Episode]:
        """Advance every env one control step; return the episodes that ended."""
        redraw = (self.age == 0) | ((self.z_hold > 0) & (self.age % max(self.z_hold, 1) == 0))
        if redraw.any():
            tasks = np.array([b.task for b in self.builders])[redraw]
            self.z[redraw], self.log_b_z[redraw] = draw_z(self.embedding, tasks, self.generator)
        actions, log_b_a = act(self.policy, self.obs, self.z, self.deterministic, self.generator)
        done = []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(actions[i])
            self.builders[i].add(
                actions[i],
                reward,
                terminated,
                obs,
                self.z[i].copy(),
                self.log_b_z[i],
                log_b_a[i],
                bool(redraw[i]),
            )
            self.obs[i] = obs
            self.age[i] += 1
            if terminated or truncated:
                done.append(self.builders[i].build())
                obs, info = env.reset()
                self._begin(i, obs, info["task"])
        return done
