"""The networks a run config describes: fresh, or rebuilt from a checkpoint (ROS-free, no
multiprocessing: the nodes, the trainer and the CLI all build them here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skill_embedding_ros.agent.checkpoint import (
    ACTOR,
    check_finite,
    check_shapes,
    read_checkpoint,
)
from skill_embedding_ros.agent.learner import Learner, Networks
from skill_embedding_ros.settings.run import RunConfig, from_dict
from skill_embedding_ros.tasks.registry import get_suite


def build_networks(cfg: RunConfig) -> Networks:
    suite = get_suite(cfg.train.suite)
    for task in cfg.train.tasks:
        suite.check_task(task)
    return Networks(suite.obs_dim, suite.action_dim, len(cfg.train.tasks), cfg.agent)


def load_networks(checkpoint: str | Path) -> tuple[Networks, RunConfig, dict[str, Any]]:
    """Networks rebuilt from a checkpoint's own run config, its weights loaded.

    An actor checkpoint (agent/checkpoint.py ACTOR) loads the embedding and the policy only;
    the critics and the inference network keep their fresh initial weights.
    Raises ValueError (unreadable file, no config, shapes that do not fit)."""
    tensors, meta = read_checkpoint(checkpoint)
    if "config" not in meta:
        raise ValueError(f"{checkpoint} carries no run config in its metadata")
    cfg = from_dict(RunConfig, meta["config"])
    nets = build_networks(cfg)
    state = {k[5:]: v for k, v in tensors.items() if k.startswith("nets.")}
    expected = nets.actor_state() if meta.get("kind") == ACTOR else nets.state_dict()
    check_shapes(expected, state, str(checkpoint))
    check_finite(state, str(checkpoint))
    nets.load_state_dict(state, strict=meta.get("kind") != ACTOR)
    return nets, cfg, meta


FRESH_CRITICS = (
    "an actor checkpoint starts the critics untrained, and their first updates undo its skills "
    "(measured: docs/hardware.md, fine-tuning); start from the learner's checkpoint.safetensors, "
    "or hold the policy near where it starts with agent.anchor (the same section)"
)
"""The warning a start from an actor checkpoint gets."""


def check_anchor_start(cfg: RunConfig, start_from: str | Path) -> None:
    """ValueError when agent.anchor has no policy to stay near (a new run with no start)."""
    if cfg.agent.anchor and not start_from:
        raise ValueError(
            f"agent.anchor ({cfg.agent.anchor}) keeps the policy near the one the run starts "
            "from, and this run starts from none: give --start-from CHECKPOINT (the learner "
            "node's start_from), or set agent.anchor: 0"
        )


def start_learner_from(learner: Learner, checkpoint: str | Path) -> str:
    """Fine-tuning or going on: a new run's learner takes another run's weights, every network
    of a full checkpoint, the embedding and policy of an actor checkpoint (the critics and q
    then keep their fresh weights), as its last good state; optimizer moments and counts stay
    fresh. Returns FRESH_CRITICS for an actor checkpoint without agent.anchor, else "".
    OSError when the file is missing, ValueError when unreadable, not fitting or trained with
    another agent.normalize."""
    loaded, loaded_cfg, meta = load_networks(checkpoint)
    if loaded_cfg.agent.normalize != learner.cfg.normalize:
        was, now = (str(c.normalize).lower() for c in (loaded_cfg.agent, learner.cfg))
        raise ValueError(
            f"{checkpoint} was trained with agent.normalize: {was}; this run sets {now}, so its "
            "policy would read observations in other units than it learned in; set "
            f"agent.normalize: {was} (or train afresh)"
        )
    actor_only = meta.get("kind") == ACTOR
    state = loaded.actor_state() if actor_only else loaded.state_dict()
    own = learner.nets.state_dict()
    check_shapes({k: own[k] for k in state if k in own}, state, str(checkpoint))
    learner.nets.load_state_dict(state, strict=False)
    if learner.nets.anchor is not None:  # agent.anchor: this is the policy to stay near
        learner.nets.anchor.load_state_dict(learner.nets.policy.state_dict())
    learner.mark_good()
    return FRESH_CRITICS if actor_only and not learner.cfg.anchor else ""
