"""Transfer (docs/transfer.md): the point-mass transfer tasks, the high-level steps, the
high-level policies, the frozen skills, the checkpoint and a tiny run."""

import json

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.distributions import bounded_log_std
from skill_embedding_ros.agent.learner import Networks
from skill_embedding_ros.cli import main
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.settings.base import from_dict
from skill_embedding_ros.settings.run import RunConfig
from skill_embedding_ros.settings.transfer import TransferConfig
from skill_embedding_ros.tasks.point_mass.transfer_tasks import REACH_TRANSFER
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.transfer.high_level import categorical_entropy, selection_log_prob
from skill_embedding_ros.transfer.high_level_steps import high_level_episode, hold_returns
from skill_embedding_ros.transfer.learner import TransferLearner
from skill_embedding_ros.transfer.model import build_model, load_transfer, transfer_agent
from skill_embedding_ros.transfer.skills import check_layout, freeze
from skill_embedding_ros.transfer.train import CHECKPOINT, TransferRun

SUITE = REACH_TRANSFER
A, B = (np.asarray(SUITE.goals[k]) for k in SUITE.sequence)
MID = np.asarray(SUITE.goals[-1])


def _obs(xy, visited) -> np.ndarray:
    """Observations [L, 5] of positions [L, 2] (velocities 0) and visited flags [L]."""
    xy = np.asarray(xy, np.float32)
    flags = np.asarray(visited, np.float32)[:, None]
    return np.concatenate([xy, np.zeros_like(xy), flags], 1)


def _observe(path) -> np.ndarray:
    """The suite's own observer over a path of positions: [L, 5]."""
    observer = SUITE.observer()
    observer.reset()
    return np.stack([observer({"x": x, "y": y}, {"x": 0.0, "y": 0.0}, {}, 0) for x, y in path])


def _skills(family="gaussian", hidden=(8,), normalize=False):
    agent = {"embedding": family, "z_dim": 2, "hidden": hidden, "critic_hidden": hidden}
    cfg = from_dict(
        RunConfig,
        {
            "agent": {**agent, "normalize": normalize},
            "train": {"suite": "reach", "tasks": ["goal_0", "goal_1", "goal_0"]},
        },
    )
    nets = Networks(4, 2, 3, cfg.agent)
    return freeze(nets.embedding, nets.policy, cfg)


def _cfg(**kw):
    base = {"hidden": (8,), "critic_hidden": (8,), "envs": 2, "batch": 4, "warmup_steps": 0}
    return from_dict(TransferConfig, {**base, **kw})


# -- tasks -----------------------------------------------------------------------------------


def test_observer_flag_is_sticky_and_reset():
    obs = _observe([(0, 0), A, (0, 0), B])
    assert obs.shape == (4, SUITE.obs_dim) and obs[:, -1].tolist() == [0, 1, 1, 1]
    assert _observe([(0, 0), B])[:, -1].tolist() == [0, 0]  # a fresh episode forgets A


def test_sequence_rewards_b_only_after_a():
    after = _obs([A, B, B], [1, 1, 1])
    before = _obs([B, B, A], [0, 0, 1])
    assert SUITE.rewards(["sequence"], after)[:, 0].tolist() == [0, 1, 1]
    assert SUITE.rewards(["sequence"], before)[:, 0].tolist() == [0, 0, 0]
    assert SUITE.reward("between", _obs([MID, A], [0, 1])).tolist() == [1, 0]


def test_visits_and_strict_success_on_hand_built_episodes():
    L = SUITE.episode_steps
    to_a = np.linspace((0, 0), A, 8)
    a_to_b = np.linspace(A, B, 12)
    path = np.concatenate([to_a, a_to_b, np.repeat(B[None], L + 1 - 20, 0)])
    good = _observe(path)
    b_first = _observe(np.concatenate([np.repeat(B[None], L - 5, 0), np.repeat(A[None], 6, 0)]))
    stay_b = _observe(np.repeat(B[None], L + 1, 0))  # B all along, never A
    episodes = np.stack([good, b_first, stay_b])
    visits = SUITE.visits("sequence", episodes)
    assert visits.shape == (3, L)
    assert set(np.unique(visits[0])) == {-1, SUITE.sequence[1]}
    assert (visits[1:] == -1).all()
    assert SUITE.success("sequence", episodes).tolist() == [True, False, False]
    mid = _observe(np.concatenate([np.linspace((0, 0), MID, 6), np.repeat(MID[None], L - 5, 0)]))
    assert SUITE.success("between", mid[None]).tolist() == [True]
    assert SUITE.success("between", good[None]).tolist() == [False]


