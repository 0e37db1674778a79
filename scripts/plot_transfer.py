"""Curves and a summary of the point-mass transfer grid (scripts/run_transfer.py):

    python scripts/plot_transfer.py results/transfer_sequence.csv --out docs/transfer_sequence.png

Per method (and hold K): the exploration success (the last 100 training episodes, sampled z and
actions) and return against low-level env steps, mean and range over seeds, from each run's
progress.jsonl; then a markdown table with the final evaluation (results/transfer_<task>.csv:
50 episodes, mean actions, strict success) and the env steps until the exploration success
first reached `--reach` (0.5) in each seed, against learning from scratch.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def curve(run: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, exploration success, return) of one run's progress.jsonl."""
    rows = [json.loads(x) for x in (run / "progress.jsonl").read_text().splitlines() if x]
    success = [r.get("charts/success", r.get("charts/success_task0", np.nan)) for r in rows]
    returns = [r.get("charts/episodic_return", np.nan) for r in rows]
    return np.array([r["env_steps"] for r in rows]), np.array(success), np.array(returns)


def first_reach(steps: np.ndarray, success: np.ndarray, level: float) -> float:
    """Env steps at the first row whose success is >= level (inf: never)."""
    hit = np.flatnonzero(success >= level)
    return float(steps[hit[0]]) if len(hit) else float("inf")


def label(row: dict) -> str:
    """The method, its hold, and a baseline's budget (scratch runs at more than one)."""
    if row["method"] == "scratch":
        return f"scratch, {int(row['env_steps']) // 1000} k steps"
    return row["method"] + (f", K={row['hold']}" if row["hold"] else "")


def run_dir(table: Path, row: dict) -> Path:
    """Where a grid row's run lies: beside its CSV, as scripts/run_transfer.py --out wrote it
    (the row's own command names the directory: `--out DIR`, or a graph's `run_dir:=DIR`)."""
    argv = shlex.split(row["run"])
    named = [a.removeprefix("run_dir:=") for a in argv if a.startswith("run_dir:=")]
    where = named[0] if named else argv[argv.index("--out") + 1]
    return table.parent / "runs" / f"transfer_{row['task']}" / Path(where).name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tables", nargs="+", type=Path, help="the grid's transfer_<task>.csv files")
    p.add_argument("--out", required=True, help="the figure (png)")
    p.add_argument("--reach", type=float, default=0.5, help="exploration success to time")
    args = p.parse_args()
    groups: dict[str, list[tuple[Path, dict]]] = defaultdict(list)
    for table in args.tables:
        if not table.is_file():
            print(f"error: {table} not found: run scripts/run_transfer.py", file=sys.stderr)
            return 2
        for row in csv.DictReader(table.open()):
            groups[label(row)].append((table, row))
    tasks = sorted({row["task"] for members in groups.values() for _, row in members})

    fig, (ax_s, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    summary = []
    for k, (name, members) in enumerate(sorted(groups.items())):
        curves = [curve(run_dir(table, row)) for table, row in members]
        n = min(len(c[0]) for c in curves)
        steps = curves[0][0][:n]
        for ax, which in ((ax_s, 1), (ax_r, 2)):
            values = np.stack([c[which][:n] for c in curves])
            color = plt.get_cmap("tab10")(k)
            ax.plot(steps, values.mean(0), color=color, label=f"{name} ({len(curves)} seeds)")
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.15)
        reach = [first_reach(c[0], c[1], args.reach) for c in curves]
        success = [float(r["success"]) for _, r in members]
        summary.append((name, success, reach))
    ax_s.set_ylabel("exploration success (last 100 episodes)")
    ax_r.set_ylabel("exploration return")
    for ax in (ax_s, ax_r):
        ax.set_xscale("log")  # the grid's budget and a longer baseline's side by side
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e3:g} k")
        )
        ax.set_xlabel("low-level env steps (log scale)")
        ax.grid(alpha=0.3)
    ax_r.legend(fontsize=7, loc="center right")
    fig.suptitle(f"transfer to {', '.join(tasks)}: mean and range over seeds")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)

    scratch = [r for name, _, reach in summary if name.startswith("scratch") for r in reach]
    print(
        f"| method | final strict success per seed | steps to {args.reach:.0%} exploration "
        "success |"
    )
    print("|---|---|---|")
    for name, success, reach in summary:
        shown = ", ".join("never" if np.isinf(r) else f"{r / 1000:.0f} k" for r in reach)
        print(f"| {name} | {', '.join(f'{s:.0%}' for s in success)} | {shown} |")
    if scratch:
        print(f"scratch median: {np.median(scratch):g} env steps")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
