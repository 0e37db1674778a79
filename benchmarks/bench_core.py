"""Core speed figures: learner updates/s, in-process env steps/s, and SB3 SAC as a reference.

    python benchmarks/bench_core.py --out benchmarks/results_core.json

All figures come from one run on one machine, so the ratio to SB3 is the number to compare
across machines; absolute rates depend on the CPU and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skill_embedding_ros.core.actor import Actor
from skill_embedding_ros.core.config import RunConfig, from_dict
from skill_embedding_ros.core.learner import Learner
from skill_embedding_ros.core.replay import ReplayBuffer
from skill_embedding_ros.core.trainer import (
    build_networks,
    env_factory,
    hold_steps,
    replay_update,
)
from skill_embedding_ros.provenance import git_commit


def _rate(fn, seconds: float) -> float:
    """Calls of fn per second, after one warm-up call."""
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def bench_learner(batch: int, segment: int, seconds: float) -> dict:
    cfg = from_dict(RunConfig, {"replay": {"batch": batch, "segment": segment}})
    nets = build_networks(cfg)
    learner = Learner(nets, hold_steps(cfg))
    actor = Actor(env_factory(cfg), 8, nets.embedding, nets.policy, seed=0)
    replay = ReplayBuffer(cfg.replay.capacity, nets.obs_dim, nets.action_dim, cfg.agent.z_dim)
    while len(replay) < 20_000:
        for ep in actor.step():
            replay.add(ep)
    rng = np.random.default_rng(0)

    updates = _rate(lambda: replay_update(learner, replay, cfg, rng), seconds)
    env_steps = 8 * _rate(lambda: actor.step(), seconds)
    return {
        "learner_updates_per_s": round(updates, 1),
        "learner_transitions_per_s": round(updates * batch * segment),
        "env_steps_per_s_inprocess_8_envs": round(env_steps),
    }


def bench_sb3_sac(batch: int, seconds: float) -> dict:
    """SB3 SAC gradient steps/s at the same number of transitions per batch."""
    try:
        from stable_baselines3 import SAC
    except ImportError:
        return {"sb3_sac_updates_per_s": None, "note": "stable-baselines3 not installed"}
    from skill_embedding_ros.envs import PointMassEnv

    env = PointMassEnv("reach", ["any"], seed=0)
    model = SAC(
        "MlpPolicy",
        env,
        batch_size=batch,
        learning_starts=0,
        verbose=0,
        seed=0,
        policy_kwargs={"net_arch": [128, 128]},
        device="cpu",
    )
    model.learn(2_000)
    return {"sb3_sac_updates_per_s": round(_rate(lambda: model.train(1, batch), seconds), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results_core.json")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batch, segment = 256, 10
    results = {
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1",
        "batch_segments": batch,
        "segment_steps": segment,
        **bench_learner(batch, segment, args.seconds),
        # SB3 samples single transitions: give it the same transitions per update.
        **bench_sb3_sac(batch * segment, args.seconds),
    }
    if results.get("sb3_sac_updates_per_s"):
        results["learner_vs_sb3_transitions_ratio"] = round(
            results["learner_transitions_per_s"]
            / (results["sb3_sac_updates_per_s"] * batch * segment),
            2,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
