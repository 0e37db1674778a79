"""A rosbag2 bag of the Jaco's scripted demonstrations, robot topics only, as a lockstep graph
records them (joint_states, object poses, commands, the policy's `task` topic): the scripted
controller (tasks/jaco/scripted.py) solves each pre-training task from randomised starts.

    python scripts/jaco_demo_bag.py --episodes 10 --out demos/jaco_bag
    skill-embedding ingest demos/jaco_bag --into demos/jaco_store --config jaco_pretrain.yaml
    skill-embedding train --config jaco_pretrain.yaml --set train.demos=demos/jaco_store

`--noise` adds Gaussian noise (a share of each joint's speed limit) to the script's actions, so
the demonstrations cover more than the script's one path; they stay demonstrations (the ingester
stores them with an unknown behaviour probability).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from skill_embedding_ros.tasks.jaco.layouts import PRETRAINING
from skill_embedding_ros.tasks.jaco.reactive import CONTROLLERS
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import robot_demos, robot_messages, write_messages


def controller(suite, task: str, noise: float, name: str = "scripted"):
    """robot_demos' controller: the script's action plus noise, as the command the gate sends."""
    script = CONTROLLERS[name](suite, task)

    def command(obs, rng):
        action = script(obs) + noise * rng.standard_normal(suite.action_dim)
        return suite.command(np.clip(action, -1.0, 1.0).astype(np.float32))

    return command


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the bag directory to write")
    p.add_argument("--episodes", type=int, default=10, help="episodes per task")
    p.add_argument("--tasks", nargs="+", default=list(PRETRAINING), choices=PRETRAINING)
    p.add_argument("--suite", default="jaco_velocity", choices=("jaco_velocity", "jaco"))
    p.add_argument("--noise", type=float, default=0.0, help="action noise, share of the limit")
    p.add_argument(
        "--controller",
        default="scripted",
        choices=sorted(CONTROLLERS),
        help="scripted (phases remembered) or reactive (phase read from the observation)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.out.exists():
        print(f"error: {args.out} exists: name a new bag directory", file=sys.stderr)
        return 2
    if args.episodes < 1 or args.noise < 0:
        print("error: --episodes must be >= 1 and --noise >= 0", file=sys.stderr)
        return 2
    suite = get_suite(args.suite)
    demos, names = [], []
    start = time.perf_counter()
    for k, task in enumerate(args.tasks):
        for i in range(args.episodes):  # a fresh script per episode: it keeps its phase
            seed = (args.seed * len(PRETRAINING) + k) * 100_000 + i  # each its own start
            act = controller(suite, task, args.noise, args.controller)
            demos += robot_demos(suite, 1, act, seed=seed, task=task)
        names += [task] * args.episodes
        print(f"{task}: {args.episodes} episodes ({time.perf_counter() - start:.0f} s)")
    write_messages(args.out, robot_messages(suite, demos, tasks=names))
    print(f"wrote {args.out}: {len(demos)} episodes of {suite.episode_steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
