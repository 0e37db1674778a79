"""Retrace targets for the critic (Munos et al. 2016), as used by Hausman et al. (2018, Eq. 5).

    Q_ret(s_i, a_i) = Q'(s_i, a_i) + sum_{j>=i} gamma^{j-i} (prod_{k=i+1..j} c_k)
                                      [r_j + gamma E_pi Q'(s_{j+1}, .) - Q'(s_j, a_j)]

computed by its backward recursion. A terminal step has discount 0, which cuts both the bootstrap
and the trace; a segment that ends without a terminal bootstraps with E_pi Q' at its last step.
"""

from __future__ import annotations

import torch


def retrace_targets(
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    q_taken: torch.Tensor,
    v_next: torch.Tensor,
    c: torch.Tensor,
) -> torch.Tensor:
    """Retrace targets for every step of a batch of segments. All tensors [B, T]; returns [B, T].

    rewards[t]   r_t, the (augmented) reward of step t
    discounts[t] gamma * (1 - terminal_t)
    q_taken[t]   Q'(s_t, a_t) from the target critic
    v_next[t]    E_pi Q'(s_{t+1}, .) from the target critic
    c[t]         truncated importance weight of step t (c[0] is never used)

        q_ret[T-1] = rewards[T-1] + discounts[T-1] * v_next[T-1]
        q_ret[t]   = rewards[t] + discounts[t] * (v_next[t] + c[t+1] * (q_ret[t+1] - q_taken[t+1]))
    """
    if not (rewards.shape == discounts.shape == q_taken.shape == v_next.shape == c.shape):
        raise ValueError(
            "retrace_targets needs equal [B, T] shapes, got "
            f"{[tuple(x.shape) for x in (rewards, discounts, q_taken, v_next, c)]}"
        )
    steps = rewards.shape[-1]
    q_ret = torch.empty_like(rewards)
    q_ret[..., -1] = rewards[..., -1] + discounts[..., -1] * v_next[..., -1]
    for t in range(steps - 2, -1, -1):
        correction = c[..., t + 1] * (q_ret[..., t + 1] - q_taken[..., t + 1])
        q_ret[..., t] = rewards[..., t] + discounts[..., t] * (v_next[..., t] + correction)
    return q_ret
