"""Low-level episodes -> high-level episodes: one step per held z (pure functions).

The high-level MDP's action is z, held for K low-level steps; its transition from s_{jK} is
the K frozen-skill steps that follow. A high-level step j stores

    state  s_{jK},  action z_j,  log b(z_j | s_{jK}),
    reward R_j = sum_{i<K} gamma^i r_{jK+i},  next state s_{(j+1)K},

and discounts by gamma^K. The low-level actions are no part of it: the skills are frozen, so
their behaviour and target policies are the same and need no importance weight.
"""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.data.replay import Episode


def hold_returns(rewards: np.ndarray, hold: int, gamma: float) -> np.ndarray:
    """R_j = sum_{i<K} gamma^i r_{jK+i}: rewards [..., L] -> [..., L / K]. L must be a
    multiple of K (every high-level step then discounts by the same gamma^K)."""
    rewards = np.asarray(rewards, np.float64)
    steps = rewards.shape[-1]
    if hold < 1 or steps % hold:
        raise ValueError(f"hold {hold} must be >= 1 and divide the episode's {steps} steps")
    blocks = rewards.reshape(*rewards.shape[:-1], steps // hold, hold)
    return (blocks * gamma ** np.arange(hold)).sum(-1).astype(np.float32)


def high_level_episode(
    obs: np.ndarray,
    rewards: np.ndarray,
    z: np.ndarray,
    log_b_z: np.ndarray,
    hold: int,
    gamma: float,
    task: int = 0,
) -> Episode:
    """One high-level episode from one low-level episode of L steps (L a multiple of K).

    obs [L+1, S], rewards [L], z [L, Z] (the z held at each step, drawn at steps 0, K, 2K, ..),
    log_b_z [L] -> an Episode of L/K steps whose action is z (obs [L/K + 1, S], action [L/K, Z])
    and whose own z is empty ([L/K, 0]: the high level has no latent of its own).
    """
    obs, z = np.asarray(obs, np.float32), np.asarray(z, np.float32)
    returns = hold_returns(rewards, hold, gamma)
    n = len(returns)
    drawn = np.arange(n) * hold
    held = z.reshape(n, hold, -1)
    if not np.array_equal(held, np.repeat(held[:, :1], hold, 1)):
        raise ValueError(f"z changed within a hold of {hold} steps: not a high-level episode")
    return Episode(
        obs=obs[::hold],
        action=z[drawn],
        reward=returns,
        terminal=np.zeros(n, bool),  # the suites end on time limits only
        task=task,
        z=np.zeros((n, 0), np.float32),
        log_b_z=np.zeros(n, np.float32),
        log_b_a=np.asarray(log_b_z, np.float32)[drawn],
        z_drawn=np.ones(n, bool),
        intervention=np.zeros(n, bool),
    )
