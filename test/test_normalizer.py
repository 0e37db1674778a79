"""agent.normalize: observation statistics in the networks, kept and shipped with the policy."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent import normalizer as N
from skill_embedding_ros.agent.checkpoint import save_actor_checkpoint, save_checkpoint
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import build_networks, load_networks
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.settings.run import load_run_config, to_dict
from skill_embedding_ros.testing.episodes import make_episode, make_networks


def _batch(scale: float = 1.0, seed: int = 0):
    buf = ReplayBuffer(200, obs_dim=3, action_dim=2, z_dim=2)
    for k in range(6):
        episode = make_episode(8, task=k % 2, offset=0.1 * k)
        episode.obs[:] *= scale
        buf.add(episode)
    rng = np.random.default_rng(seed)
    return buf.sample(16, segment=4, history=3, rng=rng), buf.sample_draws(16, rng)


def test_merged_moments_are_those_of_all_states_until_the_cap():
    rng = np.random.default_rng(0)
    parts = [torch.as_tensor(rng.normal(k, 1 + k, (n, 4))) for k, n in enumerate((5, 300, 1))]
    count, mean, var = torch.zeros((), dtype=torch.float64), torch.zeros(4), torch.ones(4)
    for part in [*parts, parts[0][:0]]:  # an empty batch changes nothing
        count, mean, var = N.merge_moments(count, mean.double(), var.double(), part)
    every = torch.cat(parts)
    assert count.item() == len(every)
    torch.testing.assert_close(mean, every.mean(0))
    torch.testing.assert_close(var, every.var(0, unbiased=False))


def test_past_the_cap_the_statistics_follow_new_states():
    norm = N.Normalizer(1)
    norm.update(torch.zeros(int(N.MAX_COUNT), 1))
    assert norm.count.item() == N.MAX_COUNT
    for _ in range(20):
        norm.update(torch.full((int(N.MAX_COUNT) // 10, 1), 3.0))
        assert norm.count.item() == N.MAX_COUNT  # never above what a weights message may carry
    assert 2.5 < norm.mean.item() < 3.0


def test_inputs_are_standardized_floored_and_clipped():
    norm = N.Normalizer(3)
    assert torch.equal(norm(torch.tensor([0.5, -7.0, 2.0])), torch.tensor([0.5, -N.CLIP, 2.0]))
    states = torch.stack([torch.randn(1000) * 10 + 4, torch.randn(1000) * 1e-3, torch.zeros(1000)])
    norm.update(states.T)
    out = norm(states.T)
    assert abs(out[:, 0].mean()) < 1e-4 and abs(out[:, 0].std() - 1) < 1e-2
    assert out[:, 1].abs().max() < 0.1  # a nearly constant input is not blown up into noise
    assert out[:, 2].abs().max() == 0


def test_off_by_default_and_nothing_of_it_in_the_state():
    nets = make_networks("gaussian")
    assert nets.policy.obs_norm is None and nets.critic.obs_norm is None
    assert not [k for k in nets.state_dict() if "obs_norm" in k]


def test_one_normalizer_read_by_every_network_and_saved_once_with_the_policy():
    nets = make_networks("gaussian", normalize=True)
    norm = nets.policy.obs_norm
    assert nets.critic.obs_norm is norm and nets.critic_target.obs_norm is norm
    assert nets.inference.obs_norm is norm
    assert sorted(k for k in nets.state_dict() if "obs_norm" in k) == [
        "policy.obs_norm.count",
        "policy.obs_norm.mean",
        "policy.obs_norm.var",
    ]
    assert "policy.obs_norm.mean" in nets.actor_state()  # broadcast to actors with the weights


def test_the_learner_counts_valid_states_and_a_rollback_takes_them_back():
    nets = make_networks("gaussian", normalize=True)
    learner = Learner(nets, hold_steps=8)
    batch, draws = _batch(scale=100.0)
    learner.update(batch, draws)
    norm = nets.policy.obs_norm
    valid = torch.as_tensor(batch["obs"][batch["mask"].astype(bool)])
    assert norm.count.item() == len(valid) < batch["mask"].size  # padding is not a state
    torch.testing.assert_close(norm.mean, valid.mean(0))
    learner.mark_good()
    learner.update(*_batch(scale=100.0, seed=1))
    learner.rollback("test")
    assert norm.count.item() == len(valid)


def test_the_networks_see_the_same_inputs_whatever_the_units():
    """Observations in cm instead of m: with normalize, every network's input is the same."""
    outputs = []
    for scale in (1.0, 100.0):
        torch.manual_seed(0)
        nets = make_networks("gaussian", normalize=True)
        batch, _ = _batch(scale)
        nets.policy.obs_norm.update(torch.as_tensor(batch["obs"][batch["mask"].astype(bool)]))
        obs, z = torch.as_tensor(batch["obs"]), torch.as_tensor(batch["z"])
        window = [torch.as_tensor(batch[k]) for k in ("obs_window", "action_window")]
        q = nets.critic(
            obs, torch.as_tensor(batch["action"]), z, torch.zeros_like(z[..., 0]).long()
        )
        outputs.append(
            (
                nets.policy(obs, z)[0],
                q,
                nets.inference(*window, torch.as_tensor(batch["window_valid"])),
            )
        )
    for a, b in zip(*outputs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("save", [save_checkpoint, save_actor_checkpoint])
def test_statistics_reach_a_fresh_process_through_either_checkpoint(tmp_path, save):
    cfg = load_run_config(None, ["agent.normalize=true", "agent.hidden=[8]"], host=False)
    nets = build_networks(cfg)
    nets.policy.obs_norm.update(torch.randn(50, nets.obs_dim) * 3 + 1)
    learner = Learner(nets, hold_steps=1)
    path = tmp_path / "run.safetensors"
    save(path, learner, {"config": to_dict(cfg)})
    code = (
        "import sys; from skill_embedding_ros.agent.run_networks import load_networks; "
        "n = load_networks(sys.argv[1])[0].policy.obs_norm; "
        "print(n.count.item(), *n.mean.tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    want = [nets.policy.obs_norm.count.item(), *nets.policy.obs_norm.mean.tolist()]
    np.testing.assert_allclose([float(x) for x in out.stdout.split()], want, rtol=1e-6)
    loaded = load_networks(path)[0]
    assert loaded.critic.obs_norm is loaded.policy.obs_norm is loaded.critic_target.obs_norm
