"""A transfer checkpoint's high-level critic against what its policy earns: Q_H(s, z) at the
decisions of fresh episodes (z ~ HL(.|s), the skills' mean actions) beside the discounted
return that followed each (docs/jaco_transfer.md, "The critic").

    python scripts/transfer_critic_check.py runs/l_wall/checkpoint.safetensors --episodes 32

The return is cut at the episode's end while the critic bootstraps past it (an episode ends
by its time limit, not a terminal state), so the return is a lower bound: at most
gamma^(steps left) x (the largest reward per step) / (1 - gamma) below the true value.
Compare early decisions, where that bound is small, and look at the correlation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from skill_embedding_ros.training.rollout import rollout_agent
from skill_embedding_ros.transfer.high_level_steps import hold_returns
from skill_embedding_ros.transfer.model import load_transfer, transfer_agent


def discounted_to_go(blocks: np.ndarray, gamma_hold: float) -> np.ndarray:
    """Per high-level step, the discounted sum of its own and later hold returns: [N, H]."""
    out, acc = np.zeros_like(blocks), np.zeros(len(blocks))
    for j in reversed(range(blocks.shape[1])):
        acc = blocks[:, j] + gamma_hold * acc
        out[:, j] = acc
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a transfer checkpoint (checkpoint.safetensors)")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--seed", type=int, default=777, help="of the episodes' starts and z")
    p.add_argument("--out", help="JSON file to write")
    args = p.parse_args()
    model, _, meta = load_transfer(args.checkpoint)
    hold, gamma = model.cfg.hold, model.skills.config.agent.gamma
    agent = transfer_agent(model, args.episodes, True, torch.Generator().manual_seed(args.seed))
    zs = []  # the z of every step; its decisions are every hold-th

    def watch(envs, obs, decision) -> None:
        if decision is not None:
            zs.append(decision.z.copy())

    r = rollout_agent(agent, model.suite, [model.task], 0, args.episodes, args.seed, watch=watch)
    # Rewards are pure functions of the state reached (TaskSuite.rewards): step k's is s_{k+1}'s.
    rewards = model.suite.rewards([model.task], r.obs[:, 1:])[..., 0]
    blocks = np.stack([hold_returns(row, hold, gamma) for row in rewards])
    returns = discounted_to_go(blocks, gamma**hold)
    states = torch.as_tensor(r.obs[:, :-1:hold], dtype=torch.float32)
    decided = torch.as_tensor(np.stack(zs, 1)[:, ::hold], dtype=torch.float32)
    with torch.no_grad():
        q = model.critic(states, decided)
    q = q.numpy()
    report = {"checkpoint": args.checkpoint, "env_steps": meta.get("env_steps"), "steps": []}
    report["command"] = "python scripts/transfer_critic_check.py " + " ".join(sys.argv[1:])
    for j in sorted({0, blocks.shape[1] // 4, blocks.shape[1] // 2}):
        row = {"decision": j, "steps_left": model.suite.episode_steps - j * hold}
        row |= {"q_mean": float(q[:, j].mean()), "return_mean": float(returns[:, j].mean())}
        row["correlation"] = float(np.corrcoef(q[:, j], returns[:, j])[0, 1])
        report["steps"].append(row)
        print(
            f"decision {j} ({row['steps_left']} steps left): Q {row['q_mean']:.1f}, return "
            f"{row['return_mean']:.1f} (cut at the end), correlation {row['correlation']:.2f}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
