"""The graph's transfer learner, ROS-free: a high-level policy over frozen skills trained from the
replay store the recorder writes, as `StoreLearner` trains skills from it.

The actors (skill-policy nodes with the same transfer run file) record low-level episodes, as
every actor does: the held z and its log HL(z|s) in every step. Each stored episode becomes one
high-level episode (transfer/high_level_steps.py) on its way into replay; everything else is the
skills learner's: chunks read in order, unfit episodes quarantined and named, the replay ratio
per low-level env step, the weights identity. The broadcast holds the high-level policy only
("high_level.*"): the skills never change. A transfer run is not resumed (transfer/train.py), so
a run directory that already holds a checkpoint is refused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.data.validation import EpisodeSpec, episode_problem
from skill_embedding_ros.settings.transfer import TransferFile
from skill_embedding_ros.training.store_learner import (
    CHECKPOINT,
    IDENTITY,
    StoreLearner,
    WeightsIdentity,
)
from skill_embedding_ros.training.trainer import EpisodeStats, seed_everything
from skill_embedding_ros.transfer.high_level_steps import high_level_episode
from skill_embedding_ros.transfer.learner import TransferLearner
from skill_embedding_ros.transfer.model import high_level_state, model_from_file, save_transfer


class TransferStoreLearner(StoreLearner):
    """Trains the high-level policy of one transfer run from a replay store into `out`."""

    def __init__(self, run: TransferFile, store: Path | str, out: Path | str, device: str = "cpu"):
        if device != "cpu":
            raise ValueError(f"the transfer learner runs on the CPU only, not {device!r}")
        cfg = run.transfer
        self.run = run
        seed_everything(cfg.seed, cfg.threads)
        self.model = model = model_from_file(run)
        if (Path(out) / CHECKPOINT).exists():
            raise ValueError(f"{Path(out) / CHECKPOINT} exists and a transfer run is not resumed")
        self.gamma = model.skills.config.agent.gamma
        z_dim = model.skills.latent.z_dim
        learner = TransferLearner(model.high_level, model.critic, cfg, self.gamma)
        self._begin(
            store,
            out,
            pacing=cfg,
            learner=learner,
            replay=ReplayBuffer(cfg.capacity, model.suite.obs_dim, z_dim, 0),
            spec=EpisodeSpec(
                obs_dim=model.suite.obs_dim,
                action_dim=model.suite.action_dim,
                z_dim=z_dim,
                num_tasks=1,
                max_steps=cfg.capacity * cfg.hold,
            ),
            stats=EpisodeStats(model.suite, [model.task]),
            seed=cfg.seed,
        )
        self.identity = WeightsIdentity(self.out / IDENTITY, {})

    def _admit(self, episode: Episode) -> tuple[str | None, Episode | None]:
        """A stored low-level episode -> its high-level episode (one step per held z)."""
        problem = episode_problem(episode, self.spec)
        if problem is not None:
            return problem, None
        try:
            item = high_level_episode(
                episode.obs,
                episode.reward,
                episode.z,
                episode.log_b_z,
                self.run.transfer.hold,
                self.gamma,
            )
        except ValueError as err:  # not held K steps: recorded by another policy
            return f"not an episode of this transfer run: {err}", None
        return None, item

    def update(self) -> bool:
        """One update; False (counted, named in `learner.problem`) for a non-finite loss, which
        `TransferLearner` raises before stepping the network it belongs to."""
        cfg = self.run.transfer
        batch = self.replay.sample(cfg.batch, cfg.segment, 1, self.rng)
        try:
            self.metrics = self.learner.update(batch)
        except FloatingPointError as err:
            self.learner.rollbacks += 1
            self.learner.problem = str(err)
            self.learner.updates += 1  # the ratio goes on: a stuck learner would stall actors
            return False
        return True

    def _broadcast_state(self) -> dict[str, torch.Tensor]:
        """The high-level policy only (encode_weights refuses it non-finite)."""
        return high_level_state(self.model)

    def checkpoint(self) -> None:
        """The transfer checkpoint (transfer/model.py): `evaluate` and the policy node read it."""
        meta = {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "episodes": self.episodes,
            "quarantined": self.quarantined,
            "store_chunk": self.position,
            "skills_from": self.run.skills,
            "run": self.identity.run,
            "weights_version": self.identity.version,
        }
        save_transfer(self.checkpoint_path, self.model, self.learner.critic_target, meta)
