"""Frozen skills: a pre-training run's embedding p(z|t) and skill policy pi(a|s,z), read-only.

A transfer task may live in another suite than the skills' (one whose reward needs more of
the past, like a visited flag). The layout rule: that suite commands the same joints and its
observation *begins* with the skills' suite's observation; the skills read that prefix, the
high-level policy the whole observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from skill_embedding_ros.agent.checkpoint import ACTOR_CHECKPOINT, read_checkpoint
from skill_embedding_ros.agent.networks import Embedding, Latent, PolicyNet
from skill_embedding_ros.agent.run_networks import load_networks
from skill_embedding_ros.settings.run import RunConfig
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.suite import TaskSuite


class PrefixPolicy(nn.Module):
    """pi(a | s[:d], z): the skill policy reading the first `obs_dim` entries of a longer
    observation (the transfer suite's), so `ActorCore` can drive it unchanged."""

    def __init__(self, policy: PolicyNet, obs_dim: int):
        super().__init__()
        self.policy, self.obs_dim = policy, obs_dim

    def forward(self, obs: torch.Tensor, z: torch.Tensor):
        return self.policy(obs[..., : self.obs_dim], z)


@dataclass
class FrozenSkills:
    """What transfer keeps of a pre-training run; no parameter requires a gradient."""

    embedding: Embedding
    policy: PolicyNet
    config: RunConfig
    """The pre-training run's config (suite, tasks, networks, z family, gamma)."""

    @property
    def latent(self) -> Latent:
        return self.embedding.latent

    @property
    def suite(self) -> TaskSuite:
        return get_suite(self.config.train.suite)

    def state(self) -> dict[str, torch.Tensor]:
        """Embedding and policy as a flat tensor dict ("embedding.*", "policy.*")."""
        return {
            f"{name}.{k}": v.detach().cpu().contiguous()
            for name, net in (("embedding", self.embedding), ("policy", self.policy))
            for k, v in net.state_dict().items()
        }

    def acting_policy(self, suite: TaskSuite) -> PrefixPolicy:
        """The skill policy for observations of `suite` (checked against the layout rule)."""
        check_layout(self.suite, suite)
        return PrefixPolicy(self.policy, self.suite.obs_dim)


def freeze(embedding: Embedding, policy: PolicyNet, config: RunConfig) -> FrozenSkills:
    for net in (embedding, policy):
        net.requires_grad_(False).eval()
    return FrozenSkills(embedding, policy, config)


def skills_checkpoint(path: str | Path) -> Path:
    """A run directory's checkpoint (or its small actor checkpoint), or the file itself."""
    path = Path(path)
    if path.is_dir():
        full = path / "checkpoint.safetensors"
        return (
            full
            if full.is_file() or not (path / ACTOR_CHECKPOINT).is_file()
            else (path / ACTOR_CHECKPOINT)
        )
    return path


def load_skills(path: str | Path) -> FrozenSkills:
    """Frozen skills from a pre-training run directory or checkpoint. Raises ValueError or
    FileNotFoundError naming what is wrong."""
    nets, cfg, _ = load_networks(skills_checkpoint(path))
    if nets.latent.fixed:
        raise ValueError(f"{path}: a run without an embedding (none) has no skills to transfer")
    return freeze(nets.embedding, nets.policy, cfg)


def transfer_suite(run) -> str:
    """The suite a transfer run (settings/transfer.py TransferFile) acts in: its own, else its
    skills' (read from their checkpoint's metadata, without building networks)."""
    if run.suite:
        return run.suite
    _, meta = read_checkpoint(skills_checkpoint(run.skills))
    try:
        return str(meta["config"]["train"]["suite"])
    except (KeyError, TypeError):
        raise ValueError(f"{run.skills}: no run config in its checkpoint") from None


def check_layout(skills_suite: TaskSuite, suite: TaskSuite) -> None:
    """Raise ValueError when `suite` cannot drive skills of `skills_suite` (see the module):
    other joints, actions, a shorter observation or other leading objects. Necessary, not
    sufficient: that the leading entries *mean* the same is the transfer suite's promise."""
    problems = []
    if tuple(suite.joints) != tuple(skills_suite.joints):
        problems.append(f"joints {list(suite.joints)} != {list(skills_suite.joints)}")
    if suite.action_dim != skills_suite.action_dim:
        problems.append(f"action size {suite.action_dim} != {skills_suite.action_dim}")
    if suite.obs_dim < skills_suite.obs_dim:
        problems.append(f"observation size {suite.obs_dim} < {skills_suite.obs_dim}")
    objects = tuple(getattr(suite, "objects", ()))
    skill_objects = tuple(getattr(skills_suite, "objects", ()))
    if objects[: len(skill_objects)] != skill_objects:
        problems.append(f"objects {list(objects)} do not begin with {list(skill_objects)}")
    if problems:
        raise ValueError(
            f"suite {suite.name!r} cannot drive skills of {skills_suite.name!r}: "
            + "; ".join(problems)
        )
