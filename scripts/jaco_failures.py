"""How a Jaco run's failed episodes fail (docs/jaco_pretraining.md, "Where the failures lie"):
per task, the share of episodes that never reach the goal, reach it only in the second half,
leave it after reaching it, or end in it too briefly; of those that never reach it, how many
never lift the block off the table and how many never moved it at all.

    python scripts/jaco_failures.py results/runs/jaco_pretrain_from_dagger_embedding_seed2 \\
        --tasks spring wall table_push --episodes 50 --out results/X.json

The episodes are the evaluation's (`skill-embedding evaluate`: the same seeds, mean actions,
z ~ p(z|t)), so the success rate printed is the one eval.json holds for the same episodes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from skill_embedding_ros.agent.checkpoint import ACTOR_CHECKPOINT
from skill_embedding_ros.agent.run_networks import load_networks
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.scoring import STAY_SHARE
from skill_embedding_ros.training.rollout import EVAL_SEED, nets_agent, rollout_agent

LIFTED = 0.03
"""m above its start: the block left the table (it rests 2 cm high, half its size)."""
MOVED = 0.01
"""m: the block was pushed or carried at all."""


def failures(obs: np.ndarray, visits: np.ndarray, outcome: np.ndarray) -> dict:
    """Shares of N episodes (obs [N, L+1, S], visits [N, L] with -1 outside any solution,
    outcome [N] with -1 for a failure), each a float in [0, 1]."""
    inside = visits >= 0
    steps = inside.shape[1]
    entered = inside.any(axis=1)
    first = np.where(entered, inside.argmax(axis=1), steps)
    block = obs[:, :, SLICES["block_position"]]
    moved = np.linalg.norm(block - block[:, :1], axis=-1).max(axis=1)
    lifted = (block[:, :, 2] - block[:, :1, 2]).max(axis=1)
    never = ~entered
    return {
        "success": float(np.mean(outcome >= 0)),
        "never_reached": float(np.mean(never)),
        "never_reached_block_not_lifted": float(np.mean(never & (lifted < LIFTED))),
        "never_reached_block_not_moved": float(np.mean(never & (moved < MOVED))),
        "reached_in_second_half": float(np.mean(entered & (first >= steps // 2))),
        "left_after_reaching": float(np.mean(entered & ~inside[:, -1])),
        "ends_inside_too_briefly": float(np.mean(inside[:, -1] & (outcome < 0))),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run directory (its policy.safetensors) or checkpoint")
    p.add_argument("--tasks", nargs="+", help="tasks of the run (default: all)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--out", help="JSON file to write the shares to")
    args = p.parse_args()
    path = Path(args.run)
    nets, cfg, meta = load_networks(path / ACTOR_CHECKPOINT if path.is_dir() else path)
    suite, tasks = get_suite(cfg.train.suite), list(cfg.train.tasks)
    unknown = sorted(set(args.tasks or []) - set(tasks))
    if unknown:
        print(f"error: {unknown} not among the run's tasks {tasks}", file=sys.stderr)
        return 2
    report = {"run": str(path), "env_steps": meta.get("env_steps"), "commit": git_commit()}
    report["command"] = "python scripts/jaco_failures.py " + " ".join(sys.argv[1:])
    for name in args.tasks or tasks:
        t = tasks.index(name)
        seed = EVAL_SEED + 1000 * t  # the evaluation's seeds for this task
        agent = nets_agent(nets, args.episodes, seed, cfg.train.z_hold)
        r = rollout_agent(agent, suite, tasks, t, args.episodes, seed, STAY_SHARE)
        shares = failures(r.obs, r.visits, r.outcome)
        report[name] = shares
        print(f"{name}: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
