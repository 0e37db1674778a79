"""Evaluation episodes of one task, run by anything that acts like an `ActorCore`.

The thing that acts is an *agent*: `begin(slot, task_id)` at each episode start, then
`act(obs [N, S])` once per step, returning a decision with `.action` [N, A] in [-1, 1] and `.z`
[N, Z] (the skill it acts under; a policy without skills may return [N, 0]). `nets_agent` builds
one from a run's networks; another method (e.g. a plain stochastic policy) brings its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from skill_embedding_ros.agent.actor import ActorCore, EmbeddingZ
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.scoring import STAY_SHARE, strict_outcomes, touched_outcomes
from skill_embedding_ros.tasks.suite import TaskSuite

EVAL_SEED = 12345
"""Seeds every evaluation: task t's episodes start from EVAL_SEED + 1000 t (evaluate_agent), so
runs, checkpoints and methods meet the same start states."""


class Agent(Protocol):
    """What evaluation drives: the `ActorCore` interface."""

    def begin(self, slot: int, task: int) -> None: ...

    def act(self, obs: np.ndarray): ...


MakeAgent = Callable[[int, int], Agent]
"""(slots, seed) -> a fresh agent for `slots` parallel episodes, its randomness seeded."""
Watch = Callable[[list[SuiteEnv], np.ndarray, object], None]
"""(envs, obs [N, S], decision) after the envs' reset (decision None) and after each step (the
agent's decision that led there)."""


@dataclass
class Rollouts:
    """Evaluation episodes of one task: observations [N, L+1, S], the z each episode started
    with [N, Z], the strict outcome of each episode [N] (tasks/scoring.py; -1: none), returns
    [N], the solution each step's state lies in [N, L] (-1: none) and the touched outcome [N]
    (the old rule). The last two may be left out by a caller that builds its own."""

    task: str
    obs: np.ndarray
    z: np.ndarray
    outcome: np.ndarray
    returns: np.ndarray
    visits: np.ndarray | None = None
    touched: np.ndarray | None = None


def rollout_agent(
    agent: Agent,
    suite: TaskSuite,
    tasks: list[str],
    task_id: int,
    episodes: int,
    seed: int,
    stay_share: float = STAY_SHARE,
    watch: Watch | None = None,
) -> Rollouts:
    """Run `episodes` episodes of one task side by side, env i seeded `seed + i` (its start).
    `watch`, when given, sees every state as it happens (e.g. to render it)."""
    envs = [SuiteEnv(suite, tasks, seed=seed + i) for i in range(episodes)]
    obs = np.stack([e.reset(options={"task": task_id})[0] for e in envs])
    for i in range(episodes):
        agent.begin(i, task_id)
    if watch is not None:
        watch(envs, obs, None)
    traj, rewards, first_z = [obs], [], None
    for _ in range(suite.episode_steps):
        decision = agent.act(obs)
        # The z an episode starts with names its skill (with z_hold > 0 it is redrawn later).
        first_z = np.asarray(decision.z) if first_z is None else first_z
        steps = [e.step(a) for e, a in zip(envs, np.asarray(decision.action), strict=True)]
        obs = np.stack([s[0] for s in steps])
        if watch is not None:
            watch(envs, obs, decision)
        traj.append(obs)
        rewards.append([s[1] for s in steps])
    traj = np.stack(traj, 1)
    name = tasks[task_id]
    visits = suite.visits(name, traj)
    return Rollouts(
        task=name,
        obs=traj,
        z=first_z.reshape(episodes, -1),
        outcome=strict_outcomes(visits, stay_share),
        returns=np.sum(rewards, 0),
        visits=visits,
        touched=touched_outcomes(visits, suite.solutions(name)),
    )


def nets_agent(nets, slots: int, seed: int, z_hold: int = 0, z_source=None) -> ActorCore:
    """A run's networks as an agent: z ~ p(z|t) (or `z_source`), redrawn every `z_hold` steps
    when set (as in training), mean actions. Its own generator: it leaves torch's global random
    stream alone, so evaluating during training does not change the training."""
    generator = torch.Generator().manual_seed(seed)
    source = z_source if z_source is not None else EmbeddingZ(nets.embedding)
    return ActorCore(source, nets.policy, slots, nets.latent.z_dim, z_hold, True, generator)


class RepeatedZ:
    """A z source that draws one z per `repeats` slots and gives it to all of them: each z then
    runs from `repeats` different starts, which is how a continuous z's consistency is seen.
    Slots are drawn together at episode start (z held all episode)."""

    def __init__(self, inner, repeats: int):
        self.inner, self.repeats = inner, repeats

    def draw(self, task: np.ndarray, obs: np.ndarray, generator: torch.Generator):
        if len(task) % self.repeats:
            raise ValueError(f"{len(task)} slots drawn at once, not a multiple of {self.repeats}")
        k = slice(None, None, self.repeats)
        z, log_b = self.inner.draw(task[k], obs[k], generator)
        return np.repeat(z, self.repeats, 0), np.repeat(log_b, self.repeats, 0)


def rollout_task(
    nets, suite: TaskSuite, tasks: list[str], task_id: int, episodes: int, seed: int, z_hold=0
) -> Rollouts:
    """Run `episodes` episodes of one task with mean actions, z ~ p(z|t) per episode (redrawn
    every `z_hold` steps when set, as in training)."""
    agent = nets_agent(nets, episodes, seed, z_hold)
    return rollout_agent(agent, suite, tasks, task_id, episodes, seed)
