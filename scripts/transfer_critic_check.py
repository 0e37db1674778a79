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

from skill_embedding_ros.tasks.env import SuiteEnv
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
    n, hold = args.episodes, model.cfg.hold
    gamma = model.skills.config.agent.gamma
    envs = [SuiteEnv(model.suite, [model.task], seed=args.seed + i) for i in range(n)]
    agent = transfer_agent(model, n, True, torch.Generator().manual_seed(args.seed))
    obs = np.stack([e.reset(options={"task": 0})[0] for e in envs])
    for i in range(n):
        agent.begin(i, 0)
    states, zs, rewards = [], [], []
    for t in range(model.suite.episode_steps):
        d = agent.act(obs.astype(np.float32))
        if t % hold == 0:
            states.append(obs.astype(np.float32))
            zs.append(d.z.copy())
        steps = [e.step(a) for e, a in zip(envs, d.action, strict=True)]
        obs = np.stack([s[0] for s in steps])
        rewards.append([s[1] for s in steps])
    blocks = np.stack([hold_returns(r, hold, gamma) for r in np.asarray(rewards).T])
    returns = discounted_to_go(blocks, gamma**hold)
    with torch.no_grad():
        q = model.critic(torch.as_tensor(np.stack(states, 1)), torch.as_tensor(np.stack(zs, 1)))
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
