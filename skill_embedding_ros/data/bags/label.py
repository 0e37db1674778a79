"""Name the skill of a demonstration: the z that a trained inference network q_psi(z | a, s^H)
finds in the trajectory (identifiability in use: q never sees the task, the trajectory alone
identifies its z).

One z is held for a whole ingested episode, so it is the z most likely under every step's
window at once, argmax_z sum_k log q(z | a_k, s_k^H):
* Gaussian: the precision-weighted mean of the per-step means (the product of the Gaussians);
* Bernoulli: bit i is 1 where the per-step logits of bit i sum to more than 0;
* none (the no-embedding ablation): zeros, the only z such a run has.
"""

from __future__ import annotations

import numpy as np
import torch

from skill_embedding_ros.data.replay import Episode


def history_windows(episode: Episode, history: int):
    """The inference network's inputs at every step, as the replay builds them:
    obs [L, H, S], actions [L, H, A], valid [L, H] (oldest first, the current step last,
    zero-padded before the episode's start)."""
    n = len(episode)
    lag = np.arange(history - 1, -1, -1)
    idx = np.arange(n)[:, None] - lag[None, :]
    valid = idx >= 0
    idx = np.where(valid, idx, 0)
    obs = episode.obs[:-1][idx] * valid[..., None]
    actions = episode.action[idx] * valid[..., None]
    return obs.astype(np.float32), actions.astype(np.float32), valid.astype(np.float32)


@torch.no_grad()
def infer_z(inference, latent, history: int, episode: Episode) -> np.ndarray:
    """The one z [Z] that q_psi (`inference`, of the `latent` family) gives the episode."""
    obs, actions, valid = (torch.as_tensor(x) for x in history_windows(episode, history))
    params = inference(obs, actions, valid)  # [L, P]
    if latent.fixed:
        return np.zeros(latent.z_dim, np.float32)
    if latent.family == "gaussian":
        mean, log_std = latent.split(params)
        precision = torch.exp(-2 * log_std)
        z = (precision * mean).sum(0) / precision.sum(0)
    else:
        z = (params.sum(0) > 0).to(params.dtype)
    return z.numpy().astype(np.float32)


def checkpoint_labeller(nets, suite):
    """A `label(episode) -> z` from a checkpoint's networks, checked against the suite."""
    if (nets.obs_dim, nets.action_dim) != (suite.obs_dim, suite.action_dim):
        raise ValueError(
            f"the checkpoint's networks take {nets.obs_dim}-D states and {nets.action_dim}-D "
            f"actions; suite {suite.name} has {suite.obs_dim} and {suite.action_dim}"
        )
    nets.eval()
    return lambda episode: infer_z(nets.inference, nets.latent, nets.cfg.history, episode)
