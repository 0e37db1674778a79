"""Checkpoints for tests and dry runs: a run config's networks as they start (untrained), saved as
an actor checkpoint (embedding and policy: all a skill policy node needs), so a deployment graph
can be exercised without a training run first."""

from __future__ import annotations

from pathlib import Path

import torch

from skill_embedding_ros.agent.checkpoint import save_actor_checkpoint
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.settings.run import load_run_config, to_dict
from skill_embedding_ros.training.trainer import hold_steps


def untrained_checkpoint(config: str | Path, path: str | Path, seed: int = 0) -> Path:
    """Write the fresh networks of run config `config` (a name under config/ or a path) to
    `path` as an actor checkpoint; returns the path."""
    cfg = load_run_config(str(config))
    torch.manual_seed(seed)
    learner = Learner(build_networks(cfg), hold_steps(cfg))
    save_actor_checkpoint(path, learner, {"config": to_dict(cfg), "env_steps": 0})
    return Path(path)
