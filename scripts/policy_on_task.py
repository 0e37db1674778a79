"""What the scripts that look at one task of a trained policy share: the command line's
checkpoint and --task, and the networks loaded with the task's index (policy_spread.py,
jaco_episode_ends.py)."""

from __future__ import annotations

import argparse

from skill_embedding_ros.agent.run_networks import load_networks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint or actor checkpoint (.safetensors)")
    p.add_argument("--task", required=True, help="one of the checkpoint's tasks")


def load(p: argparse.ArgumentParser, args: argparse.Namespace):
    """(networks, run config, its tasks, the index of --task); a task the checkpoint was not
    trained on exits with a usage error."""
    nets, cfg, _ = load_networks(args.checkpoint)
    tasks = list(cfg.train.tasks)
    if args.task not in tasks:
        p.error(f"--task {args.task!r} is not one of the checkpoint's tasks {tasks}")
    return nets, cfg, tasks, tasks.index(args.task)
