"""A transfer model (frozen skills + the new mapping), its agent and its checkpoint.

The checkpoint is one safetensors file (no pickle): tensors "skills.embedding.*",
"skills.policy.*" (frozen, as pre-trained), "high_level.*", "critic.*", "critic_target.*",
and JSON metadata: kind "transfer", the skills' run config (`config`, which also lets
`check_format` judge the skills' tensors), the transfer settings, suite, task and where the
skills came from. It holds no optimizer moments: a transfer run is not resumed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skill_embedding_ros.agent.actor import ActorCore
from skill_embedding_ros.agent.checkpoint import FORMAT, _write, check_finite, read_checkpoint
from skill_embedding_ros.agent.one_state import OneStatePolicy
from skill_embedding_ros.agent.run_networks import build_networks
from skill_embedding_ros.settings.base import from_dict
from skill_embedding_ros.settings.run import RunConfig, to_dict
from skill_embedding_ros.settings.transfer import TransferConfig, TransferFile
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.transfer.high_level import (
    EmbeddingPolicy,
    HighLevelCritic,
    SelectionPolicy,
    SkillsState,
    TwinCritic,
    embedding_box,
    read_states_as,
    task_codes,
)
from skill_embedding_ros.transfer.skills import FrozenSkills, freeze, load_skills, transfer_suite

TRANSFER = "transfer"
"""`kind` of a transfer checkpoint."""


@dataclass
class TransferModel:
    skills: FrozenSkills
    high_level: torch.nn.Module
    """EmbeddingPolicy or SelectionPolicy."""
    critic: HighLevelCritic
    suite: TaskSuite
    task: str
    cfg: TransferConfig


class HighLevelZ:
    """The z source of transfer (agent/actor.py ZSource): z ~ HL(.|s), the task id unused."""

    def __init__(self, high_level):
        self.high_level = high_level

    def draw(self, task: np.ndarray, obs: np.ndarray, generator: torch.Generator):
        z, log_b = self.high_level.sample(torch.as_tensor(obs), generator)
        return z.numpy(), log_b.numpy()


def transfer_agent(
    model: TransferModel, slots: int, deterministic: bool, generator, one_state: bool = False
):
    """An `ActorCore` acting on the transfer suite: z ~ HL(.|s) every K steps, held, and the
    frozen skill policy's action (its mean when `deterministic`, as evaluation does).
    `one_state`: a node's core, acting on one state in numpy (agent/one_state.py)."""
    policy = model.skills.acting_policy(model.suite)
    return ActorCore(
        HighLevelZ(model.high_level),
        policy,
        slots,
        model.skills.latent.z_dim,
        model.cfg.hold,
        deterministic,
        generator,
        OneStatePolicy(policy.policy, policy.obs_dim) if one_state else None,
    )


def build_model(skills: FrozenSkills, suite: TaskSuite, task: str, cfg: TransferConfig):
    """Fresh high-level policy and critic for `task` of `suite` over `skills`."""
    suite.check_task(task)
    skills.acting_policy(suite)  # the layout check, before anything is built
    if suite.episode_steps % cfg.hold:
        raise ValueError(
            f"hold {cfg.hold} must divide the {suite.episode_steps} steps of a {suite.name} "
            "episode"
        )
    latent, agent = skills.latent, skills.config.agent
    if cfg.method == "selection":
        with torch.no_grad():
            tasks = torch.arange(skills.embedding.num_tasks)
            codes = task_codes(latent, skills.embedding(tasks))
        high_level = SelectionPolicy(suite.obs_dim, codes, cfg.hidden)
    else:
        box = None
        if latent.family == "gaussian":
            with torch.no_grad():
                tasks = torch.arange(skills.embedding.num_tasks)
                box = embedding_box(latent, skills.embedding(tasks))
        high_level = EmbeddingPolicy(suite.obs_dim, latent, cfg.hidden, box)
    kind = TwinCritic if cfg.twin_critics else HighLevelCritic
    critic = kind(suite.obs_dim, latent.z_dim, cfg.critic_hidden, latent.family, agent.code_scale)
    norm = skills.policy.obs_norm  # None unless the skills were trained on standardized states
    state = SkillsState(norm, skills.suite.obs_dim) if cfg.normalize and norm is not None else None
    for net in (high_level, critic):
        read_states_as(net, state)
    return TransferModel(skills, high_level, critic, suite, task, cfg)


