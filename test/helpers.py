"""Small factories shared by the tests (tiny networks, synthetic episodes)."""

import numpy as np

from skill_embedding_ros.core.config import AgentConfig
from skill_embedding_ros.core.learner import Networks
from skill_embedding_ros.core.replay import Episode


def make_episode(
    length: int,
    task: int = 0,
    obs_dim: int = 3,
    action_dim: int = 2,
    z_dim: int = 2,
    offset: float = 0.0,
) -> Episode:
    """An episode whose observation at step i is [offset + i, ...] so tests can read indices."""
    obs = offset + np.arange(length + 1, dtype=np.float32)[:, None].repeat(obs_dim, 1)
    return Episode(
        obs=obs,
        action=np.full((length, action_dim), 0.1, np.float32) * (np.arange(length)[:, None] % 3),
        reward=np.arange(length, dtype=np.float32),
        terminal=np.zeros(length, bool),
        task=task,
        z=np.ones((length, z_dim), np.float32),
        log_b_z=np.full(length, -1.0, np.float32),
        log_b_a=np.full(length, -0.5, np.float32),
        z_drawn=np.eye(1, length, dtype=bool)[0],
        intervention=np.zeros(length, bool),
    )


def make_networks(
    family: str = "bernoulli",
    num_tasks: int = 2,
    obs_dim: int = 3,
    action_dim: int = 2,
    **overrides,
) -> Networks:
    """8-unit networks: fast, and enough to check shapes and gradients."""
    cfg = AgentConfig(
        embedding=family, z_dim=2, hidden=(8,), critic_hidden=(8,), history=3, **overrides
    )
    return Networks(obs_dim, action_dim, num_tasks, cfg)