def test_transfer_suite_is_registered_and_drives_reach_skills():
    assert get_suite("reach_transfer") is REACH_TRANSFER
    check_layout(get_suite("reach"), REACH_TRANSFER)
    with pytest.raises(ValueError, match="observation size 5 < 6"):
        check_layout(get_suite("push"), REACH_TRANSFER)  # push skills need the block's position


# -- high-level steps and policies -----------------------------------------------------------


def test_hold_returns_against_a_loop():
    rng = np.random.default_rng(0)
    r, gamma = rng.normal(size=(3, 12)), 0.9
    for hold in (1, 3, 4):
        want = [
            [sum(gamma**i * r[n, j * hold + i] for i in range(hold)) for j in range(12 // hold)]
            for n in range(3)
        ]
        np.testing.assert_allclose(hold_returns(r, hold, gamma), want, rtol=1e-5)
    with pytest.raises(ValueError, match="divide"):
        hold_returns(r, 5, gamma)


def test_high_level_episode_picks_the_drawn_steps():
    L, hold = 6, 3
    obs = np.arange(L + 1, dtype=np.float32)[:, None].repeat(5, 1)
    z = np.repeat([[1.0, 2.0], [3.0, 4.0]], hold, 0)
    ep = high_level_episode(obs, np.ones(L), z, np.arange(L, dtype=float), hold, 0.5)
    ep.validate()
    assert ep.obs[:, 0].tolist() == [0, 3, 6] and ep.action.tolist() == [[1, 2], [3, 4]]
    assert ep.reward.tolist() == [1.75, 1.75] and ep.log_b_a.tolist() == [0, 3]
    z[1] = [9.0, 9.0]  # z changed inside a hold
    with pytest.raises(ValueError, match="changed"):
        high_level_episode(obs, np.ones(L), z, np.zeros(L), hold, 0.5)


def test_selection_log_prob_sums_ids_that_share_a_code():
    codes = torch.tensor([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]])
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    z = torch.tensor([[0.0, 1.0], [2.0, 3.0], [7.0, 7.0]])
    got = selection_log_prob(logits.expand(3, 3), codes, z).exp()
    assert torch.allclose(got, torch.tensor([0.5, 0.5, 0.0]))
    assert torch.isclose(categorical_entropy(torch.zeros(4)), torch.log(torch.tensor(4.0)))


@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_selection_maps_ids_to_the_task_codes(family):
    skills = _skills(family)
    with torch.no_grad():
        skills.embedding.linear.bias.copy_(torch.arange(skills.latent.param_dim) - 1.5)
        skills.embedding.linear.weight.normal_()
    model = build_model(skills, SUITE, "between", _cfg(method="selection"))
    params = skills.embedding(torch.arange(3))
    want = params[:, :2] if family == "gaussian" else (params > 0).float()
    assert torch.equal(model.high_level.codes, want.detach())
    z, log_b = model.high_level.sample(torch.zeros(50, SUITE.obs_dim), torch.Generator())
    assert all(any(torch.equal(row, c) for c in want) for row in z)
    assert torch.isfinite(log_b).all()


def test_gaussian_high_level_mean_stays_in_the_trained_box():
    skills = _skills()
    with torch.no_grad():  # task means (-1, 0), (1, 0), (-1, 0); raw log std -1 in x, 0 in y
        skills.embedding.linear.weight.copy_(
            torch.tensor([[-1.0, 1.0, -1.0], [0, 0, 0], [-1, -1, -1], [0, 0, 0]])
        )
    model = build_model(skills, SUITE, "between", _cfg())
    sigma_x = bounded_log_std(torch.tensor(-1.0), -5.0, 1.0).exp().item()  # as Latent.split
    half = torch.tensor([1 + 2 * sigma_x, 2.0])
    torch.testing.assert_close(model.high_level.centre, torch.zeros(2))
    torch.testing.assert_close(model.high_level.half_width, half)
    with torch.no_grad():
        model.high_level.net[-1].bias.copy_(torch.tensor([1e4, -1e4, 0.0, 0.0]))
    mean = model.high_level(torch.zeros(3, SUITE.obs_dim))[:, :2]
    assert (mean.abs() <= model.high_level.half_width + 1e-6).all()


# -- learning with frozen skills -------------------------------------------------------------


def _batch(rng, n=16, obs_dim=5):
    """One-step high-level segments: reward = z[0] from any state (terminal: Q = r)."""
    z = rng.normal(size=(n, 1, 2)).astype(np.float32)
    return {
        "obs": rng.normal(size=(n, 1, obs_dim)).astype(np.float32),
        "next_obs": rng.normal(size=(n, 1, obs_dim)).astype(np.float32),
        "action": z,
        "reward": z[..., 0],
        "terminal": np.ones((n, 1), bool),
        "log_b_a": np.full((n, 1), -2.0, np.float32),
        "mask": np.ones((n, 1), np.float32),
    }


def test_updates_leave_the_skills_bit_identical_and_learn():
    skills = _skills()
    before = {k: v.clone() for k, v in skills.state().items()}
    model = build_model(skills, SUITE, "between", _cfg(alpha=0.0, lr=3e-3, hidden=(16,)))
    learner = TransferLearner(model.high_level, model.critic, model.cfg, 0.99)
    rng = np.random.default_rng(0)
    probe = torch.as_tensor(rng.normal(size=(64, 5)).astype(np.float32))
    start = model.high_level(probe)[:, 0].mean().item()
    for _ in range(300):
        learner.update(_batch(rng))
    after = skills.state()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None and not p.requires_grad for p in skills.policy.parameters())
    assert all(p.grad is None for p in skills.embedding.parameters())
    # Reward z[0]: the policy's mean z[0] must have moved up, well away from its start at 0.
    assert model.high_level(probe)[:, 0].mean().item() > start + 0.5


