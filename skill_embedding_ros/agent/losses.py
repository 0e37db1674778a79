"""The method's losses as pure functions (Hausman et al., ICLR 2018, Sec. 3 and 4).

Each takes tensors and weights and returns a scalar or a tensor; the learner only wires them.
Objective (Eq. 3):
    L = E[ sum_i gamma^i r_hat(s_i, a_i, z, t) ] + alpha1 E_t H[p(z|t)],
    r_hat = r_t(s_i, a_i) + alpha2 log q(z | a_i, s_i^H) + alpha3 H[pi(a | s_i, z)].
"""

from __future__ import annotations

import torch


def augmented_reward(reward, log_q, policy_entropy, alpha2: float, alpha3: float):
    """r_hat = r + alpha2 log q(z | a, s^H) + alpha3 H[pi(.|s, z)] (Eq. 3). [B, T] -> [B, T]."""
    return reward + alpha2 * log_q + alpha3 * policy_entropy


def importance_weights(log_pi, log_p_z, log_b_a, log_b_z, lam: float) -> torch.Tensor:
    """Truncated Retrace traces c_k = lambda min(1, pi(a_k|z,s_k) p(z|t) / (b(a_k|z,s_k) b(z|t))).

    Inputs are log-probabilities [B, T]. A NaN behaviour log-probability marks an action whose
    behaviour density is unknown (a demonstration, a teleoperated step, a deterministic action):
    it gets c = 0, which cuts the trace there. Returns [B, T].
    """
    log_ratio = (log_pi + log_p_z) - (log_b_a + log_b_z)
    c = lam * torch.exp(torch.clamp(log_ratio, max=0.0))
    return torch.where(torch.isnan(log_ratio), torch.zeros_like(c), c)


def critic_loss(q: torch.Tensor, q_ret: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """0.5 E[(Q(s_t, a_t) - Q_ret_t)^2] over valid steps. [B, T] x3 -> scalar."""
    return 0.5 * (((q - q_ret.detach()) ** 2) * mask).sum() / mask.sum().clamp(min=1)


def policy_loss(q_new, log_pi_new, alpha3: float, mask) -> torch.Tensor:
    """Stochastic value gradient for pi: minimize E[alpha3 log pi(a~|s,z) - Q(s, a~; z, t)],
    a~ reparameterized from pi(.|s, z). [B, T] x3 -> scalar."""
    return ((alpha3 * log_pi_new - q_new) * mask).sum() / mask.sum().clamp(min=1)


IMITATION_BOUND = 0.95
"""Demonstrated actions are imitated clipped to +-IMITATION_BOUND. A command at a limit (+-1:
43 % of the reactive controller's finger commands) is tanh's value only at an infinite pre-squash
mean, so the squared error kept pushing the mean outward: the squash's Jacobian then made the
policy's log-density soar (its entropy estimate -27 nats), the critic's gradient stopped
reaching those dimensions, and the critic diverged (docs/jaco_pretraining.md). At 0.95 the
mean settles at atanh(0.95) = 1.8."""


def imitation_loss(mean_action: torch.Tensor, demo_action: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning as in TD3+BC (Fujimoto and Gu, 2021): the squared error between the
    policy's mean action tanh(mu(s, z)) and a demonstrated one clipped to +-IMITATION_BOUND,
    averaged over steps and action dimensions, [N, A] x2 -> scalar. In action space, not
    -log pi, whose squash Jacobian rewards saturation. Not in the paper, where demonstrations
    reach the policy only through the critic (agent.imitation)."""
    target = demo_action.clamp(-IMITATION_BOUND, IMITATION_BOUND)
    return ((mean_action - target) ** 2).mean()


def embedding_loss(q_drawn, embedding_entropy, alpha1: float, hold_discount: float):
    """Stochastic value gradient for p(z|t), at the states where z is drawn:
    minimize -E[Q(s, a~; z~, t)] - alpha1 * hold_discount * H[p(z|t)].

    z~ is reparameterized (Gaussian) or straight-through relaxed (Bernoulli), so the gradient of
    Q reaches phi through z~, and the entropy term reaches phi directly. alpha1 is per step of
    reward; hold_discount = sum_{i<hold} gamma^i converts it to the scale of Q.
    q_drawn, embedding_entropy: [N] -> scalar.
    """
    return -(q_drawn.mean() + alpha1 * hold_discount * embedding_entropy.mean())


def inference_loss(log_q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Maximum likelihood of the replayed z under q(z | a, s^H): -E[log q]. [B, T] -> scalar."""
    return -(log_q * mask).sum() / mask.sum().clamp(min=1)
