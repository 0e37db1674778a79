"""How much does a transfer task's outcome depend on which skill acts? Every candidate z is held
for whole episodes from the same starts (the transfer evaluation's), the frozen skills acting
with their mean actions (docs/jaco_transfer.md, "Which skill matters").

    python scripts/transfer_fixed_z.py --suite jaco_velocity --task l_wall \\
        --skills results/runs/jaco_pretrain_from_dagger_embedding_seed2 --out results/X.json

Candidates: the centre of each pre-training task's p(z|t) (its mean, or its likeliest code),
`--draws` samples of each p(z|t), and `--random` draws of N(0, I) (Gaussian z only). It prints
each candidate's success rate and return, and what a high-level policy could get from a single
held skill: the best candidate's success, and the share of starts that at least one candidate
solves (an oracle choosing per start). If no held skill does better than an untrained high-level
policy, learning which one to hold cannot help; if some do, the high-level learner has something
to find.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from skill_embedding_ros.agent.actor import ActorCore
from skill_embedding_ros.provenance import git_commit
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.rollout import EVAL_SEED, rollout_agent
from skill_embedding_ros.transfer.high_level import task_codes
from skill_embedding_ros.transfer.skills import load_skills


class HeldZ:
    """A z source (agent/actor.py) that gives every slot the same z."""

    def __init__(self, z: np.ndarray):
        self.z = np.asarray(z, np.float32)

    def draw(self, task: np.ndarray, obs: np.ndarray, generator: torch.Generator):
        return np.repeat(self.z[None], len(task), 0), np.zeros(len(task), np.float32)


def candidates(skills, draws: int, random: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, z) of every candidate skill."""
    latent, names = skills.latent, skills.config.train.tasks
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        params = skills.embedding(torch.arange(len(names)))
        centres = task_codes(latent, params)
        out = [(f"{name} centre", centres[k].numpy()) for k, name in enumerate(names)]
        for k, name in enumerate(names):
            repeated = params[k].expand(draws, -1)
            out += [
                (f"{name} draw {i}", z.numpy())
                for i, z in enumerate(latent.sample(repeated, generator))
            ]
        if latent.family == "gaussian":
            noise = torch.randn((random, latent.z_dim), generator=generator)
            out += [(f"N(0, I) draw {i}", z.numpy()) for i, z in enumerate(noise)]
    return out


def held_outcomes(
    skills, suite, task: str, z: np.ndarray, episodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Success [N] and return [N] of `episodes` episodes from the evaluation's starts, z held."""
    agent = ActorCore(
        HeldZ(z),
        skills.acting_policy(suite),
        episodes,
        skills.latent.z_dim,
        0,
        True,
        torch.Generator().manual_seed(0),
    )
    r = rollout_agent(agent, suite, [task], 0, episodes, EVAL_SEED)
    return r.outcome >= 0, r.returns


def summarize(names: list[str], success: np.ndarray, returns: np.ndarray) -> dict:
    """success, returns [C, N] (candidate x start) -> the figures the docs quote."""
    rates = success.mean(1)
    best = int(np.argmax(rates))
    # The share of the return's variance that lies between candidates (a one-way ANOVA's R^2):
    # near 0, which skill is held hardly matters; near 1, the skill decides the return.
    between = ((returns.mean(1) - returns.mean()) ** 2).mean()
    total = returns.var()
    return {
        "candidates": len(names),
        "episodes_per_candidate": int(success.shape[1]),
        "success_mean_over_candidates": round(float(rates.mean()), 3),
        "best_candidate": names[best],
        "best_candidate_success": round(float(rates[best]), 3),
        "starts_solved_by_some_candidate": round(float(success.any(0).mean()), 3),
        "candidates_solving_each_start": success.sum(0).tolist(),
        "return_variance_between_candidates": round(float(between / total), 3) if total else 0.0,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skills", required=True, help="a pre-training run directory or checkpoint")
    p.add_argument("--suite", required=True, help="the transfer task's suite")
    p.add_argument("--task", required=True)
    p.add_argument("--episodes", type=int, default=50, help="starts per candidate")
    p.add_argument("--draws", type=int, default=2, help="samples of each task's p(z|t)")
    p.add_argument("--random", type=int, default=4, help="samples of N(0, I)")
    p.add_argument("--seed", type=int, default=0, help="of the candidates' draws")
    p.add_argument("--out", type=Path, help="JSON file to write")
    args = p.parse_args()
    torch.set_num_threads(1)
    skills = load_skills(args.skills)
    suite = get_suite(args.suite)
    suite.check_task(args.task)
    named = candidates(skills, args.draws, args.random, args.seed)
    rows, success, returns = [], [], []
    for name, z in named:
        won, ret = held_outcomes(skills, suite, args.task, z, args.episodes)
        success.append(won)
        returns.append(ret)
        rows.append(
            {"candidate": name, "z": [round(float(v), 3) for v in z],
             "success": round(float(won.mean()), 3), "return": round(float(ret.mean()), 1)}
        )  # fmt: skip
        print(f"{name:>24}: success {won.mean():.2f}, return {ret.mean():6.1f}", flush=True)
    report = {
        "command": "python scripts/transfer_fixed_z.py " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "task": args.task,
        **summarize([n for n, _ in named], np.array(success), np.array(returns)),
        "per_candidate": rows,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "per_candidate"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
