"""A Jaco controller's strict success on each pre-training task: the scripted one
(tasks/jaco/scripted.py) or the reactive one (tasks/jaco/reactive.py, its phase read from the
observation).

    python benchmarks/bench_jaco_scripted.py --episodes 50 \
        --out benchmarks/results_jaco_scripted.json
    python benchmarks/bench_jaco_scripted.py --controller reactive --episodes 50 \
        --out benchmarks/results_jaco_reactive.json

Per suite (jaco_velocity, jaco) and task: the share of episodes that succeed by the strict rule
(tasks/scoring.py: the block ends where the task wants it after at least half the episode
there), the mean return and its spread, and the first step at which the block was in the target
(median and worst). It shows each scene and reward is sound: a plain controller solves it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.tasks.jaco.layouts import PRETRAINING
from skill_embedding_ros.tasks.jaco.reactive import CONTROLLERS
from skill_embedding_ros.tasks.jaco.scripted import run_episodes
from skill_embedding_ros.tasks.registry import get_suite


def measure(suite_name: str, task: str, episodes: int, seed: int, controller: str) -> dict:
    suite = get_suite(suite_name)
    start = time.perf_counter()
    obs = run_episodes(suite, task, episodes, seed, CONTROLLERS[controller])
    visits = suite.visits(task, obs)
    returns = suite.reward(task, obs[:, 1:]).sum(1)
    entered = [int(np.argmax(v == 0)) + 1 for v in visits if (v == 0).any()]
    return {
        "controller": controller,
        "suite": suite_name,
        "task": task,
        "episodes": episodes,
        "success": float((suite.outcomes(task, obs) == 0).mean()),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "first_step_median": float(np.median(entered)) if entered else None,
        "first_step_max": max(entered) if entered else None,
        "episode_steps": suite.episode_steps,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suites", default="jaco_velocity,jaco")
    parser.add_argument("--controller", default="scripted", choices=sorted(CONTROLLERS))
    parser.add_argument("--tasks", default=",".join(PRETRAINING))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    print(f"{'suite':14} {'task':11} {'success':>8} {'return':>14} {'first step':>12}")
    for suite in args.suites.split(","):
        for task in args.tasks.split(","):
            row = measure(suite, task, args.episodes, args.seed, args.controller)
            rows.append(row)
            print(
                f"{suite:14} {task:11} {row['success']:8.0%} "
                f"{row['return_mean']:7.1f} ± {row['return_std']:4.1f} "
                f"{row['first_step_median']!s:>6}/{row['first_step_max']!s:>4}"
            )
    if args.out:
        result = {
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "commit": git_commit(),
            "rows": rows,
        }
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
