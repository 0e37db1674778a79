"""The graph learner's core, ROS-free: replay fed from the persistent store, the replay ratio,
the non-finite guard, checkpoints that restore the counts exactly, and the weights identity.
`ros/learner_node.py` adds only timers, topics and log lines; tests drive this class directly.

Counting across a `kill -9`. The checkpoint holds, beside the networks, the env steps, episodes,
quarantined episodes and updates, and `store_chunk`: the highest store chunk whose episodes those
counts include (chunks land whole and in increasing number, so one number is the position). All
of it is written in one atomic file. A restarted learner refills its replay from the chunks up
to that position (their steps are counted already) and reads every later chunk as new, so the
episodes that landed between the last checkpoint and the restart are counted once: not lost, not
twice. (Chunks the store's size bound deleted in that window are gone, counts and all.)

Quarantine. Every episode read (new or refilled) passes `validation.episode_problem` against the
run's shapes first; an unfit one is skipped, named in one line and counted (`quarantined`, in the
checkpoint too), so a poison episode can neither kill the learner nor be trained on, and the
store stays usable: a restart meets it again and skips it again, without counting it twice.

Demonstrations. An episode in which every action is an intervention (an ingested demonstration:
the policy chose none of it) enters replay and trains, but is not an env step of this run: the
replay ratio, warm-up, budget and evaluation schedule count the actors' steps only, as in-process
training treats `train.demos`. Counted as env steps, a store of 120 k ingested demonstration
steps had the learner owe 27.5 k updates before its actors' first episodes, on demonstrations
alone, and its critic's values ran away (docs/jaco_pretraining.md).

Weights identity. Broadcasts carry the learner's run id (made once, kept in `learner.json` in the
run directory and in the checkpoint) and a version that grows by one per new set of weights and
is written to `learner.json` before the broadcast, so a restarted learner continues it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skill_embedding_ros.agent.checkpoint import (
    ACTOR_CHECKPOINT,
    encode_weights,
    load_checkpoint_into,
    read_checkpoint,
    save_actor_checkpoint,
    save_checkpoint,
)
from skill_embedding_ros.agent.learner import Learner
from skill_embedding_ros.agent.run_networks import (
    build_networks,
    check_anchor_start,
    start_learner_from,
)
from skill_embedding_ros.data.replay import Episode, ReplayBuffer
from skill_embedding_ros.data.store_chunks import chunk_entries, chunk_numbers
from skill_embedding_ros.data.store_reader import read_chunk
from skill_embedding_ros.data.validation import EpisodeSpec, episode_problem
from skill_embedding_ros.settings.run import RunConfig, to_dict
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.training.pacing import updates_due
from skill_embedding_ros.training.periodic import PeriodicEval
from skill_embedding_ros.training.trainer import (
    EpisodeStats,
    hold_steps,
    replay_update,
    seed_everything,
)

CHECKPOINT = "checkpoint.safetensors"
IDENTITY = "learner.json"


def episode_spec(run: RunConfig) -> EpisodeSpec:
    """What the run's networks and replay accept (every reader validates against this)."""
    suite = get_suite(run.train.suite)
    return EpisodeSpec(
        obs_dim=suite.obs_dim,
        action_dim=suite.action_dim,
        z_dim=run.agent.z_dim,
        num_tasks=len(run.train.tasks),
        max_steps=run.replay.capacity,
    )


@dataclass
class Ingested:
    """What one `StoreLearner.ingest` did."""

    episodes: int = 0
    """New episodes counted and added to replay."""
    steps: int = 0
    quarantined: list[str] = field(default_factory=list)
    """One line per new episode refused: the chunk, its place there, and what was wrong."""
    unreadable: list[str] = field(default_factory=list)
    """Chunks present but unreadable, with why (skipped)."""
    refilled: int = 0
    """Resuming: episodes put back into replay (counted before the restart)."""
    refill_quarantined: int = 0
    """Resuming: stored episodes refused again (counted as quarantined before the restart)."""


class WeightsIdentity:
    """The learner run id and the newest weights version, persisted in `path` (JSON, replaced
    atomically), falling back to the checkpoint's copy: a restarted learner keeps its id and
    never publishes a version twice or backwards."""

    def __init__(self, path: Path, checkpoint_meta: dict):
        self.path = path
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        saved = saved if isinstance(saved, dict) else {}
        self.run = str(saved.get("run") or checkpoint_meta.get("run") or secrets.token_hex(6))
        self.version = max(
            int(saved.get("version", 0)), int(checkpoint_meta.get("weights_version", 0))
        )
        self._write(sync=True)

    def next(self) -> int:
        """A new version, persisted before it is used."""
        self.version += 1
        self._write(sync=False)  # page cache survives a kill -9; the fsync is for the run id
        return self.version

    def _write(self, sync: bool) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"run": self.run, "version": self.version}, f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path)


