"""Learning curves from runs' progress.jsonl: exploration success (sampled actions, the actors'
recent episodes) or return per task against env steps, one panel per task, one line per run.

python scripts/plot_progress.py results/runs/reach_tasks_seed* --out docs/reach_tasks_curves.png
python scripts/plot_progress.py results/runs/jaco_pretrain_seed0 --metric return --out x.png
python scripts/plot_progress.py in_process=RUN_A graph=RUN_B --metric eval --out x.png
python scripts/plot_progress.py RUN... --learner values/q values/policy_entropy --out x.png
A run is a run directory or a progress.jsonl file; NAME=PATH labels it NAME. Runs of other task
lists (e.g. one per pre-training pair) share the panels of the tasks they share.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def read_progress(path: Path) -> list[dict]:
    """The rows of a progress.jsonl (a run directory's, or the file itself)."""
    if path.is_dir():
        path = path / "progress.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (give a run directory or its progress.jsonl)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{path}: no rows yet (a run logs every train.log_every env steps)")
    return rows


def run_tasks(path: Path, rows: list[dict]) -> list[str]:
    """A run's task names by task id: from its config.yaml beside the progress, else t0, t1, ...
    (as many as its rows have success columns; evaluation rows carry none)."""
    config = (path if path.is_dir() else path.parent) / "config.yaml"
    if config.is_file():
        return list(yaml.safe_load(config.read_text())["train"]["tasks"])
    count = max(sum(k.startswith("charts/success_task") for k in row) for row in rows)
    return [f"t{k}" for k in range(count)]


def panel_keys(data: list[tuple], metric: str, learner: list[str]) -> list[tuple[str, dict]]:
    """(title, {run index: progress column}) per panel: a panel per learner key, or per task
    name, where each run that has the task is read at its own id for it."""
    if learner:
        return [(key, dict.fromkeys(range(len(data)), key)) for key in learner]
    prefix = "eval/success" if metric == "eval" else f"charts/{metric}"
    keys: dict[str, dict[int, str]] = {}
    for i, (_, path, rows) in enumerate(data):
        for k, task in enumerate(run_tasks(path, rows)):
            keys.setdefault(task, {})[i] = f"{prefix}_task{k}"
    return list(keys.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or progress.jsonl files")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument(
        "--metric",
        choices=("success", "return", "eval"),
        default="success",
        help="exploration success rate, the episodes' return, or the periodic evaluation's "
        "strict success (train.eval_every: mean actions, z ~ p(z|t))",
    )
    parser.add_argument(
        "--learner", nargs="+", metavar="KEY", default=[],
        help="instead: the learner's diagnostics (e.g. values/q), one panel per key",
    )  # fmt: skip
    args = parser.parse_args(argv)

    runs = []
    for spec in args.runs:
        label, _, path = spec.rpartition("=")
        path = Path(path)
        runs.append((label or (path.parent.name if path.is_file() else path.name), path))
    data = [(label, path, read_progress(path)) for label, path in runs]
    panels = panel_keys(data, args.metric, args.learner)

    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.2 * len(panels), 3.0), sharey=not args.learner, squeeze=False
    )
    for ax, (title, run_keys) in zip(axes[0], panels, strict=True):
        for i, (label, path, rows) in enumerate(data):
            if i not in run_keys:  # a run without this task
                continue
            key = run_keys[i]
            points = [(r["env_steps"] / 1000, r[key]) for r in rows if key in r]
            if not points:
                raise SystemExit(f"{path}: no {key} in its progress")
            ax.plot(*zip(*points, strict=True), label=label, lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps (thousands)")
        if "/success" in next(iter(run_keys.values())):
            ax.axhline(0.9, color="grey", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
    ylabel = "evaluation success" if args.metric == "eval" else f"exploration {args.metric}"
    axes[0][0].set_ylabel("learner" if args.learner else ylabel)
    handles = {}  # every run's line once, also where the last panel lacks some runs
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=7, loc="best")
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
