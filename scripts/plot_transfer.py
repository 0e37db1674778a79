"""Curves and a summary of a transfer grid (scripts/run_transfer.py):

    python scripts/plot_transfer.py results/transfer_sequence.csv --out docs/transfer_sequence.png

Per method (and hold K): the exploration success (the last 100 training episodes, sampled z and
actions) and return against low-level env steps, mean and range over seeds, from each run's
progress.jsonl; then a markdown table with the final evaluation (results/transfer_<task>.csv:
50 episodes, mean actions, strict success) and the env steps until the exploration success
first reached `--reach` (0.5) in each seed, against learning from scratch. Runs that evaluated
as they went (transfer.eval_every; the arm's) get a third panel, the evaluated success (the
skills' mean actions, as the final evaluation), and its column in the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from skill_embedding_ros.transfer.grid import (
    curve,
    eval_curve,
    evaluated,
    first_reach,
    groups,
    run_dir,
    summary_table,
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tables", nargs="+", type=Path, help="the grid's transfer_<task>.csv files")
    p.add_argument("--out", required=True, help="the figure (png)")
    p.add_argument("--reach", type=float, default=0.5, help="exploration success to time")
    args = p.parse_args()
    for table in args.tables:
        if not table.is_file():
            print(f"error: {table} not found: run scripts/run_transfer.py", file=sys.stderr)
            return 2
    grid = groups(args.tables)
    tasks = sorted({row["task"] for members in grid.values() for _, row in members})

    runs = {name: [run_dir(t, r) for t, r in members] for name, members in grid.items()}
    with_eval = evaluated(run for members in runs.values() for run in members)
    fig, axes = plt.subplots(1, 3 if with_eval else 2, figsize=(16 if with_eval else 11, 4))
    ax_s, ax_r = axes[:2]
    scratch = []
    for k, name in enumerate(grid):
        color = plt.get_cmap("tab10")(k)
        if with_eval:
            evals = [eval_curve(run) for run in runs[name]]
            n = min(len(e[0]) for e in evals)
            if n:
                values = np.stack([e[1][:n] for e in evals])
                axes[2].plot(evals[0][0][:n], values.mean(0), color=color, marker=".")
                axes[2].fill_between(
                    evals[0][0][:n], values.min(0), values.max(0), color=color, alpha=0.15
                )
        curves = [curve(run) for run in runs[name]]
        n = min(len(c[0]) for c in curves)
        steps = curves[0][0][:n]
        for ax, which in ((ax_s, 1), (ax_r, 2)):
            values = np.stack([c[which][:n] for c in curves])
            ax.plot(steps, values.mean(0), color=color, label=f"{name} ({len(curves)} seeds)")
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.15)
        if name.startswith("scratch"):
            scratch += [first_reach(c[0], c[1], args.reach) for c in curves]
    ax_s.set_ylabel("exploration success (last 100 episodes)")
    ax_r.set_ylabel("exploration return")
    if with_eval:
        axes[2].set_ylabel("evaluated success (mean actions, periodic)")
    for ax in axes:
        # log: the grid's budget and a longer baseline's side by side; symlog where the
        # evaluation before any training sits at 0
        if with_eval:
            ax.set_xscale("symlog", linthresh=1000)
            top = max(1000.0, ax.get_xlim()[1])  # 0, then decades: the linear part has no room
            ticks = [0.0] + [10.0**e for e in range(3, int(np.log10(top)) + 1)]
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        else:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e3:g} k")
        )
        ax.set_xlabel("low-level env steps (log scale)")
        ax.grid(alpha=0.3)
    ax_r.legend(fontsize=7, loc="center right")
    fig.suptitle(f"transfer to {', '.join(tasks)}: mean and range over seeds")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)

    print(summary_table(args.tables, args.reach))
    if scratch:
        print(f"scratch median: {np.median(scratch):g} env steps")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
