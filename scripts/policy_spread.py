"""How widely does a policy explore? The standard deviations (before the tanh squash) of a
checkpoint's policy at a task's start state, z drawn from p(z|t): an imitation-trained policy
learns only its mean, so these show how far its sampled actions stray from the mean actions it
is evaluated with (docs/jaco_pretraining.md, "Reinforcement learning from the imitation policy").

    python scripts/policy_spread.py results/jaco_dagger_policy.safetensors --task lift
"""

from __future__ import annotations

import argparse
import sys

import policy_on_task
import torch

from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    policy_on_task.add_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="of the start state and the z draw")
    args = p.parse_args()
    nets, cfg, tasks, k = policy_on_task.load(p, args)
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
