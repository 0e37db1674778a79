"""Trajectories and the error of the inferred skill along them, for runs side by side (the
paper's third didactic experiment; skill_embedding_ros/training/inference_error.py):

    python scripts/inference_error.py with=results/runs/reach_force_seed0 \
        without=results/runs/reach_force_no_inference_seed0 \
        --out docs/force_inference.png --json results/force_inference.json

One row per run: its tasks' paths (z ~ p(z|t) held, mean actions) and |E_q[z | a, s^H] - z| at
each step (mean and spread over episodes, per task). The JSON holds the figures, the command
and the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from skill_embedding_ros.agent.run_networks import load_networks
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.inference_error import inference_traces


def summary(traces, nets, history: int) -> dict:
    """Per task: success, mean error after the first full window, and the scale it compares
    with (the embedding's own spread and the distance between the tasks' means)."""
    import torch

    with torch.no_grad():
        mean, log_std = nets.latent.split(nets.embedding(torch.arange(len(traces))))
    means = mean.numpy()
    out = {"tasks": {}, "embedding_means": means.round(4).tolist()}
    for k, trace in enumerate(traces):
        out["tasks"][trace.task] = {
            "success": float(np.mean(trace.rollouts.outcome >= 0)),
            "error_mean": round(float(trace.error[:, history - 1 :].mean()), 4),
            "error_first_step": round(float(trace.error[:, 0].mean()), 4),
            "embedding_std": round(float(log_std[k].exp().mean()), 4),
        }
    if len(means) > 1:
        out["distance_between_task_means"] = round(float(np.linalg.norm(means[0] - means[1])), 4)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIR (or a run directory)")
    p.add_argument("--episodes", type=int, default=20, help="episodes per task (20)")
    p.add_argument("--out", default="inference_error.png")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    named = [r.split("=", 1) if "=" in r else (Path(r).name, r) for r in args.runs]
    fig, axes = plt.subplots(len(named), 2, figsize=(9, 4 * len(named)), squeeze=False)
    report = {"command": "python scripts/inference_error.py " + " ".join(sys.argv[1:])}
    report["commit"] = git_commit()
    for row, (name, run) in zip(axes, named, strict=True):
        try:
            nets, cfg, _ = load_networks(Path(run) / "checkpoint.safetensors")
            traces = inference_traces(nets, cfg, args.episodes)
        except (ValueError, FileNotFoundError) as err:
            print(f"error: {run}: {err}", file=sys.stderr)
            return 2
        suite = get_suite(cfg.train.suite)
        colors = plt.get_cmap("Set1")
        for k, trace in enumerate(traces):
            suite.plot_episodes(row[0], trace.task, trace.rollouts.obs, trace.rollouts.outcome)
            steps = np.arange(1, trace.error.shape[1] + 1)
            m, s = trace.error.mean(0), trace.error.std(0)
            row[1].plot(steps, m, color=colors(k), label=trace.task)
            row[1].fill_between(steps, m - s, m + s, color=colors(k), alpha=0.2)
        row[0].set_title(f"{name}: paths (z ~ p(z|t) held, mean actions)")
        row[1].set_title(f"{name}: |E q(z | a, s^H) - z| along the episode")
        row[1].set_xlabel("step")
        row[1].set_ylabel("error (z units)")
        row[1].legend()
        report[name] = {"run": run, **summary(traces, nets, cfg.agent.history)}
        print(name, json.dumps(report[name]["tasks"]))
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
