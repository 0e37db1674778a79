"""scripts/plot_progress.py draws success or return curves from a run's progress.jsonl, one
panel per task named from the run's config, and refuses what it cannot read."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot_progress.py"


def _module():
    spec = importlib.util.spec_from_file_location("scripts_plot_progress", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_success_and_return_curves(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("train: {tasks: [push, lift]}\n")
    rows = [
        {"env_steps": 1000 * k, **{f"charts/success_task{t}": 0.1 * k for t in (0, 1)},
         **{f"charts/return_task{t}": 10.0 * k for t in (0, 1)}}
        for k in range(1, 4)
    ]  # fmt: skip
    evaluation = {"env_steps": 1500, "eval/success_task0": 0.5, "eval/success_task1": 0.2}
    rows.insert(1, evaluation)
    (run / "progress.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    plot = _module()
    assert plot.run_tasks(run, rows) == ["push", "lift"]
    for metric in ("success", "return", "eval"):
        out = tmp_path / f"{metric}.png"
        plot.main([str(run), "--metric", metric, "--out", str(out)])
        assert out.stat().st_size > 1000
    learner = tmp_path / "learner.png"  # a learner diagnostic, where the rows have it
    plot.main([str(run), "--learner", "charts/return_task1", "--out", str(learner)])
    assert learner.stat().st_size > 1000
    with pytest.raises(SystemExit, match="no values/q in its progress"):
        plot.main([str(run), "--learner", "values/q", "--out", str(learner)])
    unevaluated = tmp_path / "unevaluated.jsonl"  # a run without train.eval_every
    unevaluated.write_text("\n".join(json.dumps(r) for r in rows if r is not evaluation))
    with pytest.raises(SystemExit, match="no eval/success_task0 in its progress"):
        plot.main([str(unevaluated), "--metric", "eval", "--out", str(learner)])
    with pytest.raises(SystemExit, match="not found"):
        plot.main([str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")])


def test_runs_of_other_tasks_share_the_panels_of_the_tasks_they_share(tmp_path):
    """Pre-training pairs side by side: a panel per task name, each run read at its own ids."""
    runs = []
    for name, tasks in (("a", ["push", "lift"]), ("b", ["lift", "wall"])):
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(f"train: {{tasks: [{', '.join(tasks)}]}}\n")
        row = {"env_steps": 1000, "charts/success_task0": 0.5, "charts/success_task1": 0.25}
        (run / "progress.jsonl").write_text(json.dumps(row) + "\n")
        runs.append((name, run, [row]))
    plot = _module()
    panels = plot.panel_keys(runs, "success", [])
    assert panels == [
        ("push", {0: "charts/success_task0"}),
        ("lift", {0: "charts/success_task1", 1: "charts/success_task0"}),
        ("wall", {1: "charts/success_task1"}),
    ]
    bare = tmp_path / "bare.jsonl"  # no config beside it: t0, t1 by the columns it has
    bare.write_text(json.dumps(runs[0][2][0]) + "\n")
    assert plot.run_tasks(bare, runs[0][2]) == ["t0", "t1"]
    out = tmp_path / "pairs.png"
    plot.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert out.stat().st_size > 1000
