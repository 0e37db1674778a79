"""scripts/run_transfer.py, the transfer grid: it pre-trains only the skills its methods use,
and a grid run a method or a seed at a time keeps the other cells' rows."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from test.script_modules import load_script

REPO = Path(__file__).resolve().parents[1]


def _script():
    return load_script("run_transfer")


def _dry_run(tmp_path, *methods: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "scripts/run_transfer.py", "--task", "sequence", "--dry-run",
         "--skills", str(tmp_path / "skills"), "--skills-no-inference", str(tmp_path / "noinf"),
         "--holds", "10", "--seeds", "0", "--methods", *methods],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_only_the_skills_the_methods_use_are_pre_trained(tmp_path):
    lines = _dry_run(tmp_path, "embedding")
    pretrain = [line for line in lines if " train " in line and "agent.embedding=none" not in line]
    assert len(pretrain) == 1 and str(tmp_path / "skills") in pretrain[0]
    assert "agent.alpha2=0" not in pretrain[0]
    lines = _dry_run(tmp_path, "embedding_no_inference")
    pretrain = [line for line in lines if " train " in line]
    assert len(pretrain) == 1 and "agent.alpha2=0" in pretrain[0]
    assert str(tmp_path / "noinf") in pretrain[0]
    assert not [line for line in _dry_run(tmp_path, "scratch") if "--skills" in line]


def test_rows_of_other_cells_are_kept_and_a_rerun_cell_replaced(tmp_path):
    script = _script()
    out = tmp_path / "transfer_sequence.csv"
    old = [
        {"method": "embedding", "hold": 10, "seed": 0, "success": 0.5},
        {"method": "scratch", "hold": "", "seed": 0, "success": 0.0},
    ]
    script.write_rows(out, old)
    script.write_rows(out, [{"method": "embedding", "hold": 10, "seed": 0, "success": 0.9,
                             "touched": 1.0}])  # fmt: skip
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["success"]) for r in rows] == [
        ("scratch", "0.0"),
        ("embedding", "0.9"),
    ]
    assert rows[0]["touched"] == "" and rows[1]["touched"] == "1.0"


def _grid(tmp_path, evaluated: bool) -> Path:
    """A one-task grid of two methods, one seed each, as run_transfer.py writes it."""
    rows = []
    for method, reach_at in (("embedding", 20_000), ("selection", None)):
        run = tmp_path / "runs" / "transfer_t" / f"{method}_hold10_seed0"
        run.mkdir(parents=True)
        lines = []
        for steps in (0, 10_000, 20_000, 30_000):
            hit = reach_at is not None and steps >= reach_at
            if evaluated:
                lines.append({"env_steps": steps, "eval/success_task0": 0.6 if hit else 0.1})
            if steps:
                lines.append({"env_steps": steps, "charts/success": 0.0,
                              "charts/episodic_return": 1.0})  # fmt: skip
        (run / "progress.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        rows.append({"task": "t", "method": method, "hold": 10, "seed": 0, "success": 0.5,
                     "run": f"python -m x transfer --out {run}"})  # fmt: skip
    table = tmp_path / "transfer_t.csv"
    _script().write_rows(table, rows)
    return table


def test_the_summary_times_the_evaluated_success_where_the_runs_evaluated(tmp_path):
    from skill_embedding_ros.transfer.grid import summary_table

    lines = summary_table([_grid(tmp_path, evaluated=True)]).splitlines()
    assert "evaluated success" in lines[0]
    assert lines[2] == "| embedding, K=10 | 50% | never | 20 k |"
    assert lines[3] == "| selection, K=10 | 50% | never | never |"
    plot = subprocess.run(
        [sys.executable, "scripts/plot_transfer.py", str(tmp_path / "transfer_t.csv"),
         "--out", str(tmp_path / "t.png")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "t.png").stat().st_size > 0 and "| 20 k |" in plot.stdout


def test_without_periodic_evaluation_the_table_keeps_its_three_columns(tmp_path):
    from skill_embedding_ros.transfer.grid import summary_table

    lines = summary_table([_grid(tmp_path, evaluated=False)]).splitlines()
    assert "evaluated" not in lines[0] and lines[2] == "| embedding, K=10 | 50% | never |"


def test_transfer_settings_reach_every_transfer_cell_and_no_scratch_run(tmp_path):
    lines = _dry_run(tmp_path, "embedding", "selection", "scratch", "--set", "skill_actions=mean")
    transfer = [line for line in lines if " transfer " in line]
    assert len(transfer) == 2 and all("--set skill_actions=mean" in x for x in transfer)
    assert not [x for x in lines if " train " in x and "skill_actions" in x]


def test_the_curves_leave_the_evaluation_rows_out_instead_of_drawing_gaps(tmp_path):
    from skill_embedding_ros.transfer.grid import curve, eval_curve, groups, run_dir

    table = _grid(tmp_path, evaluated=True)
    run = run_dir(table, next(iter(groups([table]).values()))[0][1])
    steps, success, returns = curve(run)
    assert steps.tolist() == [10_000, 20_000, 30_000]
    assert not np.isnan(success).any() and not np.isnan(returns).any()
    assert eval_curve(run)[0].tolist() == [0, 10_000, 20_000, 30_000]