def test_auto_alpha_holds_the_entropy_near_its_target():
    """transfer.auto_alpha: alpha rises while HL's entropy is under the target and falls while
    it is over; with the same rewards HL ends wider under a high target than under a low one."""
    ends = {}
    for target in (-3.0, 3.0):
        torch.manual_seed(0)
        model = build_model(_skills(), SUITE, "between", _cfg(lr=3e-3, hidden=(16,),
                            auto_alpha=True, target_entropy=target))  # fmt: skip
        learner = TransferLearner(model.high_level, model.critic, model.cfg, 0.99)
        assert learner.alpha == pytest.approx(1e-3)  # alpha 0 starts at 1e-3
        rng = np.random.default_rng(0)
        rows = [learner.update(_batch(rng)) for _ in range(300)]
        alphas = [r["values/high_level_alpha"] for r in rows]
        ends[target] = np.mean([r["values/high_level_entropy"] for r in rows[-20:]])
        assert (alphas[-1] > alphas[0]) == (target > 0)
    assert ends[3.0] > ends[-3.0] + 0.5


def test_twin_critics_train_both_and_answer_with_the_smaller(tmp_path):
    torch.manual_seed(0)
    model = build_model(_skills(), SUITE, "between", _cfg(twin_critics=True, lr=3e-3))
    critic = model.critic
    obs, z = torch.randn(7, 5), torch.randn(7, 2)
    first, second = critic.each(obs, z)
    assert not torch.equal(first, second)
    assert torch.equal(critic(obs, z), torch.minimum(first, second))
    learner = TransferLearner(model.high_level, critic, model.cfg, 0.99)
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    rng = np.random.default_rng(0)
    for _ in range(3):
        learner.update(_batch(rng))
    for part in ("first.", "second."):
        assert any(not torch.equal(before[k], v) for k, v in critic.state_dict().items()
                   if k.startswith(part))  # fmt: skip
    # A checkpoint of a twin-critic run loads with both critics.
    TransferRun(model, tmp_path).checkpoint()
    loaded, _, _ = load_transfer(tmp_path / CHECKPOINT)
    assert torch.equal(loaded.critic(obs, z), critic(obs, z))


def test_z_is_held_for_k_steps():
    model = build_model(_skills(), SUITE, "sequence", _cfg(hold=5))
    agent = transfer_agent(model, 3, False, torch.Generator().manual_seed(0))
    for slot in range(3):
        agent.begin(slot, 0)
    obs = np.random.default_rng(0).normal(size=(3, SUITE.obs_dim)).astype(np.float32)
    decisions = [agent.act(obs) for _ in range(12)]
    drawn = np.stack([d.z_drawn for d in decisions])
    assert drawn.all(1).tolist() == [k % 5 == 0 for k in range(12)]
    z = np.stack([d.z for d in decisions])
    assert (z[1:5] == z[0]).all() and (z[6:10] == z[5]).all()
    assert not np.array_equal(z[0], z[5])  # redrawn after K steps