class StoreLearner:
    """Trains one run from a replay store; `out` is its run directory (checkpoint, identity)."""

    def __init__(
        self,
        run: RunConfig,
        store: Path | str,
        out: Path | str,
        device: str = "cpu",
        start_from: str = "",
    ):
        self.run = run
        seed_everything(run.train.seed, run.train.threads)
        suite = get_suite(run.train.suite)
        self._begin(
            store,
            out,
            pacing=run.train,
            learner=Learner(build_networks(run), hold_steps(run), device),
            replay=ReplayBuffer(
                run.replay.capacity, suite.obs_dim, suite.action_dim, run.agent.z_dim
            ),
            spec=episode_spec(run),
            stats=EpisodeStats(suite, run.train.tasks),
            seed=run.train.seed,
        )
        self.resumed = self._resume()
        """The checkpoint's metadata when resumed, else None."""
        if self.resumed is None:  # a resumed run holds the policy its checkpoint keeps
            check_anchor_start(run, start_from)
        self.started_from = start_from if self.resumed is None and start_from else ""
        """A new run's networks came from this checkpoint (fine-tuning), else ""."""
        fresh = self.started_from and start_learner_from(self.learner, start_from)
        self.start_warning = " ".join(filter(None, (self.learner.warning, fresh)))
        """What the run should know as it starts, or "": FRESH_CRITICS when the start was an
        actor checkpoint (run_networks), the learner's own warning (agent.precision)."""
        self.identity = WeightsIdentity(self.out / IDENTITY, self.resumed or {})
        self.periodic = PeriodicEval(run, suite, self.env_steps)

    def _begin(self, store, out, *, pacing, learner, replay, spec, stats, seed: int) -> None:
        """What every store learner keeps (its subclasses call this too): where it reads and
        writes, its learner and replay, and the counts of a run that has read nothing yet."""
        self.store, self.out = Path(store), Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.pacing = pacing
        """Replay ratio and budget: updates_per_step, warmup_steps, env_steps, log_every."""
        self.learner, self.replay, self.spec, self.stats = learner, replay, spec, stats
        self.rng = np.random.default_rng(seed)
        self.env_steps = self.episodes = self.quarantined = 0
        self.demo_steps = 0
        """Steps of demonstration episodes read: in replay, not in env_steps."""
        self.position = -1
        """Highest store chunk whose episodes the counts include."""
        self.metrics: dict[str, float] = {}
        self.checkpoint_path = self.out / CHECKPOINT
        self._refill_upto: int | None = None
        self.store_replaced: int | None = None
        """Resuming: the checkpoint's position when the store holds no chunk that new (a new
        store); its chunks are then all counted as new."""
        self.resumed: dict | None = None
        self.started_from = self.start_warning = ""
        self._published: tuple[int, int] | None = None
        self.periodic: PeriodicEval | None = None
        """Evaluation during training (train.eval_every), skills runs only."""

    def _resume(self) -> dict | None:
        """Load the run directory's checkpoint, if any, with its counts and store position.
        Raises ValueError for a checkpoint that cannot be used (wrong shapes, non-finite)."""
        if not self.checkpoint_path.is_file():
            return None
        tensors, meta = read_checkpoint(self.checkpoint_path)
        load_checkpoint_into(self.learner, tensors, str(self.checkpoint_path))
        self.learner.updates = int(meta.get("updates", 0))
        self.learner.rollbacks = int(meta.get("rollbacks", 0))
        self.learner.mark_good()
        self.env_steps = int(meta.get("env_steps", 0))
        self.demo_steps = int(meta.get("demo_steps", 0))
        self.episodes = int(meta.get("episodes", 0))
        self.quarantined = int(meta.get("quarantined", 0))
        newest = max(chunk_numbers(self.store), default=-1)
        # A checkpoint from before positions were saved counts what is stored now as seen;
        # a store whose newest chunk is older than the position is another (a new) store.
        position = int(meta.get("store_chunk", newest))
        if newest < position:
            self.store_replaced, position = position, -1
        self.position = self._refill_upto = position
        return meta

    # -- reading the store -----------------------------------------------------------------

    def _chunk(self, name: str, unreadable: list[str]) -> list[Episode]:
        """The episodes of one store entry (StoreReader's rule, data/store_reader.py)."""
        return read_chunk(self.store, name, unreadable)

    def _refill(self, upto: int, out: Ingested) -> None:
        """Put the newest stored episodes of chunks <= upto back into replay, oldest first, at
        most a replay's worth; fit ones only, counting nothing."""
        budget, batches = self.replay.capacity, []
        for _, name in reversed([e for e in chunk_entries(self.store) if e[0] <= upto]):
            fit = []
            for episode in reversed(self._chunk(name, out.unreadable)):
                problem, item = self._admit(episode)
                if problem is not None:
                    out.refill_quarantined += 1
                elif len(item) > budget:
                    budget = 0
                    break
                else:
                    budget -= len(item)
                    fit.append(item)
            batches.append(fit[::-1])
            if budget <= 0:
                break
        for episode in (e for batch in reversed(batches) for e in batch):
            self.replay.add(episode)
            out.refilled += 1

    def _admit(self, episode: Episode) -> tuple[str | None, Episode | None]:
        """(what is wrong with a stored episode, None) or (None, what replay holds of it)."""
        return episode_problem(episode, self.spec), episode

    def ingest(self) -> Ingested:
        """Read the chunks that landed since the last call: fit episodes enter replay and the
        counts, unfit ones are quarantined. The first call after a resume refills first."""
        out = Ingested()
        if self._refill_upto is not None:
            upto, self._refill_upto = self._refill_upto, None
            self._refill(upto, out)
        for number, name in [e for e in chunk_entries(self.store) if e[0] > self.position]:
            episodes = self._chunk(name, out.unreadable)
            for i, episode in enumerate(episodes):
                problem, item = self._admit(episode)
                if problem is not None:
                    self.quarantined += 1
                    out.quarantined.append(
                        f"{name} episode {i + 1} of {len(episodes)} (task "
                        f"{episode.task}, {len(episode)} steps): {problem}"
                    )
                    continue
                self.replay.add(item)
                if episode.intervention.all():
                    self.demo_steps += len(episode)
                else:
                    self.stats.add(episode)
                    self.env_steps += len(episode)
                self.episodes += 1
                out.episodes += 1
                out.steps += len(episode)
            self.position = number
        return out

    # -- training --------------------------------------------------------------------------

    def owed(self) -> int:
        """Updates the replay ratio asks for now (none before the first episode)."""
        t = self.pacing
        if self.replay.num_episodes == 0:
            return 0
        return updates_due(min(self.env_steps, t.env_steps), t) - self.learner.updates

    def update(self) -> bool:
        """One update; False if it was rolled back (non-finite; `learner.problem` says why)."""
        metrics = replay_update(self.learner, self.replay, self.run, self.rng)
        if metrics:
            self.metrics = metrics
        return bool(metrics)

    def evaluation(self) -> dict | None:
        """The periodic evaluation's progress row when one is due, else None. It scores the
        weights the learner has when the store passes a multiple: in the graph those may lag
        the store by the updates still owed (the explorers' pacing bounds it), which is the
        graph's own cost. (Waiting until caught up left points tens of k steps apart: paced
        explorers keep the learner a little behind.)"""
        if self.periodic is None or not self.periodic.due(self.env_steps):
            return None
        return self.periodic(self.learner.nets, self.env_steps)

    def done(self) -> bool:
        return self.env_steps >= self.pacing.env_steps and self.owed() <= 0

    def weights(self) -> bytes:
        """The actor weights to broadcast, verified finite first (a non-finite state is rolled
        back). A new version only when the weights changed since the last broadcast; a
        rebroadcast repeats the version with fresh counts."""
        state = self._broadcast_state()
        key = (self.learner.updates, self.learner.rollbacks)
        if key != self._published:
            self.identity.next()
            self._published = key
        return encode_weights(
            state,
            self.identity.version,
            run=self.identity.run,
            updates=self.learner.updates,
            env_steps=self.env_steps,
        )

    def _broadcast_state(self) -> dict:
        """What actors act with (embedding and policy), verified finite first."""
        self.learner.verify()
        return self.learner.nets.actor_state()

    def checkpoint(self) -> None:
        """Write the networks, optimizers and counts atomically (verified finite first)."""
        self.learner.verify()
        meta = {
            "config": to_dict(self.run),
            "env_steps": self.env_steps,
            "demo_steps": self.demo_steps,
            "episodes": self.episodes,
            "quarantined": self.quarantined,
            "rollbacks": self.learner.rollbacks,
            "store_chunk": self.position,
            "run": self.identity.run,
            "weights_version": self.identity.version,
        }
        save_checkpoint(self.checkpoint_path, self.learner, meta)
        actor_meta = {"config": meta["config"], "env_steps": self.env_steps}
        save_actor_checkpoint(
            self.checkpoint_path.with_name(ACTOR_CHECKPOINT), self.learner, actor_meta
        )

    def write_summary(self) -> None:
        """summary.json in the run directory, as in-process training writes it: the counts and,
        with train.eval_every, the periodic evaluation's first points at the target solutions
        (`skill-embedding evaluate` reports them). After a restart it holds the points since."""
        summary = {"env_steps": self.env_steps, "updates": self.learner.updates}
        if self.periodic is not None and self.periodic.every:
            summary["periodic_eval"] = self.periodic.summary()
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1))

    def progress(self) -> dict[str, float]:
        """Counts and health for diagnostics and progress.jsonl."""
        return {
            "env_steps": self.env_steps,
            "demo_steps": self.demo_steps,
            "updates": self.learner.updates,
            "episodes": self.episodes,
            "quarantined_episodes": self.quarantined,
            "rollbacks": self.learner.rollbacks,
            "store_chunk": self.position,
            "weights_version": self.identity.version,
            "replay_transitions": len(self.replay),
            "replay_episodes": self.replay.num_episodes,
        }
