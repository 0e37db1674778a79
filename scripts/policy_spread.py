"""How widely does a policy explore? The standard deviations (before the tanh squash) of a
checkpoint's policy at a task's start state, z drawn from p(z|t): an imitation-trained policy
learns only its mean, so these show how far its sampled actions stray from the mean actions it
is evaluated with (docs/jaco_pretraining.md, "Reinforcement learning from the imitation policy").

    python scripts/policy_spread.py results/jaco_dagger_policy.safetensors --task lift
"""

from __future__ import annotations

import argparse
import sys

import torch

from skill_embedding_ros.agent.run_networks import load_networks
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a checkpoint or actor checkpoint (.safetensors)")
    p.add_argument("--task", required=True, help="one of the checkpoint's tasks")
    p.add_argument("--seed", type=int, default=0, help="of the start state and the z draw")
    args = p.parse_args()
    nets, cfg, _ = load_networks(args.checkpoint)
    tasks = list(cfg.train.tasks)
    if args.task not in tasks:
        p.error(f"--task {args.task!r} is not one of the checkpoint's tasks {tasks}")
    k = tasks.index(args.task)
    torch.manual_seed(args.seed)
    env = SuiteEnv(get_suite(cfg.train.suite), tasks, seed=args.seed)
    obs = torch.as_tensor(env.reset(options={"task": k})[0][None], dtype=torch.float32)
    with torch.no_grad():
        z = nets.latent.sample(nets.embedding(torch.tensor([k])))
        _, log_std = nets.policy(obs, z)
    print(" ".join(f"{s:.2f}" for s in log_std.exp()[0].tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
