"""Relabelling replayed segments: for another task (the critic only), or for the goal the
episode went on to reach (hindsight).

Task relabelling: a replayed segment scored for another task, for the critic only.

Rewards are pure functions of the observation (the suite's `reward`), so a segment that an
actor collected under task t can be scored for any task t'. With relabelling, the critic
Q(s, a; z, t') learns from every task's episodes: a task whose own episodes have not yet
reached its goal still learns where its reward lies from episodes of other tasks that passed
through it. (SAC-X, Riedmiller et al. 2018, shares experience between tasks in the same way.)

Only the critic sees the relabelled task. The policy pi(a|s, z) does not see t, so training a
z drawn for task t to maximize the value of t' would drag that skill away from its own task.
The Retrace weights use p(z|t') in place of p(z|t), so the trace is cut where the replayed z
is unlikely under t'.

Hindsight (Andrychowicz et al. 2017, "future"; not in the paper): where the observation holds a
goal (the suite's `goal`: a goal position and the block's), a segment's goal is replaced in every
observation, window included, by what the state after a later step of its episode reached, and
its rewards are recomputed for that goal. An episode that moved the block anywhere then teaches
every network how a goal is reached, long before one lands in a drawn goal. The actions are the
episode's own, drawn by b, so the traces' ratios pi/b stay true ratios and are kept; what they do
not correct is that the goal was picked because the episode reached it (hindsight bias), which
makes multi-step targets on those segments optimistic. Measured, that is small here: in the Jaco
runs the traces were c = 0.03-0.15 (`values/trace_c`), close to one-step targets. Segments with
a demonstrated or intervened step keep their goal: those actions served it, and imitation
(agent.imitation) would clone them under another.
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


def hindsight(
    batch: dict[str, np.ndarray],
    reached: np.ndarray,
    goal: tuple[slice, slice],
    rewards: Callable[[np.ndarray], np.ndarray],
    fraction: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Give a `fraction` of the segments the goal their episode reached later (module docstring).

    `reached` [B, S]: a state of each segment's episode after the segment (ReplayBuffer.
    future_states); `goal`: (the goal's part of an observation, the part of a state that reaches
    it); `rewards` as task_rewards. Returns a new dict: obs, next_obs, obs_window and reward
    replaced for the chosen segments, the other arrays the batch's own. Before `relabel`, which
    scores the goals this leaves; `terminal` is kept (the suites with goals end on time only).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"hindsight fraction must lie in [0, 1], got {fraction}")
    if "critic_reward" in batch:
        raise ValueError("hindsight goes before task relabelling, which scores the goals")
    served = np.any(batch["intervention"] & (batch["mask"] > 0), axis=1)
    moved = (rng.random(len(batch["task"])) < fraction) & ~served
    if not moved.any():
        return batch
    goal_part, reached_part = goal
    new_goal = reached[moved][:, reached_part]  # [M, G]
    out = dict(batch)
    for key, extra in (("obs", 1), ("next_obs", 1), ("obs_window", 2)):
        values = batch[key].copy()
        rows = values[moved]  # [M, T, (H,) S]
        rows[..., goal_part] = new_goal.reshape(len(new_goal), *(1,) * extra, -1)
        if key == "obs_window":  # padding before an episode's start stays zero
            rows *= batch["window_valid"][moved][..., None]
        values[moved] = rows
        out[key] = values
    task = batch["task"][moved].astype(np.int64)
    own = np.take_along_axis(rewards(out["next_obs"][moved]), task[:, None, None], axis=-1)
    reward = batch["reward"].copy()
    reward[moved] = own[..., 0]
    out["reward"] = reward
    return out
