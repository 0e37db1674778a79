"""Where a Jaco skill takes the hand and the block: for each task of a run, the hand's distance
to the block (at the start, its minimum, its mean and at the end of the episode) and the block's
distance to its goal (start, end), under the run's policy with z ~ p(z|t) and mean actions.

    python scripts/jaco_hand_to_block.py results/runs/jaco_push_lift_seed0 [...] \
        [--episodes 10] [--out results/jaco_push_lift_hands.json]

Before any task succeeds this is what shows whether a run has learned to reach the block (the
reach term), then to move it (the bring term). Same episodes as the evaluation's starts
(seed 12345 + i).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from skill_embedding_ros.agent.run_networks import load_networks
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.rollout import EVAL_SEED, rollout_task


def distances(run_dir: Path, episodes: int) -> dict:
    """Per task: the hand-to-block and block-to-goal distances in m, means over episodes."""
    nets, cfg, meta = load_networks(run_dir / "checkpoint.safetensors")
    suite, tasks = get_suite(cfg.train.suite), list(cfg.train.tasks)
    out = {"run": str(run_dir), "env_steps": meta.get("env_steps"), "tasks": {}}
    for t, task in enumerate(tasks):
        obs = rollout_task(nets, suite, tasks, t, episodes, EVAL_SEED, cfg.train.z_hold).obs
        block = obs[..., SLICES["block_position"]]
        hand = np.linalg.norm(obs[..., SLICES["end_effector"]] - block, axis=-1)
        goal = np.linalg.norm(block - obs[..., SLICES["goal"]], axis=-1)
        out["tasks"][task] = {
            "hand_to_block_start": round(float(hand[:, 0].mean()), 3),
            "hand_to_block_min": round(float(hand.min(1).mean()), 3),
            "hand_to_block_mean": round(float(hand.mean()), 3),
            "hand_to_block_end": round(float(hand[:, -1].mean()), 3),
            "block_to_goal_start": round(float(goal[:, 0].mean()), 3),
            "block_to_goal_end": round(float(goal[:, -1].mean()), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (a checkpoint each)")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    results = [distances(run, args.episodes) for run in args.runs]
    print(f"{'run':<28} {'task':<12} hand to block (m): start   min  mean   end | block to goal")
    for r in results:
        for task, d in r["tasks"].items():
            print(
                f"{Path(r['run']).name:<28} {task:<12} {d['hand_to_block_start']:>24.3f} "
                f"{d['hand_to_block_min']:.3f} {d['hand_to_block_mean']:.3f} "
                f"{d['hand_to_block_end']:.3f} | {d['block_to_goal_start']:.3f} -> "
                f"{d['block_to_goal_end']:.3f}"
            )
    if args.out:
        command = "python scripts/jaco_hand_to_block.py " + " ".join(
            [*map(str, args.runs), "--episodes", str(args.episodes)]
        )
        args.out.write_text(json.dumps({"command": command, "runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
