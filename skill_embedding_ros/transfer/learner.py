"""The transfer learner: the project's critic, Retrace and SVG losses over high-level steps.

Per update, from segments of high-level steps (high_level_steps.py):

* critic Q_H(s, z) on Retrace targets (agent/retrace.py) with a target copy,
    r_hat_j = R_j + alpha_K H[HL(.|s_j)],   discount gamma^K,
    c_j = lambda min(1, HL(z_j|s_j) / b(z_j|s_j))    (agent/losses.importance_weights),
    bootstrap E_{z ~ HL(.|s')} Q'_H(s', z);
* HL by the embedding's loss with s in place of t (agent/losses.embedding_loss):
    minimize -E[Q_H(s, z~) + alpha_K H[HL(.|s)]],  z~ reparameterized (or the exact sum over
    ids for the selection baseline).

alpha_K = alpha * sum_{i<K} gamma^i: alpha is per low-level step, like the pre-training alphas.
Only the HL policy and its critic have optimizers: the skills are never touched.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.learner import hold_discount, weights_fixed
from skill_embedding_ros.agent.retrace import retrace_targets
from skill_embedding_ros.settings.transfer import TransferConfig


class TransferLearner:
    """Owns the high-level policy, its critic, the target critic and their optimizers."""

    def __init__(self, policy, critic, cfg: TransferConfig, gamma: float):
        self.policy, self.critic, self.cfg = policy, critic, cfg
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.gamma_hold = gamma**cfg.hold
        self.hold_discount = hold_discount(gamma, cfg.hold)
        self.optimizers = {
            "policy": torch.optim.Adam(policy.parameters(), lr=cfg.lr),
            "critic": torch.optim.Adam(critic.parameters(), lr=cfg.lr),
        }
        self.log_alpha = None  # transfer.auto_alpha: learned, not saved (a run is not resumed)
        if cfg.auto_alpha:
            start = math.log(cfg.alpha if cfg.alpha > 0 else 1e-3)
            self.log_alpha = torch.tensor(start, requires_grad=True)
            self.optimizers["alpha"] = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.updates = 0
        self.rollbacks = 0
        """Updates skipped for a non-finite loss (counted by the graph's learner)."""
        self.problem = ""
        """Why the last one was skipped."""

    def _step(self, name: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @property
    def alpha(self) -> float:
        """The entropy weight per low-level step now (transfer.alpha, or the learned one)."""
        return self.cfg.alpha if self.log_alpha is None else math.exp(self.log_alpha.item())

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One update from high-level segments (ReplayBuffer.segment_arrays: obs, next_obs
        [B, T, S], action = z [B, T, Z], reward, terminal, log_b_a = log b(z|s), mask [B, T]).
        Raises FloatingPointError on a non-finite loss (nothing is stepped after it)."""
        b = {k: torch.as_tensor(v) for k, v in batch.items()}
        obs, next_obs, z, mask = b["obs"], b["next_obs"], b["action"], b["mask"]
        policy, critic, target = self.policy, self.critic, self.critic_target
        alpha = self.alpha

        with torch.no_grad():
            params = policy(obs)
            log_pi = policy.log_prob(params, z)
            zero = torch.zeros_like(log_pi)
            c = losses.importance_weights(
                log_pi, zero, b["log_b_a"], zero, self.cfg.retrace_lambda
            )
            c = c * mask  # a step past the segment's end must not carry the trace
            entropy = policy.entropy(params)
            r_hat = b["reward"] + alpha * self.hold_discount * entropy
            q_taken = target(obs, z)
            v_next = policy.expected_q(target, next_obs, policy(next_obs))
            discounts = self.gamma_hold * (1.0 - b["terminal"].float())
            q_ret = retrace_targets(r_hat, discounts, q_taken, v_next, c)

        qs = critic.each(obs, z)  # one critic, or two (transfer.twin_critics)
        critic_loss = sum(losses.critic_loss(q, q_ret, mask) for q in qs)
        q = qs[0]
        self._check(critic_loss, "critic")
        self._step("critic", critic_loss)

        valid = mask > 0
        params = policy(obs[valid])
        with weights_fixed(critic):  # the policy needs dQ/dz, not the critic's own gradients
            q_new = policy.expected_q(critic, obs[valid], params)
        entropy_new = policy.entropy(params)
        policy_loss = losses.embedding_loss(q_new, entropy_new, alpha, self.hold_discount)
        self._check(policy_loss, "policy")
        self._step("policy", policy_loss)
        if self.log_alpha is not None:  # SAC's temperature loss: alpha rises below the target
            gap = entropy_new.detach().mean() - self.cfg.target_entropy
            self._step("alpha", self.log_alpha * gap)

        with torch.no_grad():
            for p, tp in zip(critic.parameters(), target.parameters(), strict=True):
                tp.lerp_(p, self.cfg.tau)
        self.updates += 1
        n = mask.sum().clamp(min=1)
        return {
            "losses/critic": critic_loss.item(),
            "losses/policy": policy_loss.item(),
            "values/q": ((q * mask).sum() / n).item(),
            "values/q_retrace": ((q_ret * mask).sum() / n).item(),
            "values/trace_c": ((c * mask).sum() / n).item(),
            "values/high_level_entropy": ((entropy * mask).sum() / n).item(),
            "values/high_level_alpha": alpha,
        }

    @staticmethod
    def _check(loss: torch.Tensor, name: str) -> None:
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite {name} loss in the transfer learner")
