"""Retrace targets against a brute-force evaluation of the sum form."""

import pytest
import torch

from skill_embedding_ros.agent.retrace import retrace_targets


def _sum_form(rewards, discounts, q_taken, v_next, c):
    """Q_ret(i) = Q'(i) + sum_{j>=i} (prod_{k=i..j-1} d_k)(prod_{k=i+1..j} c_k) delta_j,
    delta_j = r_j + d_j V'(j+1) - Q'(j), evaluated term by term in plain Python."""
    batch, steps = rewards.shape
    out = torch.zeros(batch, steps, dtype=torch.float64)
    for b in range(batch):
        for i in range(steps):
            total = float(q_taken[b, i])
            for j in range(i, steps):
                weight = 1.0
                for k in range(i, j):
                    weight *= float(discounts[b, k])
                for k in range(i + 1, j + 1):
                    weight *= float(c[b, k])
                delta = rewards[b, j] + discounts[b, j] * v_next[b, j] - q_taken[b, j]
                total += weight * float(delta)
            out[b, i] = total
    return out


def _random_inputs(batch=5, steps=7, terminal_rate=0.2):
    g = torch.Generator().manual_seed(1)
    rewards = torch.randn(batch, steps, generator=g, dtype=torch.float64)
    terminal = torch.rand(batch, steps, generator=g) < terminal_rate
    discounts = 0.97 * (~terminal).double()
    q_taken = torch.randn(batch, steps, generator=g, dtype=torch.float64)
    v_next = torch.randn(batch, steps, generator=g, dtype=torch.float64)
    c = torch.rand(batch, steps, generator=g, dtype=torch.float64)
    return rewards, discounts, q_taken, v_next, c


def test_matches_brute_force_sum_with_terminals():
    inputs = _random_inputs()
    assert (inputs[1] == 0).any(), "the random inputs should contain terminals"
    torch.testing.assert_close(retrace_targets(*inputs), _sum_form(*inputs))


def test_truncated_trace_is_one_step_td():
    rewards, discounts, q_taken, v_next, c = _random_inputs()
    q_ret = retrace_targets(rewards, discounts, q_taken, v_next, torch.zeros_like(c))
    torch.testing.assert_close(q_ret, rewards + discounts * v_next)


def test_full_trace_on_policy_gives_discounted_return_plus_bootstrap():
    # c = 1 and Q' consistent with V': Q_ret telescopes to sum gamma^k r_k + gamma^T V'(s_T).
    rewards, _, q_taken, v_next, c = _random_inputs(terminal_rate=0.0)
    discounts = torch.full_like(rewards, 0.9)
    steps = rewards.shape[1]
    expected = sum(0.9**k * rewards[:, k] for k in range(steps)) + 0.9**steps * v_next[:, -1]
    # The correction terms leave v_next[t] - q_taken[t+1] residues; make them vanish:
    v_next_consistent = torch.cat([q_taken[:, 1:], v_next[:, -1:]], 1)
    q_ret = retrace_targets(rewards, discounts, q_taken, v_next_consistent, torch.ones_like(c))
    torch.testing.assert_close(q_ret[:, 0], expected)


def test_last_step_bootstraps():
    rewards, discounts, q_taken, v_next, c = _random_inputs()
    q_ret = retrace_targets(rewards, discounts, q_taken, v_next, c)
    torch.testing.assert_close(q_ret[:, -1], rewards[:, -1] + discounts[:, -1] * v_next[:, -1])


def test_shape_mismatch_is_rejected():
    rewards, discounts, q_taken, v_next, c = _random_inputs()
    with pytest.raises(ValueError, match="equal"):
        retrace_targets(rewards, discounts[:, :-1], q_taken, v_next, c)
