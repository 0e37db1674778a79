"""How well the inference network recovers the skill along a trajectory (the paper's third
didactic experiment, docs/experiments.md): run a task's skills with z ~ p(z|t) held all episode
and mean actions, and at every step k ask q_psi(z | a, s^H) for z from the window of the last H
states and actions, exactly as the learner builds it (data/replay.py `segment_arrays`); the
error is the distance between q's mean and the z the episode ran under.

Pure functions over a run's networks; `scripts/inference_error.py` plots them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from skill_embedding_ros.training.rollout import EVAL_SEED, Rollouts, rollout_task


@dataclass
class InferenceTrace:
    """One task's episodes: observations [N, L+1, S], the true z [N, Z], q's mean at each step
    [N, L, Z] and its distance to the true z [N, L]."""

    task: str
    rollouts: Rollouts
    inferred: np.ndarray
    error: np.ndarray


def windows(obs: np.ndarray, actions: np.ndarray, history: int):
    """The inference windows of whole episodes: obs [N, L, S] and actions [N, L, A] (step k's
    state and action) -> (obs_window [N, L, H, S], action_window [N, L, H, A], valid [N, L, H]),
    oldest first and the current step last, zero where the window reaches before the start."""
    steps = obs.shape[1]
    lag = np.arange(history - 1, -1, -1)
    index = np.arange(steps)[:, None] - lag  # [L, H]
    valid = index >= 0
    index = np.where(valid, index, 0)
    return (
        obs[:, index] * valid[None, ..., None],
        actions[:, index] * valid[None, ..., None],
        np.broadcast_to(valid, (len(obs), *valid.shape)).astype(np.float32),
    )


@torch.no_grad()
def infer_along(nets, history: int, obs: np.ndarray, z: np.ndarray) -> np.ndarray:
    """q's mean z at every step of episodes run with mean actions under a held z: obs [N, L+1, S],
    z [N, Z] -> [N, L, Z]. Gaussian embeddings only (q's mean is then its first half)."""
    if nets.latent.family != "gaussian":
        raise ValueError(
            f"the error of an inferred z needs a gaussian embedding, not {nets.latent.family}"
        )
    states = torch.as_tensor(obs[:, :-1], dtype=torch.float32)
    held = torch.as_tensor(z, dtype=torch.float32)[:, None].expand(-1, states.shape[1], -1)
    mean, _ = nets.policy(states, held)
    actions = torch.tanh(mean).numpy()  # what the episodes executed (evaluation acts on means)
    obs_w, act_w, valid = windows(states.numpy(), actions, history)
    params = nets.inference(torch.as_tensor(obs_w), torch.as_tensor(act_w), torch.as_tensor(valid))
    return nets.latent.split(params)[0].numpy()


def inference_traces(
    nets, config, episodes: int = 20, seed: int = EVAL_SEED
) -> list[InferenceTrace]:
    """One trace per task of a run (`config` its RunConfig), `episodes` episodes each."""
    from skill_embedding_ros.tasks.registry import get_suite

    suite = get_suite(config.train.suite)
    tasks = list(config.train.tasks)
    out = []
    for task_id, task in enumerate(tasks):
        rollouts = rollout_task(nets, suite, tasks, task_id, episodes, seed + 1000 * task_id)
        inferred = infer_along(nets, config.agent.history, rollouts.obs, rollouts.z)
        error = np.linalg.norm(inferred - rollouts.z[:, None], axis=-1)
        out.append(InferenceTrace(task, rollouts, inferred, error))
    return out
