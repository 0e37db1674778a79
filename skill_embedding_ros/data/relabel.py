"""Task relabelling: a replayed segment scored for another task, for the critic only.

Rewards are pure functions of the observation (the suite's `reward`), so a segment that an
actor collected under task t can be scored for any task t'. With relabelling, the critic
Q(s, a; z, t') learns from every task's episodes: a task whose own episodes have not yet
reached its goal still learns where its reward lies from episodes of other tasks that passed
through it. (SAC-X, Riedmiller et al. 2018, shares experience between tasks in the same way.)

Only the critic sees the relabelled task. The policy pi(a|s, z) does not see t, so training a
z drawn for task t to maximize the value of t' would drag that skill away from its own task.
The Retrace weights use p(z|t') in place of p(z|t), so the trace is cut where the replayed z
is unlikely under t'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from skill_embedding_ros.tasks.suite import TaskSuite


def task_rewards(suite: TaskSuite, tasks: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """The reward of every task for the observations after each step: next_obs [..., S] ->
    [..., len(tasks)], float32, each column computed exactly as the envs compute it."""
    return lambda next_obs: suite.rewards(tasks, next_obs)


def relabel(
    batch: dict[str, np.ndarray],
    rewards: Callable[[np.ndarray], np.ndarray],
    fraction: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Add the critic's task and reward to a batch of segments (ReplayBuffer.segment_arrays).

    Each segment keeps its own task with probability 1 - fraction; otherwise it is given a task
    drawn uniformly from all of them (its own included). Returns a new dict with
    critic_task [B] (int64) and critic_reward [B, T] (float32) added; the other arrays are the
    batch's own, unchanged.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"relabel fraction must lie in [0, 1], got {fraction}")
    task = batch["task"].astype(np.int64)
    all_rewards = rewards(batch["next_obs"])  # [B, T, num_tasks]
    moved = rng.random(task.shape) < fraction
    critic_task = np.where(moved, rng.integers(all_rewards.shape[-1], size=task.shape), task)
    picked = np.take_along_axis(all_rewards, critic_task[:, None, None], axis=-1)[..., 0]
    critic_reward = np.where(moved[:, None], picked, batch["reward"]).astype(np.float32)
    return {**batch, "critic_task": critic_task, "critic_reward": critic_reward}
