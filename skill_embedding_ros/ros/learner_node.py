"""Learner node: trains from the replay store the recorder writes, publishes weights.

It scans the store for new chunks every `scan_period` s, keeps the replay ratio of the run
config (updates per env step) against the transitions that have landed, broadcasts the actor
weights on /policy_weights (safetensors bytes, latched, with the learner's run id and a version
that only grows) every `publish_every` updates, and checkpoints atomically. Restarted after a
crash, it resumes from its checkpoint with its counts and store position and refills its replay
from the store; the node exits 0 once `train.env_steps` transitions have been learned from (the
graph's end in `train_sim`). The logic is ROS-free in
training/store_learner.py: poison episodes are
quarantined there, non-finite updates rolled back, counts restored exactly.
"""

from __future__ import annotations

import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import UInt8MultiArray

from skill_embedding_ros.agent.weights_signature import read_key, sign
from skill_embedding_ros.priority import lower_process
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import weights_message
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import LearnerNodeConfig
from skill_embedding_ros.settings.transfer import load_transfer_file
from skill_embedding_ros.training.run_log import RunLog
from skill_embedding_ros.training.store_learner import StoreLearner
from skill_embedding_ros.transfer.store_learner import TransferStoreLearner

UPDATE_BUDGET_S = 0.05  # train in slices this long, so callbacks (and Ctrl-C) stay responsive
REBROADCAST_S = 2.0  # weights (and the counts that pace actors) go out at least this often
ROLLBACK_LOG_S = 10.0  # at most one line per this long about rolled-back updates
BUSY_TICK_S = 0.001  # while updates are owed, the loop runs this often
IDLE_TICKS_PER_SCAN = 10  # with none owed, the loop runs this often a scan period: a scan (the
# next thing that can make updates owed) is late by a tenth of its period at most


