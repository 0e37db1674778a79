"""agent.imitation: behaviour cloning at demonstrated steps, and nowhere else."""

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent import losses
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.testing.episodes import make_episode, make_networks

DEMO_ACTION = np.array([0.6, -0.4], np.float32)


def _buffer(demonstrated: bool) -> ReplayBuffer:
    """Task 0's episodes act 0.1 * (step % 3); task 1's are demonstrations of DEMO_ACTION."""
    buf = ReplayBuffer(400, obs_dim=3, action_dim=2, z_dim=2)
    for k in range(8):
        episode = make_episode(8, task=k % 2, offset=0.1 * k)
        if k % 2:
            episode.action[:] = DEMO_ACTION
            episode.intervention[:] = demonstrated
            episode.log_b_a[:] = np.nan
        buf.add(episode)
    return buf


def _mean_action(nets, task: int, obs: np.ndarray) -> np.ndarray:
    """The policy's mean action at `obs` with z ~ p(z|task), averaged over 64 draws of z."""
    with torch.no_grad():
        z = nets.latent.sample(nets.embedding(torch.full((64,), task)))
        mean, _ = nets.policy(torch.as_tensor(obs).expand(64, -1), z)
        return torch.tanh(mean).mean(0).numpy()


def _train(imitation: float, demonstrated: bool, updates: int = 300):
    torch.manual_seed(0)
    nets = make_networks("gaussian", lr=3e-3, imitation=imitation)
    learner = Learner(nets, hold_steps=8)
    buf, rng = _buffer(demonstrated), np.random.default_rng(0)
    metrics = {}
    for _ in range(updates):
        metrics = learner.update(buf.sample(16, 4, 3, rng), buf.sample_draws(16, rng))
    return nets, metrics


def test_the_loss_is_the_mean_squared_error_per_action_dimension():
    mean = torch.tensor([[0.0, 0.95], [0.5, -0.5]])
    demo = torch.tensor([[0.9, 0.95], [0.5, 0.5]])
    assert losses.imitation_loss(mean, demo).item() == pytest.approx((0.81 + 0 + 0 + 1) / 4)


def test_a_demonstration_at_a_limit_pulls_the_mean_to_a_finite_point():
    """A command of +-1 is imitated as +-IMITATION_BOUND: the pre-squash mean stops there
    instead of running outward, where tanh's gradient vanishes and log pi soars."""
    mu = torch.zeros(1, 2, requires_grad=True)
    optimizer = torch.optim.Adam([mu], lr=0.05)
    for _ in range(3000):
        optimizer.zero_grad()
        losses.imitation_loss(torch.tanh(mu), torch.tensor([[1.0, -1.0]])).backward()
        optimizer.step()
    bound = np.arctanh(losses.IMITATION_BOUND)
    np.testing.assert_allclose(mu.detach().numpy(), [[bound, -bound]], atol=1e-3)


def test_demonstrated_actions_are_learned_for_the_demonstrated_task():
    obs = np.full(3, 0.3 + 4.0, np.float32)  # a state of a task-1 episode (offset 0.3, step 4)
    cloned, metrics = _train(imitation=100.0, demonstrated=True)
    plain, _ = _train(imitation=0.0, demonstrated=True)
    error = np.abs(_mean_action(cloned, 1, obs) - DEMO_ACTION).max()
    assert error < 0.05, _mean_action(cloned, 1, obs)
    assert np.abs(_mean_action(plain, 1, obs) - DEMO_ACTION).max() > 2 * error
    assert 0 < metrics["values/demo_share"] < 1 and metrics["losses/imitation"] < 0.01


def test_steps_the_policy_chose_are_never_imitated():
    # The same actions, not marked as interventions: the term has nothing to act on, so the
    # run is bit-identical to one without it.
    with_term, metrics = _train(imitation=10.0, demonstrated=False, updates=20)
    without, _ = _train(imitation=0.0, demonstrated=False, updates=20)
    assert metrics["values/demo_share"] == 0.0 and metrics["losses/imitation"] == 0.0
    for a, b in zip(with_term.parameters(), without.parameters(), strict=True):
        assert torch.equal(a, b)


def test_cloning_moves_only_the_policy():
    torch.manual_seed(0)
    nets = make_networks("gaussian", imitation=10.0)
    learner = Learner(nets, hold_steps=8)
    buf, rng = _buffer(True), np.random.default_rng(0)
    batch, draws = buf.sample(16, 4, 3, rng), buf.sample_draws(16, rng)
    obs, action, task = (torch.as_tensor(batch[k]) for k in ("obs", "action", "task"))
    demo = torch.as_tensor(batch["intervention"]).float() * torch.as_tensor(batch["mask"])
    assert demo.sum() > 0
    loss = learner._imitation_loss(obs, action, task[:, None].expand_as(demo), demo)
    loss.backward()
    for name in ("embedding", "critic", "inference"):
        grads = [p.grad for p in getattr(nets, name).parameters()]
        assert all(g is None for g in grads), f"the imitation term reached {name}"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.policy.parameters())
    learner.update(batch, draws)  # and the whole update still runs
