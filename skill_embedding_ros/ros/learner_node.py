"""Learner node: trains from the replay store the recorder writes, publishes weights.

It scans the store for new chunks every `scan_period` s, keeps the replay ratio of the run
config (updates per env step) against the transitions that have landed, broadcasts the actor
weights on /policy_weights (safetensors bytes, latched, versioned by the update count) every
`publish_every` updates, and checkpoints atomically. Restarted after a crash, it resumes from its
checkpoint and refills its replay from the store; the node exits 0 once `train.env_steps`
transitions have been learned from (the graph's end in `train_sim`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import UInt8MultiArray

from skill_embedding_ros.core.checkpoint import (
    encode_weights,
    load_checkpoint_into,
    read_checkpoint,
    save_checkpoint,
)
from skill_embedding_ros.core.config import LearnerNodeConfig, load_run_config, to_dict
from skill_embedding_ros.core.learner import Learner
from skill_embedding_ros.core.replay import ReplayBuffer
from skill_embedding_ros.core.replay_store import StoreReader
from skill_embedding_ros.core.trainer import (
    EpisodeStats,
    build_networks,
    hold_steps,
    replay_update,
    seed_everything,
    updates_due,
)
from skill_embedding_ros.envs import get_suite
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import weights_message
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin

UPDATE_BUDGET_S = 0.05  # train in slices this long, so callbacks (and Ctrl-C) stay responsive
REBROADCAST_S = 2.0  # weights (and the counts that pace actors) go out at least this often


class LearnerNode(Node):
    def __init__(self):
        super().__init__("learner")
        self.cfg = declare(self, LearnerNodeConfig)
        try:
            self.run_cfg = load_run_config(self.cfg.config)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        run = self.run_cfg
        seed_everything(run.train.seed, run.train.threads)
        suite = get_suite(run.train.suite)
        self.out = Path(self.cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.learner = Learner(build_networks(run), hold_steps(run), self.cfg.device)
        self.replay = ReplayBuffer(
            run.replay.capacity, suite.obs_dim, suite.action_dim, run.agent.z_dim
        )
        self.rng = np.random.default_rng(run.train.seed)
        self.stats = EpisodeStats(len(run.train.tasks))
        self.env_steps = 0
        self.metrics: dict[str, float] = {}
        self.checkpoint_path = self.out / "checkpoint.safetensors"
        self.refill = self.resume()
        self.reader = StoreReader(self.cfg.store)
        self.unreadable_reported = 0
        (self.out / "config.yaml").write_text(yaml.safe_dump(to_dict(run), sort_keys=False))

        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.out / "tb"))
        self.log_file = open(self.out / "progress.jsonl", "a")  # noqa: SIM115 (closed in close)
        self.weights_pub = self.create_publisher(
            UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.publish_weights()  # every actor starts from the learner's weights
        self.last_checkpoint = time.monotonic()
        self.last_scan = 0.0
        self.next_log = self.env_steps + run.train.log_every
        self.rate = (time.monotonic(), self.learner.updates)
        self.create_timer(0.001, self.work)
        self.create_timer(1.0, self.diagnose)
        self.get_logger().info(
            f"learning {run.train.suite} {list(run.train.tasks)} from {self.cfg.store} on "
            f"{self.cfg.device}: {run.train.env_steps} env steps, "
            f"{run.train.updates_per_step} updates per step; run dir {self.out}"
        )

    def resume(self) -> bool:
        """Load the run directory's checkpoint if there is one; returns whether it did."""
        if not self.checkpoint_path.is_file():
            return False
        try:
            tensors, meta = read_checkpoint(self.checkpoint_path)
            load_checkpoint_into(self.learner, tensors, str(self.checkpoint_path))
        except ValueError as err:
            raise SystemExit(
                f"error: cannot resume from {self.checkpoint_path}: {err}\n"
                "Use another `out` directory, or delete the checkpoint to start afresh."
            ) from None
        self.learner.updates = int(meta.get("updates", 0))
        self.env_steps = int(meta.get("env_steps", 0))
        self.get_logger().info(
            f"resumed from {self.checkpoint_path}: {self.learner.updates} updates, "
            f"{self.env_steps} env steps"
        )
        return True

    # -- the loop --------------------------------------------------------------------------

    def work(self) -> None:
        now = time.monotonic()
        if now - self.last_scan > self.cfg.scan_period:
            self.last_scan = now
            self.ingest()
        train = self.run_cfg.train
        deadline = time.monotonic() + UPDATE_BUDGET_S
        while self.owed() > 0 and time.monotonic() < deadline:
            self.update()
        caught_up = self.owed() <= 0 and self.learner.updates > self.published
        if caught_up or now - self.published_at > REBROADCAST_S:
            # Paced explorers wait for these counts: tell them as soon as the learner has caught
            # up, and every few seconds anyway (a lost episode must not stall them for good).
            self.publish_weights()
        if now - self.last_checkpoint > self.cfg.checkpoint_period:
            self.checkpoint()
        if self.env_steps >= train.env_steps and self.owed() <= 0:
            self.get_logger().info(
                f"done: {self.env_steps} env steps, {self.learner.updates} updates"
            )
            self.exit_code = 0

    def ingest(self) -> None:
        if self.refill:
            # Resumed: refill replay with the newest stored episodes. Their steps were counted
            # before the restart (up to the checkpoint), so they do not count again.
            self.refill = False
            episodes = self.reader.new_episodes(max_transitions=self.replay.capacity)
            for episode in episodes:
                self.replay.add(episode)
            self.get_logger().info(f"replay refilled from the store: {len(episodes)} episodes")
        for episode in self.reader.new_episodes():
            self.replay.add(episode)
            self.stats.add(episode)
            self.env_steps += len(episode)
        for chunk in self.reader.unreadable[self.unreadable_reported :]:
            self.get_logger().error(f"store chunk {chunk} is unreadable; skipped")
        self.unreadable_reported = len(self.reader.unreadable)
        if self.env_steps >= self.next_log:
            self.next_log = self.env_steps + self.run_cfg.train.log_every
            self.log()

    def owed(self) -> int:
        t = self.run_cfg.train
        if self.replay.num_episodes == 0:
            return 0
        return updates_due(min(self.env_steps, t.env_steps), t) - self.learner.updates

    def update(self) -> None:
        self.metrics = replay_update(self.learner, self.replay, self.run_cfg, self.rng)
        if self.learner.updates % self.cfg.publish_every == 0:
            self.publish_weights()

    def publish_weights(self) -> None:
        data = encode_weights(
            self.learner.nets.actor_state(), self.learner.updates, env_steps=self.env_steps
        )
        self.weights_pub.publish(weights_message(data))
        self.published, self.published_at = self.learner.updates, time.monotonic()

    def checkpoint(self) -> None:
        meta = {"config": to_dict(self.run_cfg), "env_steps": self.env_steps}
        save_checkpoint(self.checkpoint_path, self.learner, meta)
        self.last_checkpoint = time.monotonic()

    # -- reporting -------------------------------------------------------------------------

    def log(self) -> None:
        row = {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            **self.stats.scalars(),
            **self.metrics,
        }
        for k, v in row.items():
            if "/" in k:
                self.writer.add_scalar(k, v, self.env_steps)
        self.log_file.write(json.dumps(row) + "\n")
        self.log_file.flush()
        total = self.run_cfg.train.env_steps
        self.get_logger().info(
            f"{self.env_steps}/{total} env steps ({100 * self.env_steps / total:.0f}%), "
            f"{self.learner.updates} updates, return "
            f"{row.get('charts/episodic_return', float('nan')):.1f}"
        )

    def diagnose(self) -> None:
        now = time.monotonic()
        then, updates = self.rate
        self.rate = (now, self.learner.updates)
        values = {
            "env_steps": self.env_steps,
            "updates": self.learner.updates,
            "updates_per_s": round((self.learner.updates - updates) / max(now - then, 1e-6), 1),
            "replay_transitions": len(self.replay),
            "replay_episodes": self.replay.num_episodes,
            **{k: round(v, 4) for k, v in {**self.stats.scalars(), **self.metrics}.items()},
        }
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name()}: training",
            message="waiting for episodes" if not self.replay.num_episodes else "training",
            hardware_id="learner",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def close(self) -> None:
        self.checkpoint()
        self.writer.close()
        self.log_file.close()


def main(args=None) -> int:
    return spin(LearnerNode, args)


if __name__ == "__main__":
    sys.exit(main())