def model_from_file(run: TransferFile) -> TransferModel:
    """A fresh model for a transfer run file (settings/transfer.py): its skills loaded and
    frozen, its task checked. ValueError/FileNotFoundError name what is wrong."""
    skills = load_skills(run.skills)
    return build_model(skills, get_suite(transfer_suite(run)), run.task, run.transfer)


def high_level_state(model: TransferModel) -> dict[str, torch.Tensor]:
    """The high-level policy as a learner broadcasts it ("high_level.*"): a skill-policy node
    of plain skills refuses these names, and one of transfer refuses a skills broadcast."""
    return {
        f"high_level.{k}": v.detach().cpu().contiguous()
        for k, v in model.high_level.state_dict().items()
    }


def load_high_level(model: TransferModel, tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of `high_level_state`."""
    _load_part(model.high_level, tensors, "high_level", "the high-level weights")


def model_tensors(model: TransferModel, critic_target) -> dict[str, torch.Tensor]:
    out = {f"skills.{k}": v for k, v in model.skills.state().items()} | high_level_state(model)
    for prefix, net in (("critic", model.critic), ("critic_target", critic_target)):
        out |= {
            f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()
        }
    return out


def save_transfer(path, model: TransferModel, critic_target, metadata: dict[str, Any]) -> None:
    """Atomically write the transfer checkpoint (module docstring). Non-finite: ValueError."""
    tensors = model_tensors(model, critic_target)
    check_finite(tensors, "the transfer model", "a non-finite update should have stopped the run")
    meta = {
        **metadata,
        "kind": TRANSFER,
        "format": FORMAT,
        "config": to_dict(model.skills.config),
        "transfer": to_dict(model.cfg),
        "suite": model.suite.name,
        "task": model.task,
    }
    _write(path, tensors, meta)


def is_transfer_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a readable transfer checkpoint (False for anything else, "" too)."""
    if not str(path):
        return False
    try:
        return read_checkpoint(path)[1].get("kind") == TRANSFER
    except (ValueError, FileNotFoundError):
        return False


def load_transfer(path: str | Path):
    """(TransferModel, critic_target, metadata) from a transfer checkpoint. The skills are
    rebuilt from their run config and frozen again. Raises ValueError naming what is wrong."""
    tensors, meta = read_checkpoint(path)
    if meta.get("kind") != TRANSFER:
        raise ValueError(f"{path} is not a transfer checkpoint (kind {meta.get('kind')!r})")
    check_finite(tensors, str(path))
    skills_cfg = from_dict(RunConfig, meta["config"])
    nets = build_networks(skills_cfg)
    _load_part(nets.embedding, tensors, "skills.embedding", path)
    _load_part(nets.policy, tensors, "skills.policy", path)
    skills = freeze(nets.embedding, nets.policy, skills_cfg)
    cfg = from_dict(TransferConfig, meta["transfer"])
    model = build_model(skills, get_suite(meta["suite"]), meta["task"], cfg)
    critic_target = copy.deepcopy(model.critic)
    _load_part(model.high_level, tensors, "high_level", path)
    _load_part(model.critic, tensors, "critic", path)
    _load_part(critic_target, tensors, "critic_target", path)
    critic_target.requires_grad_(False)
    return model, critic_target, meta


def _load_part(net: torch.nn.Module, tensors: dict, prefix: str, path) -> None:
    state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:  # missing, unexpected or mis-shaped: say which part
        raise ValueError(f"{path}: {prefix} does not fit: {str(err)[:300]}") from None
