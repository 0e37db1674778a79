"""Where one learner update spends its time: torch.profiler over 20 updates at bench_core.py's
batch (256 segments x 10 steps; the configs' is 32), 2x128 networks, one thread, top operators
by self CPU time; then how many operators one update dispatches.

    python benchmarks/profile_learner.py [--activation relu] [--precision bfloat16] [--batch 32]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from skill_embedding_ros.agent.actor import Actor
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.settings.run import RunConfig, from_dict
from skill_embedding_ros.training.trainer import (
    build_networks,
    env_factory,
    hold_steps,
    replay_update,
)


class _Operators(TorchDispatchMode):
    """Counts the operators torch dispatches to its kernels (autograd's backward and the
    optimizers' steps included), and of them the views, which launch nothing."""

    def __init__(self):
        super().__init__()
        self.count = self.views = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        self.views += func.is_view
        return func(*args, **(kwargs or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="elu", choices=["elu", "relu"])
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=256, help="segments per update")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--rows", type=int, default=12, help="operators listed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = {
        "hidden": [128, 128],
        "critic_hidden": [128, 128],
        "activation": args.activation,
        "precision": args.precision,
    }
    cfg = from_dict(RunConfig, {"agent": agent, "replay": {"batch": args.batch, "segment": 10}})
    nets = build_networks(cfg)
    actor = Actor(env_factory(cfg), 8, nets.embedding, nets.policy, seed=0)
    replay = ReplayBuffer(cfg.replay.capacity, nets.obs_dim, nets.action_dim, cfg.agent.z_dim)
    while len(replay) < 20_000:
        for episode in actor.step():
            replay.add(episode)
    learner = Learner(build_networks(cfg), hold_steps(cfg))
    rng = np.random.default_rng(0)
    for _ in range(5):  # warm-up
        replay_update(learner, replay, cfg, rng)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.updates):
            replay_update(learner, replay, cfg, rng)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    # On a GPU each but the views is a kernel launched from Python: what agent/cuda_graph.py
    # replays as one.
    with _Operators() as operators:
        replay_update(learner, replay, cfg, rng)
    print(f"operators in one update: {operators.count}, {operators.views} of them views")


if __name__ == "__main__":
    main()
