"""How a skill is scored: the strict and the touched rule on hand-built paths, the min-share
solution rule, per-z consistency, intervals over seeds, evaluation of any agent with ActorCore's
interface, and evaluation during training (its rows, and that it leaves training unchanged)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.provenance import git_commit, machine, runs_commit
from skill_embedding_ros.settings.run import RunConfig, from_dict
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.scoring import STAY_SHARE, strict_outcomes, touched_outcomes
from skill_embedding_ros.training import scoring
from skill_embedding_ros.training.evaluate import Z_REPEATS, evaluate, evaluate_agent
from skill_embedding_ros.training.trainer import Trainer

REACH = get_suite("reach")
STEPS = REACH.episode_steps


def episode(positions) -> np.ndarray:
    """A reach observation sequence [L+1, 4] from L+1 planar positions (velocities zero)."""
    xy = np.asarray(positions, np.float32)
    return np.concatenate([xy, np.zeros_like(xy)], 1)


def path(start, inside_from: int | None, where, after=None) -> np.ndarray:
    """L+1 positions: at `start` until step `inside_from`, then at `where` (and at `after` from
    step `after[0]` on)."""
    p = np.tile(np.asarray(start, np.float32), (STEPS + 1, 1))
    if inside_from is not None:
        p[inside_from:] = where
    if after is not None:
        p[after[0] :] = after[1]
    return episode(p)


G0, G1 = REACH.goals[0], REACH.goals[1]
OUTSIDE = (0.0, 0.0)


def test_strict_needs_the_end_and_the_stay_touched_needs_one_step():
    need = math.ceil(STAY_SHARE * STEPS)
    # step k of an episode is state k + 1: in the region from state s means STEPS + 1 - s steps
    cases = {
        "stays": (path(OUTSIDE, 8, G0), 0, 0),
        "passes through": (path(OUTSIDE, 10, G0, (14, (1.4, 0.0))), -1, 0),
        "arrives at the last step": (path(OUTSIDE, STEPS, G0), -1, 0),
        "stays exactly the share": (path(OUTSIDE, STEPS + 1 - need, G0), 0, 0),
        "one step short": (path(OUTSIDE, STEPS + 2 - need, G0), -1, 0),
        "long in one, ends briefly in another": (path(OUTSIDE, 2, G0, (STEPS - 3, G1)), -1, 0),
        "never": (path(OUTSIDE, None, None), -1, -1),
    }
    obs = np.stack([c[0] for c in cases.values()])
    visits = REACH.visits("any", obs)
    assert visits.shape == (len(cases), STEPS)
    got_strict, got_touched = REACH.outcomes("any", obs), REACH.touched("any", obs)
    for k, (name, (_, strict, touched)) in enumerate(cases.items()):
        assert got_strict[k] == strict, name
        assert got_touched[k] == touched, name
    np.testing.assert_array_equal(got_strict, strict_outcomes(visits))
    np.testing.assert_array_equal(REACH.success("any", obs), got_strict >= 0)
    # a region the task does not reward is no visit: goal_1 sees nothing of region 0
    assert (REACH.visits("goal_1", obs[:1]) == -1).all()
    assert REACH.outcomes("goal_0", obs[:1])[0] == 0


def test_rules_on_visits_directly():
    v = np.array([[-1, 2, 2, 2], [2, 2, 2, -1], [3, 3, 1, 1], [1, 3, 3, 1], [-1, -1, -1, -1]])
    np.testing.assert_array_equal(strict_outcomes(v, 0.5), [2, -1, 1, 1, -1])
    np.testing.assert_array_equal(strict_outcomes(v, 0.75), [2, -1, -1, -1, -1])
    # row 3 ties 1 and 3 (two steps each): the first listed solution
    np.testing.assert_array_equal(touched_outcomes(v, (1, 2, 3)), [2, 2, 1, 1, -1])
    np.testing.assert_array_equal(touched_outcomes(v, (3, 2, 1)), [2, 2, 3, 3, -1])
    np.testing.assert_array_equal(touched_outcomes(v, (3,)), [-1, -1, 3, 3, -1])
    with pytest.raises(ValueError, match="stay_share"):
        strict_outcomes(v, 1.5)


def test_a_solution_needs_a_share_of_the_samples():
    outcomes = np.array([0] * 5 + [1] * 4 + [2] * 1 + [-1] * 40)
    counts = scoring.outcome_counts(outcomes, (0, 1, 2, 3))
    assert counts == {0: 5, 1: 4, 2: 1, 3: 0}
    assert scoring.episodes_needed(0.1, 50) == 5 and scoring.episodes_needed(0.1, 20) == 2
    assert scoring.solutions_reached(counts, scoring.episodes_needed(0.1, 50)) == 1
    assert scoring.solutions_reached(counts, 2) == 2  # the old count
    assert scoring.episodes_needed(0.0, 50) == 1


def test_per_code_consistency():
    z = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 1]], np.float32)
    outcomes = np.array([3, 3, -1, 1, 2, -1, 0, 0])
    labels, index = scoring.z_groups(z)
    assert labels == ["00", "01", "10", "11"]  # code = bits weighted 2**i, bit 0 written last
    rows = {r["z"]: r for r in scoring.per_z(labels, index, outcomes)}
    assert rows["00"] == {"z": "00", "episodes": 3, "region": 3, "consistency": 2 / 3}
    assert rows["01"]["region"] == 1 and rows["01"]["consistency"] == 0.5  # tie: lowest id
    assert rows["11"] == {"z": "11", "episodes": 1, "region": -1, "consistency": 0.0}
    assert rows["10"]["consistency"] == 1.0
    assert scoring.consistency(list(rows.values())) == pytest.approx(5 / 8)
    # regions some z reaches in >= 80 % of >= 2 episodes: only code 10's region 0
    assert scoring.reliable_solutions(list(rows.values())) == 1
    continuous = np.random.default_rng(0).normal(size=(6, 2))
    assert len(scoring.z_groups(continuous)[0]) == 6


def test_interval_over_seeds():
    values = [0.2, 0.4, 0.4, 0.6, 0.9]
    mean, half = scoring.mean_ci95(values)
    sd = np.std(values, ddof=1)
    assert mean == pytest.approx(np.mean(values))
    assert half == pytest.approx(2.7764 * sd / math.sqrt(5), rel=1e-4)
    assert scoring.mean_ci95([3.0]) == (3.0, None)
    assert scoring.mean_ci95([1.0, 1.0, 1.0])[1] == 0.0
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29, 30, 31, 45, 100, 1000):
        assert scoring.t_quantile95(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-4)


def test_returns_summary_and_first_reached():
    s = scoring.returns_summary(np.array([0.0, 10.0, 20.0, 30.0]))
    assert s["mean"] == 15 and s["std"] == pytest.approx(np.std([0, 10, 20, 30]))
    assert s["min"] == 0 and s["max"] == 30 and s["median"] == 15
    points = [(1000, 1), (2000, 3), (3000, 2), (4000, 4)]
    assert scoring.first_reached(points, 3) == 2000
    assert scoring.first_reached(points, 5) is None


class Scripted:
    """An agent with ActorCore's interface. Slot i acts under code g = i % 4 (z = its bits):
    g 0 and 1 go to regions 0 and 1 and stay; g 2 goes to region 2 in every other episode of
    its code, and otherwise flies through region 1 to the wall; g 3 waits beside region 3 and
    enters it only in the last steps."""

    def __init__(self, slots: int):
        self.age = np.zeros(slots, int)
        self.z = np.array([[(i % 4) & 1, (i % 4) >> 1] for i in range(slots)], np.float32)

    def begin(self, slot: int, task: int) -> None:
        self.age[slot] = 0

    def target(self, i: int) -> tuple[float, float]:
        g, goals = i % 4, REACH.goals
        if g < 2:
            return goals[g]
        if g == 2:
            return goals[2] if (i // 4) % 2 == 0 else (0.0, 1.4)
        beside = (goals[3][0], goals[3][1] + 0.35)  # 0.35 m from the centre: outside
        return goals[3] if self.age[i] >= STEPS - 3 else beside

    def act(self, obs: np.ndarray):
        targets = np.array([self.target(i) for i in range(len(obs))])
        action = np.clip(5.0 * (targets - obs[:, :2]), -1, 1).astype(np.float32)
        self.age += 1
        return SimpleNamespace(action=action, z=self.z.copy())


def test_evaluate_any_agent():
    episodes = 40  # ten per code
    report, rollouts = evaluate_agent(lambda n, seed: Scripted(n), REACH, ["any"], episodes)
    row = report["per_task"][0]
    assert "kl" not in report
    per = {r["z"]: r for r in row["per_z"]}  # labelled by code, as the plot does
    assert [per[format(g, "02b")]["episodes"] for g in range(4)] == [10] * 4
    assert per["00"]["region"] == 0 and per["00"]["consistency"] == 1.0
    assert per["01"]["region"] == 1 and per["01"]["consistency"] == 1.0
    assert per["10"]["region"] == 2 and per["10"]["consistency"] == 0.5
    assert per["11"]["region"] == -1 and per["11"]["consistency"] == 0.0  # too late
    assert row["episodes_per_outcome"] == {0: 10, 1: 10, 2: 5, 3: 0}
    assert row["success_rate"] == 25 / 40
    # touched: the pass-throughs count for region 1, the late arrivals for region 3
    assert row["touched_outcomes"] == {0: 10, 1: 15, 2: 5, 3: 10}
    assert row["touched_rate"] == 1.0
    assert row["distinct_solutions"] == 3 and row["touched_solutions"] == 4
    assert row["z_consistency"] == pytest.approx(25 / 40)
    assert row["reliable_solutions"] == 2
    r = rollouts[0]
    np.testing.assert_array_equal(r.returns, (r.visits >= 0).sum(1))  # reward 1 per step inside
    assert row["mean_return"] == pytest.approx(r.returns.mean())
    assert row["return_std"] == pytest.approx(r.returns.std())
    json.dumps(report)


def test_evaluate_networks_gaussian_runs_each_z_from_several_starts():
    cfg = from_dict(
        RunConfig,
        {"agent": {"embedding": "gaussian", "hidden": [16], "critic_hidden": [16]}},
    )
    torch.manual_seed(0)
    nets = build_networks(cfg)
    report, _ = evaluate(nets, REACH, ["any"], episodes=2 * Z_REPEATS)
    row = report["per_task"][0]
    assert row["per_z_from"] == "each z from several starts"
    assert [r["episodes"] for r in row["per_z"]] == [Z_REPEATS, Z_REPEATS]
    assert len(report["kl"]) == 1


SMALL = {
    "agent": {"hidden": [16], "critic_hidden": [16], "alpha2": 0.5},
    "replay": {"batch": 8},
    "train": {
        "tasks": ["any", "goal_2"],
        "env_steps": 1200,
        "warmup_steps": 400,
        "log_every": 400,
        "checkpoint_every": 100_000,
        "eval_episodes": 4,
    },
}


def _train(tmp_path, eval_every: int):
    values = json.loads(json.dumps(SMALL))
    values["train"]["eval_every"] = eval_every
    trainer = Trainer(from_dict(RunConfig, values), tmp_path, progress=False)
    summary = trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    return trainer, summary, rows


def test_periodic_evaluation_rows_and_identical_training(tmp_path):
    every = 300
    plain, plain_summary, plain_rows = _train(tmp_path / "off", 0)
    evald, summary, rows = _train(tmp_path / "on", every)
    ticks = range(8, 1200 + 1, 8)  # 8 envs per actor: one tick is 8 env steps
    expected = [min(s for s in ticks if s >= k * every) for k in range(1, 1200 // every + 1)]
    eval_rows = [r for r in rows if "eval/success_task0" in r]
    assert [r["env_steps"] for r in eval_rows] == expected
    for r in eval_rows:
        for key in ("success", "touched", "solutions", "return"):
            assert f"eval/{key}_task1" in r
        assert r["eval/kl_max"] >= r["eval/kl_min"]
    assert not any("eval/success_task0" in r for r in plain_rows)
    # the same training: weights bit for bit, and every training row but the clock
    state, other = plain.nets.state_dict(), evald.nets.state_dict()
    assert all(torch.equal(state[k], other[k]) for k in state)
    train_rows = [r for r in rows if "eval/success_task0" not in r]
    strip = [{k: v for k, v in r.items() if k != "minutes"} for r in plain_rows]
    assert strip == [{k: v for k, v in r.items() if k != "minutes"} for r in train_rows]
    periodic = summary["periodic_eval"]
    assert periodic["points"] == len(expected) and "periodic_eval" not in plain_summary
    assert periodic["solutions_target"] == {"t0_any": 4, "t1_goal_2": 1}
    for key, target in periodic["solutions_target"].items():
        t = int(key[1])
        counts = [(r["env_steps"], r[f"eval/solutions_task{t}"]) for r in eval_rows]
        assert periodic["env_steps_to_solutions"][key] == scoring.first_reached(counts, target)


def _script(name: str):
    """A module of scripts/ (they are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_agent_without_skills_is_one_z():
    class NoSkills(Scripted):
        def act(self, obs):
            return SimpleNamespace(action=super().act(obs).action, z=np.zeros((len(obs), 0)))

    report, rollouts = evaluate_agent(lambda n, seed: NoSkills(n), REACH, ["any"], 8)
    (group,) = report["per_task"][0]["per_z"]
    # regions 0 and 1 twice, 2 once, a pass-through, two late: 0 and 1 tie, the lower wins
    assert group["episodes"] == 8 and group["region"] == 0 and group["consistency"] == 2 / 8
    assert rollouts[0].z.shape == (8, 0)


def test_result_rows_name_the_commit_of_the_code_the_runs_import(tmp_path, monkeypatch):
    # run_experiments, run_transfer and bench_demo run `python -m skill_embedding_ros.cli` in
    # the working directory, which takes the package from there when it holds one (another
    # checkout): the commit their rows name must come from there too.
    checkout = tmp_path / "checkout" / "skill_embedding_ros"
    checkout.mkdir(parents=True)
    (checkout / "__init__.py").write_text("")
    (checkout / "provenance.py").write_text("def git_commit():\n    return 'other'\n")
    monkeypatch.chdir(checkout.parent)
    assert runs_commit() == "other"
    monkeypatch.chdir(tmp_path)  # no package here: the installed one, this test's
    assert runs_commit() == git_commit()


def test_benchmarks_name_the_machine_alike():
    # Machines of one kind differ (AVX2 on one, AVX512-BF16 on another): every benchmark file
    # says which it ran on, in one form, with its own facts beside.
    host = machine(torch_threads=1)
    assert host["cpu"] and host["cpus"] > 0 and host["python"] and host["torch"]
    assert host["vector_isa"] == torch.backends.cpu.get_cpu_capability()  # e.g. AVX2, AVX512
    assert host["torch_threads"] == 1


def test_experiment_rows_and_table_read_the_strict_report(tmp_path):
    experiments, tables = _script("run_experiments"), _script("results_table")
    rows = []
    for seed, episodes in enumerate((8, 12, 16)):
        report, _ = evaluate_agent(lambda n, s: Scripted(n), REACH, ["any"], episodes)
        report["env_steps"] = 1000
        report["env_steps_to_solutions"] = {"t0_any": None}
        run = tmp_path / f"run{seed}"
        run.mkdir()
        (run / "eval.json").write_text(json.dumps(report))
        rows.append(experiments._row("x", seed, run, 1.0, 0.0, "abc"))
        task = report["per_task"][0]
        assert rows[-1]["t0_any_success"] == task["success_rate"]
        assert rows[-1]["t0_any_touched"] == task["touched_rate"]
        assert rows[-1]["t0_any_steps_to_solutions"] == ""
    experiments.write_csv(tmp_path, "x", rows)
    _, read = tables.read(tmp_path / "x.csv")
    line = tables.summary(read).splitlines()[2].split(" | ")
    mean, half = scoring.mean_ci95([100 * float(r["t0_any_success"]) for r in read])
    assert line[2] == "3" and line[3] == f"{mean:.0f} % ± {half:.0f} %"
    mean, half = scoring.mean_ci95([float(r["t0_any_return"]) for r in read])
    assert line[6] == f"{mean:.1f} ± {half:.1f}"  # after solutions and reliable solutions
    old = [{k: v for k, v in r.items() if "touched" not in k} for r in read]
    assert "touched rule" in tables.summary(old) and "touched rule" in tables.table(old)
