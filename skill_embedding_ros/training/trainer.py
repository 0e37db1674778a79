"""In-process training: actors feed one learner through a replay buffer.

With `actor_processes = 0` one actor runs inline, interleaved with the learner: deterministic for
a seed, and the fast path for tests and experiments. With N > 0, N actor processes step their
envs asynchronously (as the paper's 16 workers did), send finished episodes through one-way
pipes as safetensors bytes, and read the newest weights from shared memory; the learner paces
them so the replay ratio holds.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing as mp
import multiprocessing.connection
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skill_embedding_ros.agent.actor import Actor
from skill_embedding_ros.agent.checkpoint import (
    ACTOR_CHECKPOINT,
    decode_weights,
    encode_weights,
    save_actor_checkpoint,
    save_checkpoint,
    split_actor_state,
)
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import (
    build_networks,
    check_anchor_start,
    start_learner_from,
)
from skill_embedding_ros.data.relabel import hindsight, relabel, task_rewards
from skill_embedding_ros.data.replay import ReplayBuffer, episode_from_bytes, episode_to_bytes
from skill_embedding_ros.settings.run import RunConfig, to_dict
from skill_embedding_ros.stop_request import stop_on_signals
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.demos import demo_episodes
from skill_embedding_ros.training.pacing import steps_learned, updates_due
from skill_embedding_ros.training.periodic import PeriodicEval
from skill_embedding_ros.training.run_log import RunLog


def env_factory(cfg: RunConfig):
    """A picklable callable seed -> env for this run's suite and tasks."""
    return functools.partial(SuiteEnv, cfg.train.suite, list(cfg.train.tasks))


def hold_steps(cfg: RunConfig) -> int:
    return cfg.train.z_hold or get_suite(cfg.train.suite).episode_steps


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)


def replay_update(learner: Learner, replay: ReplayBuffer, cfg: RunConfig, rng) -> dict:
    """One learner update from a batch of replayed segments and z-draw states."""
    r, suite = cfg.replay, get_suite(cfg.train.suite)
    rewards = task_rewards(suite, cfg.train.tasks)
    starts = replay.sample_starts(r.batch, rng)
    batch = replay.segment_arrays(starts, r.segment, cfg.agent.history)
    went = {}
    if r.hindsight > 0:  # first: the task relabelling scores the goals this leaves
        reached = replay.future_states(starts, r.segment, rng)
        batch = hindsight(batch, reached, suite.goal, rewards, r.hindsight, rng)
        # Where the goal's part of the state got to after each segment's start (m for Jaco): a
        # state that never moves makes every hindsight goal one reached by doing nothing.
        part = suite.goal[1]
        moved = np.linalg.norm(reached[:, part] - batch["obs"][:, 0, part], axis=-1)
        went = {"values/hindsight_distance": float(moved.mean())}
    if r.relabel > 0:
        batch = relabel(batch, rewards, r.relabel, rng)
    metrics = learner.update(batch, replay.sample_draws(r.batch, rng))
    return {**metrics, **went} if metrics else metrics


class EpisodeStats:
    """Running returns and strict success (tasks/scoring.py) of recent episodes, per task."""

    def __init__(self, suite, tasks, window: int = 100):
        self.suite, self.tasks = suite, list(tasks)
        self.returns = [deque(maxlen=window) for _ in self.tasks]
        self.successes = [deque(maxlen=window) for _ in self.tasks]
        self.episodes = 0

    def add(self, episode) -> None:
        self.returns[episode.task].append(float(episode.reward.sum()))
        success = self.suite.success(self.tasks[episode.task], episode.obs[None])[0]
        self.successes[episode.task].append(bool(success))
        self.episodes += 1

    def scalars(self) -> dict[str, float]:
        out = {}
        for t, (r, s) in enumerate(zip(self.returns, self.successes, strict=True)):
            if r:
                out[f"charts/return_task{t}"] = float(np.mean(r))
                out[f"charts/success_task{t}"] = float(np.mean(s))
        all_r = [x for r in self.returns for x in r]
        if all_r:
            out["charts/episodic_return"] = float(np.mean(all_r))
        return out


