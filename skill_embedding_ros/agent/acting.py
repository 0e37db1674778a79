"""What a skill-policy node acts with, whatever drives z: the suite and its tasks, the actor core,
the weights a learner broadcasts to it and how they are put in, and the pacing settings of that
learner. Pre-trained skills are built here; a high-level policy over frozen skills in
transfer/acting.py. ROS-free, so both are tested without a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from skill_embedding_ros.agent.actor import ActorCore, EmbeddingZ
from skill_embedding_ros.agent.checkpoint import split_actor_state
from skill_embedding_ros.agent.one_state import OneStatePolicy
from skill_embedding_ros.agent.run_networks import build_networks, load_networks
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.suite import TaskSuite


@dataclass
class Acting:
    suite: TaskSuite
    tasks: list[str]
    core: ActorCore
    weights: dict[str, torch.Tensor]
    """The acting networks' state as a learner broadcasts it: names and shapes an accepted
    /policy_weights message must have (agent/weights_acceptance.py)."""
    load: Callable[[dict[str, torch.Tensor]], None]
    """Puts accepted weights (of the `weights` layout) into the acting networks."""
    pacing: Any
    """The learner's replay-ratio settings (updates_per_step, warmup_steps: training/pacing.py)."""
    what: str
    """One phrase for the node's first log line."""
    meta: dict = field(default_factory=dict)
    """The checkpoint's metadata (empty: fresh weights)."""


def skill_acting(config: str, checkpoint: str, deterministic: bool, seed: int) -> Acting:
    """Skills that act as pre-trained: z ~ p(z|t) held `z_hold` steps, a ~ pi(.|s, z); from a
    checkpoint, or fresh networks of the run config `config`. ValueError/FileNotFoundError
    name what is wrong."""
    meta: dict = {}
    if checkpoint:
        nets, run_cfg, meta = load_networks(checkpoint)
    else:
        run_cfg = load_run_config(config)
        nets = build_networks(run_cfg)

    def load(tensors: dict[str, torch.Tensor]) -> None:
        embedding, policy = split_actor_state(tensors)
        nets.embedding.load_state_dict(embedding)
        nets.policy.load_state_dict(policy)

    core = ActorCore(
        EmbeddingZ(nets.embedding),
        nets.policy,
        1,
        nets.latent.z_dim,
        run_cfg.train.z_hold,
        deterministic,
        torch.Generator().manual_seed(seed),
        OneStatePolicy(nets.policy),
    )
    suite = get_suite(run_cfg.train.suite)
    tasks = list(run_cfg.train.tasks)
    return Acting(suite, tasks, core, nets.actor_state(), load, run_cfg.train, "skills", meta)
