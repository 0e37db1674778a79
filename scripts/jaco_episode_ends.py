"""Where does a Jaco policy leave the block? Episodes of a checkpoint's policy on one task, as
`evaluate` acts (mean actions, z drawn from p(z|t) per episode), one line each: the block's
distance from the goal in the plane and its height above the goal at the end, the steps it was
carried (held above the goal's height), the steps it rested in the target (rewards.placed or
held), and the final finger angles (0.15 rad open; the reactive expert counts a hold from
reactive.CONTACT). Tells a grasp that never closes from a block carried to the wrong place
(docs/jaco_pretraining.md, "Holding the imitation policy").

    python scripts/jaco_episode_ends.py \
        results/runs/jaco_push_lift_from_dagger_anchor_seed0/policy.safetensors --task push
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import policy_on_task
import torch

from skill_embedding_ros.agent.actor import act
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.jaco import rewards
from skill_embedding_ros.tasks.jaco.layouts import LIFTED
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.jaco.reactive import CONTACT
from skill_embedding_ros.tasks.registry import get_suite

CARRIED = 0.02
"""m: the block's centre this far above its resting height at the goal counts as carried."""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    policy_on_task.add_arguments(p)
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--seed", type=int, default=5000, help="of the first episode's start")
    args = p.parse_args()
    nets, cfg, tasks, k = policy_on_task.load(p, args)
    suite = get_suite(cfg.train.suite)
    in_target = rewards.held if args.task in LIFTED else rewards.placed
    torch.manual_seed(args.seed)
    print(f"planar_m height_m carried_steps target_steps fingers_rad (a hold from {CONTACT})")
    for episode in range(args.episodes):
        env = SuiteEnv(suite, tasks, seed=args.seed + episode)
        obs = env.reset(options={"task": k})[0]
        with torch.no_grad():
            z = nets.latent.sample(nets.embedding(torch.tensor([k]))).numpy()
        carried = target = 0
        for _ in range(suite.episode_steps):
            with torch.no_grad():
                action, _ = act(nets.policy, obs[None].astype(np.float32), z, deterministic=True)
            obs = env.step(action[0])[0]
            block, goal = obs[SLICES["block_position"]], obs[SLICES["goal"]]
            carried += int(block[2] - goal[2] > CARRIED)
            target += int(in_target(obs))
        planar = np.linalg.norm(block[:2] - goal[:2])
        fingers = " ".join(f"{f:.2f}" for f in obs[SLICES["finger_angle"]])
        print(f"{planar:.3f} {block[2] - goal[2]:+.3f} {carried} {target} {fingers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
