"""One transfer run, in process: the frozen skills act under z ~ HL(.|s) held for K steps; each
finished episode becomes a high-level episode in replay; the transfer learner updates at the
pre-training replay ratio (per low-level step); at the end a checkpoint and an evaluation.

Deterministic for a seed (one process, its own generators), like the inline trainer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skill_embedding_ros.data.replay import ReplayBuffer
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.training.pacing import updates_due
from skill_embedding_ros.transfer.evaluate import evaluate_transfer
from skill_embedding_ros.transfer.high_level_steps import high_level_episode
from skill_embedding_ros.transfer.learner import TransferLearner
from skill_embedding_ros.transfer.model import TransferModel, save_transfer, transfer_agent

CHECKPOINT = "checkpoint.safetensors"
"""The transfer checkpoint's name in its run directory (what `evaluate DIR` looks for)."""


class TransferRun:
    """Collects and learns; `run()` goes to `cfg.env_steps` and returns a summary dict."""

    def __init__(self, model: TransferModel, out: str | Path, skills_from: str = ""):
        cfg = model.cfg
        self.model, self.cfg, self.out = model, cfg, Path(out)
        self.skills_from = skills_from
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.gamma = model.skills.config.agent.gamma
        self.learner = TransferLearner(model.high_level, model.critic, cfg, self.gamma)
        z_dim = model.skills.latent.z_dim
        self.replay = ReplayBuffer(cfg.capacity, model.suite.obs_dim, z_dim, 0)
        self.rng = np.random.default_rng(cfg.seed)
        self.envs = [
            SuiteEnv(model.suite, [model.task], seed=cfg.seed * 10_000 + i)
            for i in range(cfg.envs)
        ]
        generator = torch.Generator().manual_seed(cfg.seed)
        mean = cfg.skill_actions == "mean"
        self.agent = transfer_agent(model, cfg.envs, mean, generator)
        self.env_steps, self.episodes = 0, 0
        self.returns: list[float] = []
        self.successes: list[bool] = []
        self.metrics: dict[str, float] = {}

    def _collect_episode_batch(self) -> None:
        """Run every env through one whole episode (they share its length) and store the
        high-level episodes."""
        suite, task = self.model.suite, self.model.task
        obs = np.stack([e.reset(options={"task": 0})[0] for e in self.envs])
        for i in range(len(self.envs)):
            self.agent.begin(i, 0)
        traj, rewards, zs, log_bs = [obs], [], [], []
        for _ in range(suite.episode_steps):
            d = self.agent.act(obs)
            steps = [e.step(a) for e, a in zip(self.envs, d.action, strict=True)]
            obs = np.stack([s[0] for s in steps])
            traj.append(obs)
            rewards.append([s[1] for s in steps])
            zs.append(d.z)
            log_bs.append(d.log_b_z)
            self._tick(len(self.envs))
        traj, rewards = np.stack(traj, 1), np.asarray(rewards).T
        zs, log_bs = np.stack(zs, 1), np.stack(log_bs, 1)
        success = suite.success(task, traj)
        for i in range(len(self.envs)):
            episode = high_level_episode(
                traj[i], rewards[i], zs[i], log_bs[i], self.cfg.hold, self.gamma
            )
            self.replay.add(episode)
            self.returns.append(float(rewards[i].sum()))
            self.successes.append(bool(success[i]))
        self.episodes += len(self.envs)

    def _tick(self, steps: int) -> None:
        self.env_steps += steps
        if self.replay.num_episodes == 0:
            return
        for _ in range(updates_due(self.env_steps, self.cfg) - self.learner.updates):
            batch = self.replay.sample(self.cfg.batch, self.cfg.segment, 1, self.rng)
            self.metrics = self.learner.update(batch)

    def run(self, progress: bool = False) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        next_log, every = self.cfg.log_every, self.cfg.eval_every
        next_eval = 0 if every else self.cfg.env_steps + 1
        with open(self.out / "progress.jsonl", "w") as rows:
            while self.env_steps < self.cfg.env_steps:
                if self.env_steps >= next_eval:
                    next_eval = (self.env_steps // every + 1) * every
                    rows.write(json.dumps(self._evaluation()) + "\n")
                self._collect_episode_batch()
                if self.env_steps >= next_log or self.env_steps >= self.cfg.env_steps:
                    next_log += self.cfg.log_every
                    row = self._row(start)
                    rows.write(json.dumps(row) + "\n")
                    rows.flush()
                    if progress:
                        print(
                            f"{row['env_steps']} steps, return {row['charts/episodic_return']:.1f}"
                            f", success {row['charts/success']:.0%}",
                            flush=True,
                        )
        self.checkpoint()
        return {**self._row(start), "episodes": self.episodes}

    def _evaluation(self) -> dict[str, Any]:
        """The periodic evaluation's row (keys as a pre-training run's, its one task being 0);
        its own generators and envs, so the run does not depend on it."""
        report, _ = evaluate_transfer(self.model, self.cfg.eval_episodes)
        task = report["per_task"][0]
        return {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "eval/success_task0": task["success_rate"],
            "eval/touched_task0": task["touched_rate"],
            "eval/return_task0": task["mean_return"],
            "eval/return_std_task0": task["return_std"],
        }

    def _row(self, start: float) -> dict[str, Any]:
        recent = slice(-100, None)
        return {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "minutes": (time.perf_counter() - start) / 60,
            "charts/episodic_return": float(np.mean(self.returns[recent])),
            "charts/success": float(np.mean(self.successes[recent])),
            **self.metrics,
        }

    def checkpoint(self) -> Path:
        path = self.out / CHECKPOINT
        meta = {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "skills_from": self.skills_from,
        }
        save_transfer(path, self.model, self.learner.critic_target, meta)
        return path


def run_transfer(
    model: TransferModel, out: str | Path, skills_from: str = "", progress: bool = False
) -> dict[str, Any]:
    """Train `model` (build_model) into `out`: checkpoint.safetensors, progress.jsonl."""
    return TransferRun(model, out, skills_from).run(progress)