class LearnerNode(Node):
    def __init__(self):
        super().__init__("learner")
        self.cfg = declare(self, LearnerNodeConfig)
        if self.cfg.niceness:
            lower_process(self.cfg.niceness)
        seed = None if self.cfg.seed < 0 else self.cfg.seed
        try:
            if self.cfg.transfer and self.cfg.start_from:
                raise ValueError("start_from is for skills; a transfer file names its own")
            run = (
                load_transfer_file(self.cfg.transfer, seed)
                if self.cfg.transfer
                else self.cfg.run_config()
            )
            if not self.cfg.transfer and run.train.demos:  # a graph learner reads its store only
                raise ValueError(
                    f"train.demos ({run.train.demos}) is for in-process training; in a graph, "
                    f"ingest the demonstrations into its store: skill-embedding ingest BAGS "
                    f"--into {self.cfg.store}"
                )
            self.key = read_key(self.cfg.weights_key) if self.cfg.weights_key else None
        except (ValueError, FileNotFoundError) as err:
            raise SystemExit(f"error: {err}") from None
        self.run_cfg = run
        where = (self.cfg.store, self.cfg.out, self.cfg.device)
        try:
            if self.cfg.transfer:
                self.core = TransferStoreLearner(run, *where)
            else:
                self.core = StoreLearner(run, *where, start_from=self.cfg.start_from)
        except FileNotFoundError as err:
            raise SystemExit(f"error: {err}") from None
        except ValueError as err:
            raise SystemExit(
                f"error: cannot resume from {self.cfg.out}: {err}\n"
                "Use another `out` directory, or delete the checkpoint to start afresh."
            ) from None
        self.out = self.core.out
        self.learner = self.core.learner
        if self.core.resumed is not None:
            self.get_logger().info(
                f"resumed from {self.core.checkpoint_path}: {self.learner.updates} updates, "
                f"{self.core.env_steps} env steps, store read up to chunk {self.core.position}"
            )
        if self.core.started_from:
            self.get_logger().info(f"a new run from the networks of {self.core.started_from}")
        if self.core.start_warning:
            self.get_logger().warning(self.core.start_warning)
        if self.core.store_replaced is not None:
            self.get_logger().warning(
                f"{self.cfg.store} holds no chunk as new as chunk {self.core.store_replaced}, "
                "which the checkpoint had read: a new store? Counting all of it as new."
            )
        self.metrics: dict[str, float] = {}
        self.rollbacks_logged, self.rollback_logged_at = self.learner.rollbacks, -1e9
        self.run_log = RunLog(self.out, run, append=True)
        self.weights_pub = self.create_publisher(
            UInt8MultiArray, topics.POLICY_WEIGHTS, topics.LATCHED
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.publish_weights()  # every actor starts from the learner's weights
        self.last_checkpoint = time.monotonic()
        self.last_scan = 0.0
        pacing = self.core.pacing
        self.next_log = self.core.env_steps + pacing.log_every
        self.rate = (time.monotonic(), self.learner.updates)
        # Updates become owed only when a scan finds new steps: while none are, the busy tick
        # sleeps (a 1 ms tick cost an idle learner 0.14 of a core: bench_graph `idle`).
        self.busy = self.create_timer(BUSY_TICK_S, self.work)
        self.create_timer(self.cfg.scan_period / IDLE_TICKS_PER_SCAN, self.work)
        self.create_timer(1.0, self.diagnose)
        mixed = not self.cfg.transfer and run.agent.precision != "float32"  # agent.precision
        graphs = ""  # agent.cuda_graph, on a GPU (the transfer learner runs on the CPU only)
        if not self.cfg.transfer and self.cfg.device != "cpu":
            problem = self.learner.graph_problem
            graphs = f" (op by op: {problem})" if problem else " (one CUDA graph per update)"
        self.get_logger().info(
            f"learning {'a transfer to ' if self.cfg.transfer else ''}"
            f"{self.core.stats.suite.name} {self.core.stats.tasks} from {self.cfg.store} on "
            f"{self.cfg.device}{graphs}"
            + (f" in {run.agent.precision}" if mixed else "")
            + (" with torch.compile" if not self.cfg.transfer and run.agent.compile else "")
            + (f" at nice +{self.cfg.niceness}" if self.cfg.niceness else "")
            + f": {pacing.env_steps} env steps, "
            f"{pacing.updates_per_step} updates per step; run dir {self.out}, learner run "
            f"{self.core.identity.run}"
        )

    # -- the loop --------------------------------------------------------------------------

    def work(self) -> None:
        now = time.monotonic()
        if now - self.last_scan > self.cfg.scan_period:
            self.last_scan = now
            self.ingest()
        deadline = time.monotonic() + UPDATE_BUDGET_S
        while self.core.owed() > 0 and time.monotonic() < deadline:
            self.update()
        caught_up = self.core.owed() <= 0 and self.learner.updates > self.published
        if caught_up or now - self.published_at > REBROADCAST_S:
            # Paced explorers wait for these counts: tell them as soon as the learner has caught
            # up, and every few seconds anyway (a lost episode must not stall them for good).
            self.publish_weights()
        self.evaluate()
        if now - self.last_checkpoint > self.cfg.checkpoint_period:
            self.checkpoint()
        self.report_rollbacks()
        if self.core.done():
            self.get_logger().info(
                f"done: {self.core.env_steps} env steps, {self.learner.updates} updates"
            )
            self.exit_code = 0
        if self.core.owed() > 0:
            if self.busy.is_canceled():
                self.busy.reset()
        elif not self.busy.is_canceled():
            self.busy.cancel()

    def ingest(self) -> None:
        demo_steps = self.core.demo_steps
        got = self.core.ingest()
        if self.core.demo_steps > demo_steps:
            self.get_logger().info(
                f"{self.core.demo_steps} demonstration steps in replay: trained on, not counted "
                "as env steps (the replay ratio and warm-up wait for the actors)"
            )
        log = self.get_logger()
        if got.refilled or got.refill_quarantined:
            # Resumed: their steps were counted before the restart, so they do not count again.
            log.info(
                f"replay refilled from the store: {got.refilled} episodes"
                + (
                    f", {got.refill_quarantined} quarantined again"
                    if got.refill_quarantined
                    else ""
                )
            )
        for line in got.quarantined:
            log.warning(
                f"quarantined {line}; skipped ({self.core.quarantined} so far). Fix the actor "
                "that recorded it, or leave it: the learner skips it on every read"
            )
        for chunk in got.unreadable:
            log.error(f"store chunk {chunk} is unreadable; skipped")
        if self.core.env_steps >= self.next_log:
            self.next_log = self.core.env_steps + self.core.pacing.log_every
            self.log()

    def update(self) -> None:
        self.core.update()
        self.metrics = self.core.metrics
        if self.learner.updates % self.cfg.publish_every == 0:
            self.publish_weights()

    def evaluate(self) -> None:
        """The periodic evaluation (train.eval_every) when due: a row in progress.jsonl and
        TensorBoard and a line in the log. It blocks this loop for its episodes."""
        row = self.core.evaluation()
        if row is None:
            return
        self.run_log.write(row, self.core.env_steps)
        tasks = self.core.stats.tasks
        self.get_logger().info(
            f"evaluation at {self.core.env_steps} env steps: "
            + ", ".join(
                f"{name} {row[f'eval/solutions_task{t}']} solution(s), strict success "
                f"{100 * row[f'eval/success_task{t}']:.0f}%"
                for t, name in enumerate(tasks)
            )
        )

    def report_rollbacks(self) -> None:
        """One line per ROLLBACK_LOG_S at most about updates rolled back as non-finite."""
        new = self.learner.rollbacks - self.rollbacks_logged
        now = time.monotonic()
        if new > 0 and now - self.rollback_logged_at >= ROLLBACK_LOG_S:
            self.get_logger().warning(
                f"rolled back {new} update(s) to the last finite state "
                f"({self.learner.rollbacks} so far): {self.learner.problem}"
            )
            self.rollbacks_logged, self.rollback_logged_at = self.learner.rollbacks, now

    def publish_weights(self) -> None:
        data = self.core.weights()
        signature = sign(data, self.key) if self.key is not None else ""
        self.weights_pub.publish(weights_message(data, signature))
        self.published, self.published_at = self.learner.updates, time.monotonic()

    def checkpoint(self) -> None:
        self.core.checkpoint()
        self.last_checkpoint = time.monotonic()

    # -- reporting -------------------------------------------------------------------------

    def log(self) -> None:
        progress = self.core.progress()
        row = {
            "env_steps": self.core.env_steps,
            "updates": self.learner.updates,
            "health/quarantined_episodes": progress["quarantined_episodes"],
            "health/rollbacks": progress["rollbacks"],
            **self.core.stats.scalars(),
            **self.metrics,
        }
        self.run_log.write(row, self.core.env_steps)
        total = self.core.pacing.env_steps
        steps = self.core.env_steps
        self.get_logger().info(
            f"{steps}/{total} env steps ({100 * steps / total:.0f}%), "
            f"{self.learner.updates} updates, return "
            f"{row.get('charts/episodic_return', float('nan')):.1f}"
        )

    def diagnose(self) -> None:
        now = time.monotonic()
        then, updates = self.rate
        self.rate = (now, self.learner.updates)
        values = {
            **self.core.progress(),
            "run": self.core.identity.run,
            "updates_per_s": round((self.learner.updates - updates) / max(now - then, 1e-6), 1),
            **{k: round(v, 4) for k, v in {**self.core.stats.scalars(), **self.metrics}.items()},
        }
        unhealthy = values["quarantined_episodes"] or values["rollbacks"]
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if unhealthy else DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name()}: training",
            message="waiting for episodes" if not self.core.replay.num_episodes else "training",
            hardware_id="learner",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def close(self) -> None:
        self.checkpoint()
        self.core.write_summary()
        self.run_log.close()


def main(args=None) -> int:
    return spin(LearnerNode, args)


if __name__ == "__main__":
    sys.exit(main())