class Trainer:
    """One run. `run()` trains to `train.env_steps` and returns a summary dict."""

    def __init__(
        self, cfg: RunConfig, out_dir: str | Path, progress: bool = True, start_from: str = ""
    ):
        """`start_from`: a checkpoint whose networks the run starts with (fine-tuning, or going
        on from where a run stopped: agent/run_networks.py start_learner_from); replay, optimizer
        moments and counts start afresh."""
        self.cfg, self.out = cfg, Path(out_dir)
        self.suite = get_suite(cfg.train.suite)
        # Checked before anything is written: a store that does not fit leaves no run behind.
        demos = cfg.train.demos and demo_episodes(
            cfg.train.demos,
            self.suite.obs_dim,
            self.suite.action_dim,
            cfg.agent.z_dim,
            cfg.train.tasks,
        )
        check_anchor_start(cfg, start_from)
        seed_everything(cfg.train.seed, cfg.train.threads)
        self.nets = build_networks(cfg)
        self.learner = Learner(self.nets, hold_steps(cfg), cfg.train.device)
        self.started_from = start_from
        # raises when it does not fit: still nothing written
        fresh = start_from and start_learner_from(self.learner, start_from)
        self.start_warning = " ".join(filter(None, (self.learner.warning, fresh)))
        self.out.mkdir(parents=True, exist_ok=True)
        self.replay = ReplayBuffer(
            cfg.replay.capacity, self.suite.obs_dim, self.suite.action_dim, cfg.agent.z_dim
        )
        for episode in demos or []:
            self.replay.add(episode)
        self.demos = len(demos or [])
        self.rng = np.random.default_rng(cfg.train.seed)
        self.stats = EpisodeStats(self.suite, cfg.train.tasks)
        self.periodic = PeriodicEval(cfg, self.suite)
        self.progress = progress
        self.env_steps = 0
        self.metrics: dict[str, float] = {}

    # -- shared pieces -------------------------------------------------------------------------

    def _update(self) -> None:
        self.metrics = replay_update(self.learner, self.replay, self.cfg, self.rng)

    def _updates_owed(self) -> int:
        if self.replay.num_episodes == 0:  # a warm-up shorter than one episode
            return 0
        return updates_due(self.env_steps, self.cfg.train) - self.learner.updates

    def _add(self, episodes) -> None:
        for ep in episodes:
            self.replay.add(ep)
            self.stats.add(ep)

    def checkpoint(self) -> Path:
        path = self.out / "checkpoint.safetensors"
        self.learner.verify()  # a non-finite state is rolled back, never saved
        meta = {"config": to_dict(self.cfg), "env_steps": self.env_steps}
        if self.started_from:
            meta["started_from"] = self.started_from
        save_checkpoint(path, self.learner, meta)
        save_actor_checkpoint(self.out / ACTOR_CHECKPOINT, self.learner, meta)
        return path

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        self.log = RunLog(self.out, self.cfg)
        self.bar = tqdm(
            total=self.cfg.train.env_steps,
            unit="step",
            disable=not self.progress,
            desc=f"train {self.cfg.train.suite} seed {self.cfg.train.seed}",
        )
        if self.started_from:
            self.bar.write(f"networks from {self.started_from}")
        if self.start_warning:
            self.bar.write(f"warning: {self.start_warning}")
        if self.demos:
            self.bar.write(f"replay starts with {self.demos} episodes from {self.cfg.train.demos}")
        self.start = time.perf_counter()
        self._next_log = self.cfg.train.log_every
        self._next_ckpt = self.cfg.train.checkpoint_every
        try:
            # Ctrl-C or SIGTERM: the run stops after the step or update under way and writes
            # its checkpoint as at the end, so a long run stopped is a run to go on from.
            with stop_on_signals() as self._stop:
                if self.cfg.train.actor_processes > 0:
                    self._run_processes()
                else:
                    self._run_inline()
            self.checkpoint()
        finally:
            self.bar.close()
            self.log.close()
        return {
            **({"stopped_by": self._stop.signal} if self._stop.requested else {}),
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "episodes": self.stats.episodes,
            **({"started_from": self.started_from} if self.started_from else {}),
            **({"demo_episodes": self.demos} if self.demos else {}),
            "minutes": (time.perf_counter() - self.start) / 60,
            **self.stats.scalars(),
            **({"periodic_eval": self.periodic.summary()} if self.periodic.every else {}),
        }

    def _tick(self, steps: int) -> None:
        self.env_steps += steps
        self.bar.update(steps)
        if self.periodic.due(self.env_steps):  # before the training row: that one stays last
            self.log.write(self.periodic(self.nets, self.env_steps), self.env_steps)
        if self.env_steps >= self._next_log:
            self._next_log += self.cfg.train.log_every
            minutes = (time.perf_counter() - self.start) / 60
            row = {
                "env_steps": self.env_steps,
                "updates": self.learner.updates,
                "minutes": minutes,
                **self.stats.scalars(),
                **self.metrics,
            }
            self.log.write(row, self.env_steps)
            self.bar.set_postfix(
                ret=f"{row.get('charts/episodic_return', 0):.1f}", upd=self.learner.updates
            )
        if self.env_steps >= self._next_ckpt:
            self._next_ckpt += self.cfg.train.checkpoint_every
            self.checkpoint()

    # -- inline actor -----------------------------------------------------------------------

    def _run_inline(self) -> None:
        t = self.cfg.train
        nets = self.nets
        actor_nets = build_networks(self.cfg)
        actor = Actor(
            env_factory(self.cfg),
            t.envs_per_actor,
            actor_nets.embedding,
            actor_nets.policy,
            t.z_hold,
            seed=t.seed,
        )
        actor.load_state_dict(nets.embedding.state_dict(), nets.policy.state_dict())
        while self.env_steps < t.env_steps and not self._stop.requested:
            self._add(actor.step())
            self._tick(t.envs_per_actor)
            for _ in range(self._updates_owed()):
                self._update()
                if self.learner.updates % t.weight_sync_updates == 0 and self.learner.verify():
                    actor.load_state_dict(nets.embedding.state_dict(), nets.policy.state_dict())

    # -- actor processes ----------------------------------------------------------------------

    def _run_processes(self) -> None:
        t = self.cfg.train
        ctx = mp.get_context("spawn")
        weights = encode_weights(self.nets.actor_state(), 0)
        shared = ctx.Array(ctypes.c_uint8, len(weights))
        version = ctx.Value(ctypes.c_int64, 0)
        produced = ctx.Value(ctypes.c_int64, 0)
        allowed = ctx.Value(ctypes.c_int64, t.warmup_steps)
        stop = ctx.Event()
        self._publish(weights, shared, version)
        conns, procs = [], []
        cfg_dict = to_dict(self.cfg)
        for i in range(t.actor_processes):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_actor_process,
                daemon=True,
                name=f"actor_{i}",
                args=(cfg_dict, i, send, shared, version, produced, allowed, stop),
            )
            p.start()
            send.close()
            conns.append(recv)
            procs.append(p)
        # Actors may run this many steps ahead of the replay ratio before they wait. It must
        # exceed the steps that can sit in unfinished episodes (one per env), or actors could
        # wait for updates that wait for those very episodes.
        lead = t.actor_processes * t.envs_per_actor * self.suite.episode_steps
        try:
            while (
                self.env_steps < t.env_steps or self._updates_owed() > 0
            ) and not self._stop.requested:
                # Block briefly for episodes only when there is no update to do meanwhile.
                busy = self._updates_owed() > 0
                for conn in multiprocessing.connection.wait(conns, timeout=0.0 if busy else 0.05):
                    episode = episode_from_bytes(conn.recv_bytes())
                    self._add([episode])
                    self._tick(len(episode))
                if self._updates_owed() > 0:
                    self._update()
                    if self.learner.updates % t.weight_sync_updates == 0 and self.learner.verify():
                        self._publish(
                            encode_weights(self.nets.actor_state(), self.learner.updates),
                            shared,
                            version,
                        )
                paced = steps_learned(self.learner.updates, t) + lead
                allowed.value = min(paced, t.env_steps + lead)
                dead = [p.name for p in procs if not p.is_alive()]
                if dead and self.env_steps < t.env_steps:
                    raise RuntimeError(f"actor process(es) {dead} died; see their error above")
        finally:
            stop.set()
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()

    @staticmethod
    def _publish(weights: bytes, shared, version) -> None:
        with shared.get_lock():
            shared[:] = weights
            version.value += 1


def _actor_process(cfg_dict, index, conn, shared, version, produced, allowed, stop) -> None:
    """Body of one actor process: step envs, send episodes, pick up new weights."""
    from skill_embedding_ros.settings.run import RunConfig, from_dict

    # A terminal's Ctrl-C reaches every process of its group: the trainer stops the actors
    # (`stop`) once it has taken the signal itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cfg = from_dict(RunConfig, cfg_dict)
    torch.set_num_threads(1)
    nets = build_networks(cfg)
    actor = Actor(
        env_factory(cfg),
        cfg.train.envs_per_actor,
        nets.embedding,
        nets.policy,
        cfg.train.z_hold,
        seed=cfg.train.seed * 100 + index + 1,
    )
    seen = -1
    while not stop.is_set():
        if version.value != seen:
            with shared.get_lock():
                data, seen = bytes(shared[:]), version.value
            actor.load_state_dict(*split_actor_state(decode_weights(data)[0]))
        if produced.value >= allowed.value:
            time.sleep(0.002)
            continue
        with produced.get_lock():
            produced.value += cfg.train.envs_per_actor
        for episode in actor.step():
            conn.send_bytes(episode_to_bytes(episode))
    conn.close()
