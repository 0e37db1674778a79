"""The no-embedding ablation (agent.embedding: none): z is held at zeros, no entropy or
inference term, everything else the same as the Bernoulli row; it trains and evaluates."""

import json

import numpy as np
import torch

from skill_embedding_ros.agent.actor import draw_z
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import build_networks, load_networks
from skill_embedding_ros.cli import main
from skill_embedding_ros.data.bags.label import infer_z
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.settings.run import load_run_config, to_dict
from skill_embedding_ros.testing.episodes import make_episode, make_networks


def _batch(seed=0):
    buf = ReplayBuffer(200, obs_dim=3, action_dim=2, z_dim=2)
    for k in range(6):
        episode = make_episode(8, task=k % 2, offset=0.1 * k)
        episode.z[:] = 0.0  # what a no-embedding actor records
        episode.log_b_z[:] = 0.0
        buf.add(episode)
    rng = np.random.default_rng(seed)
    return buf.sample(16, segment=4, history=3, rng=rng), buf.sample_draws(16, rng)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _moved(before, module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_z_is_zeros_with_log_prob_and_entropy_zero():
    nets = make_networks("none")
    z, log_b_z = draw_z(nets.embedding, np.array([0, 1, 1]), torch.Generator().manual_seed(0))
    assert z.shape == (3, 2) and not z.any() and not log_b_z.any()
    params = nets.embedding(torch.arange(2))
    assert not nets.latent.entropy(params).any()
    assert not nets.latent.rsample(params).any()
    assert not nets.latent.kl(params[:, None], params[None, :]).any()  # [T, T] zeros


def test_an_update_trains_policy_and_critic_only():
    nets = make_networks("none", alpha1=1.0, alpha2=1.0)  # the alphas have nothing to weigh
    learner = Learner(nets, hold_steps=8)
    trained, fixed = ("policy", "critic", "critic_target"), ("embedding", "inference")
    before = {n: _params(getattr(nets, n)) for n in trained + fixed}
    for seed in range(3):
        metrics = learner.update(*_batch(seed))
        assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
    assert metrics["values/log_q"] == 0.0 and metrics["values/embedding_entropy"] == 0.0
    for name in trained:
        assert _moved(before[name], getattr(nets, name)), f"{name} did not move"
    for name in fixed:
        assert not _moved(before[name], getattr(nets, name)), f"{name} moved"


def test_the_config_differs_from_the_bernoulli_row_only_in_the_embedding():
    ablation, bernoulli = (
        load_run_config("reach_no_embedding.yaml"),
        load_run_config("reach_bernoulli.yaml"),
    )
    a, b = to_dict(ablation), to_dict(bernoulli)
    differ = {
        f"{section}.{key}"
        for section in a
        for key in a[section]
        if a[section][key] != b[section][key]
    }
    # alpha1/alpha2 weigh terms that are 0 with a fixed z; code_scale only scales Bernoulli bits.
    assert differ == {"agent.embedding", "agent.alpha1", "agent.alpha2", "agent.code_scale"}
    shapes = {k: v.shape for k, v in build_networks(ablation).state_dict().items()}
    assert shapes == {k: v.shape for k, v in build_networks(bernoulli).state_dict().items()}


def test_it_trains_a_few_hundred_steps_and_evaluates(tmp_path):
    out = tmp_path / "run"
    small = ["agent.hidden=[16]", "agent.critic_hidden=[16]", "train.env_steps=600"]
    small += ["train.warmup_steps=300"]
    argv = ["train", "--config", "reach_no_embedding.yaml", "--out", str(out), "--quiet"]
    assert main([*argv, *(w for s in small for w in ("--set", s)), "--episodes", "6"]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["per_task"][0]["task"] == "any" and report["kl"] == [[0.0]]
    assert (out / "eval.png").stat().st_size > 0
    nets, cfg, meta = load_networks(out / "checkpoint.safetensors")
    assert cfg.agent.embedding == "none" and meta["updates"] > 0
    z, _ = draw_z(nets.embedding, np.zeros(5, np.int64))
    assert not z.any()
    episode = make_episode(6, obs_dim=nets.obs_dim, action_dim=nets.action_dim)
    assert not infer_z(nets.inference, nets.latent, cfg.agent.history, episode).any()