def test_a_tiny_run_checkpoints_round_trips_and_evaluates(tmp_path):
    from skill_embedding_ros.transfer.evaluate import evaluate_transfer

    model = build_model(_skills(), SUITE, "sequence", _cfg(env_steps=200, log_every=100))
    summary = TransferRun(model, tmp_path).run()
    assert summary["env_steps"] == 200 and summary["updates"] == 50
    rows = [json.loads(x) for x in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 200 and "losses/critic" in rows[-1]
    loaded, _, meta = load_transfer(tmp_path / CHECKPOINT)
    assert meta["kind"] == "transfer" and meta["task"] == "sequence"
    for name in ("high_level", "critic"):
        a, b = getattr(model, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, loaded.skills.state()[k]) for k, v in model.skills.state().items())
    assert not any(p.requires_grad for p in loaded.skills.policy.parameters())
    r1, _ = evaluate_transfer(model, episodes=4)
    r2, _ = evaluate_transfer(loaded, episodes=4)
    assert r1["per_task"][0]["returns"] == r2["per_task"][0]["returns"]
    assert r1["per_task"][0]["task"] == "sequence" and "success_rate" in r1["per_task"][0]
    # `skill-embedding evaluate DIR` recognises the transfer checkpoint.
    assert main(["evaluate", str(tmp_path), "--episodes", "2", "--out", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert report["agent"].startswith("transfer (embedding)") and report["env_steps"] == 200


def test_high_level_networks_read_states_as_the_skills_do():
    """Skills trained on standardized states: HL and its critic read the skills' observation
    standardized by the skills' frozen statistics, the transfer suite's extra entry raw, and
    carry no statistics of their own (nothing new to save or broadcast)."""
    skills = _skills(normalize=True)
    skills.policy.obs_norm.update(torch.randn(500, 4) * 3.0 + 2.0)
    obs = torch.randn(6, 5) * 3.0 + 2.0  # reach_transfer: the 4-D reach state + a flag
    seen = torch.cat([skills.policy.obs_norm(obs[:, :4]), obs[:, 4:]], -1)
    for method in ("embedding", "selection"):
        plain = build_model(skills, SUITE, "sequence", _cfg(method=method, normalize=False))
        model = build_model(skills, SUITE, "sequence", _cfg(method=method))
        model.high_level.load_state_dict(plain.high_level.state_dict())
        model.critic.load_state_dict(plain.critic.state_dict())
        assert set(model.high_level.state_dict()) == set(plain.high_level.state_dict())
        z = torch.randn(6, 2)
        assert torch.allclose(model.critic(obs, z), plain.critic(seen, z))
        torch.nn.init.normal_(plain.high_level.net[-1].weight)  # an untrained HL ignores s
        model.high_level.load_state_dict(plain.high_level.state_dict())
        assert torch.allclose(model.high_level(obs), plain.high_level(seen))
        assert not torch.allclose(model.high_level(obs), plain.high_level(obs))


def test_periodic_evaluation_rows_leave_the_run_unchanged(tmp_path):
    """eval_every: a row before any update and one per multiple, of the evaluation's rules;
    the high-level policy trains bit-identically with it on or off."""
    runs = {}
    for every in (0, 100):
        torch.manual_seed(0)  # the same skills and initial high-level policy
        skills = _skills()
        model = build_model(skills, SUITE, "sequence", _cfg(env_steps=200, eval_every=every,
                                                           eval_episodes=2))  # fmt: skip
        TransferRun(model, tmp_path / str(every)).run()
        runs[every] = model.high_level.state_dict()
        text = (tmp_path / str(every) / "progress.jsonl").read_text()
        evals = [json.loads(x) for x in text.splitlines() if "eval/success_task0" in x]
        assert [r["env_steps"] for r in evals] == ([0, 100] if every else [])
        assert evals == [] or (
            evals[0]["updates"] == 0 and 0 <= evals[1]["eval/success_task0"] <= 1
        )
    assert all(torch.equal(runs[0][k], runs[100][k]) for k in runs[0])
    with pytest.raises(ValueError, match="eval_every"):
        _cfg(eval_every=-1)


def test_skills_act_with_their_mean_when_asked():
    """skill_actions=mean: the collecting agent takes the skills' mean actions (HL still
    samples z), so the same seed collects other episodes than with sampled actions."""
    states = {}
    for how in ("sample", "mean"):
        torch.manual_seed(0)
        model = build_model(_skills(), SUITE, "sequence", _cfg(env_steps=100, skill_actions=how))
        run = TransferRun(model, "/nonexistent")
        assert run.agent.deterministic == (how == "mean")
        run._collect_episode_batch()
        states[how] = run.replay.next_obs[: len(run.replay)].copy()
    assert not np.array_equal(states["sample"], states["mean"])
    with pytest.raises(ValueError, match="skill_actions"):
        _cfg(skill_actions="greedy")


def test_hold_must_divide_the_episode_and_skills_need_an_embedding():
    with pytest.raises(ValueError, match="divide"):
        build_model(_skills(), SUITE, "sequence", _cfg(hold=7))
    with pytest.raises(ValueError, match="no z"):
        build_model(_skills("none"), SUITE, "sequence", _cfg())


def test_high_level_replay_fits_the_buffer():
    ep = high_level_episode(
        np.zeros((51, 5)), np.ones(50), np.zeros((50, 2)), np.zeros(50), 10, 0.99
    )
    replay = ReplayBuffer(100, 5, 2, 0)
    replay.add(ep)
    batch = replay.sample(4, 5, 1, np.random.default_rng(0))
    assert batch["action"].shape == (4, 5, 2) and batch["z"].shape == (4, 5, 0)
