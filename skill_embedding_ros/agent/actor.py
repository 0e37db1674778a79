"""The actor core: where z comes from, how long it is held, the action, and what a step records.

One `ActorCore` serves every actor: the in-process `Actor` below (a batch of Gymnasium envs), the
skill-policy node (one robot through ROS topics) and evaluation. The z source is an interface:
pre-training draws z ~ p(z|t) from the embedding (`EmbeddingZ`); transfer plugs in a high-level
policy z = f(s) the same way.

What gets recorded depends on whose command went out (`settle`). The policy's own, limited by a
gate or clipped by a scene or not, is recorded as the policy chose it, with its log b(a|s,z): the
limit is a function of the state and the action, part of the environment as a joint's range is.
Recorded as what the gate sent instead, 45 % of a Jaco graph's steps carried an action the
policy never proposes, and no log b; the critic never saw what the policy did propose at a limit,
and its values ran to 146 where the in-process loop's held 45 (docs/jaco_pretraining.md).
Someone else's command (a takeover: the operator's, a stop) is recorded as executed, with log
b(a|s,z) NaN, which cuts the Retrace trace there (agent/losses.py), and flagged an intervention,
which agent.imitation clones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


class ZSource(Protocol):
    """Where an actor's z comes from, drawn at episode starts and every `z_hold` steps."""

    def draw(self, task: np.ndarray, obs: np.ndarray, generator: torch.Generator):
        """(task ids [N], observations [N, S]) -> (z [N, Z], log b(z|t) [N])."""


class EmbeddingZ:
    """Pre-training: z ~ p(z|t) from the embedding network (the state is not used)."""

    def __init__(self, embedding):
        self.embedding = embedding

    def draw(self, task: np.ndarray, obs: np.ndarray, generator: torch.Generator):
        return draw_z(self.embedding, task, generator)


@dataclass
class Decision:
    """What the core decided for a batch of slots at one step (arrays indexed by slot)."""

    action: np.ndarray
    """[N, A] the policy's proposal, in [-1, 1]."""
    log_b_a: np.ndarray
    z: np.ndarray
    log_b_z: np.ndarray
    z_drawn: np.ndarray


def settle(proposed: np.ndarray, log_b_a: float, executed: np.ndarray, *, takeover: bool):
    """(recorded action, log b(a|s,z), intervention) for one step. `takeover`: the command that
    went out was someone else's (the operator's, a stop), not the policy's own, limited or not."""
    if takeover:
        return np.asarray(executed, np.float32), float("nan"), True
    return np.asarray(proposed, np.float32), log_b_a, False


class ActorCore:
    """z source, z hold and the policy for `slots` parallel episodes.

    z is drawn at each episode start and redrawn every `z_hold` steps (0: held all episode).
    `one_state`: act with this instead of `act` (a skill-policy node's single state:
    agent/one_state.py); it is called as `act` is, without the policy.
    """

    def __init__(
        self,
        z_source: ZSource,
        policy,
        slots: int,
        z_dim: int,
        z_hold: int = 0,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        one_state: Callable | None = None,
    ):
        self.z_source, self.policy, self.one_state = z_source, policy, one_state
        self.z_hold, self.deterministic = z_hold, deterministic
        self.generator = generator if generator is not None else torch.Generator()
        self.task = np.zeros(slots, np.int64)
        self.age = np.zeros(slots, np.int64)
        self.z = np.zeros((slots, z_dim), np.float32)
        self.log_b_z = np.zeros(slots, np.float32)

    def begin(self, slot: int, task: int) -> None:
        """A new episode of `task` in `slot`: its next step draws a z."""
        self.task[slot], self.age[slot] = task, 0

    def act(self, obs: np.ndarray) -> Decision:
        """One step of every slot: draw z where due, then a ~ pi(.|s, z)."""
        hold = max(self.z_hold, 1)
        drawn = (self.age == 0) | ((self.z_hold > 0) & (self.age % hold == 0))
        if drawn.any():
            self.z[drawn], self.log_b_z[drawn] = self.z_source.draw(
                self.task[drawn], obs[drawn], self.generator
            )
        if self.one_state is not None:
            action, log_b_a = self.one_state(obs, self.z, self.deterministic, self.generator)
        else:
            action, log_b_a = act(self.policy, obs, self.z, self.deterministic, self.generator)
        self.age += 1
        return Decision(action, log_b_a, self.z.copy(), self.log_b_z.copy(), drawn)


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
        generator = torch.Generator().manual_seed(seed)
        z_dim = embedding.latent.z_dim
        self.core = ActorCore(
            EmbeddingZ(embedding), policy, n_envs, z_dim, z_hold, deterministic, generator
        )
        self.builders: list[EpisodeBuilder | None] = [None] * n_envs
        self.obs = np.zeros((n_envs, self.envs[0].observation_space.shape[0]), np.float32)
        for i, env in enumerate(self.envs):
            obs, info = env.reset(seed=seed * 10_000 + i)
            self._begin(i, obs, info["task"])

    def _begin(self, i: int, obs, task: int) -> None:
        self.obs[i] = obs
        self.core.begin(i, task)
        self.builders[i] = EpisodeBuilder(obs, task)

    def load_state_dict(self, embedding_state: dict, policy_state: dict) -> None:
        self.embedding.load_state_dict(embedding_state)
        self.policy.load_state_dict(policy_state)

    def step(self) -> list[Episode]:
        """Advance every env one control step; return the episodes that ended."""
        d = self.core.act(self.obs)
        done = []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(d.action[i])
            # In process nobody takes over: a scene's clip is the environment's (`settle`).
            self.builders[i].add(
                d.action[i],
                reward,
                terminated,
                obs,
                d.z[i],
                d.log_b_z[i],
                d.log_b_a[i],
                bool(d.z_drawn[i]),
            )
            self.obs[i] = obs
            if terminated or truncated:
                done.append(self.builders[i].build())
                obs, info = env.reset()
                self._begin(i, obs, info["task"])
        return done
