"""Skill policy node: one actor's episodes through the robot's topics.

`joint_states` and object poses -> one state per control period (control/state_sync.py, the
rule bag ingestion uses too) -> the suite's observer -> the episode logic (agent/live_episode.py:
reward, z from the actor core, a ~ pi(.|s, z)) -> `policy_command`, a JointState stamped with the
state it answers. The safety gate answers each command on `executed` with what it sent the
robot and whose command it was; a step's record goes out once that is known (the policy's
proposal where the command was its own, what went out where someone took over). Episodes
end after the suite's length; the node then resets through the gate's `reset` and swaps in the
newest accepted `/policy_weights`. Time comes from the state stamps, not from this node's clock.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String, UInt8MultiArray
from std_srvs.srv import Trigger

from skill_embedding_ros.agent.acting import skill_acting
from skill_embedding_ros.agent.live_episode import LiveEpisode
from skill_embedding_ros.agent.weights_acceptance import WeightsInbox
from skill_embedding_ros.control.state_sync import StateSync, SyncedState
from skill_embedding_ros.control.teleop import Source
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import (
    UNKNOWN_TASK,
    command_message,
    command_values,
    pose_tuple,
    reset_reply_stamp,
    reset_reply_task,
    stamp_ns,
    status_message,
    to_stamp,
    weights_signature,
)
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import PolicyNodeConfig
from skill_embedding_ros.training.pacing import actor_paced_out
from skill_embedding_ros.transfer.acting import transfer_acting
from skill_embedding_ros.transfer.model import is_transfer_checkpoint

LOG_EVERY = 100  # explore mode: episodes per log line (each one is on /diagnostics)


class SkillPolicyNode(Node):
    def __init__(self):
        super().__init__("skill_policy")
        self.cfg = declare(self, PolicyNodeConfig)
        if self.cfg.mode not in ("explore", "evaluate"):
            raise SystemExit(f"error: mode must be explore or evaluate, got {self.cfg.mode!r}")
        torch.manual_seed(self.cfg.seed)  # initial weights too: a seed fixes the trajectory
        torch.set_num_threads(1)
        self.deterministic = self.cfg.mode == "evaluate"
        checkpoint = self.cfg.checkpoint
        transfer = bool(self.cfg.transfer) or is_transfer_checkpoint(checkpoint)
        build = transfer_acting if transfer else skill_acting
        source = self.cfg.transfer if transfer else self.cfg.config
        try:
            acting = build(source, checkpoint, self.deterministic, self.cfg.seed)
            self.weights = WeightsInbox(acting.weights, self.cfg.weights_key)
        except (ValueError, FileNotFoundError) as err:
            raise SystemExit(f"error: {err}") from None
        self.acting, self.suite = acting, acting.suite
        suite, meta = acting.suite, acting.meta
        self.live = LiveEpisode(suite, acting.tasks, acting.core, self.deterministic)
        sr.prepare_encoder(suite.obs_dim, suite.action_dim, acting.core.z.shape[1])
        self.observer = suite.observer()
        self.sync = StateSync(round(suite.control_period * 1e9), objects=suite.objects)
        self.source = self.get_namespace().strip("/") or self.get_name()
        self.weights_version = int(meta.get("weights_version", meta.get("updates", -1)))
        self.learner: dict[str, int] | None = None  # the newest /policy_weights counts
        self.steps_since_weights = 0  # own steps since that message, for pacing

        self.received_stamp = -1  # ns of the newest joint state received
        self.acted_ns = -1  # ns of the state last acted on
        self.stamp_at_reset = -1  # received_stamp when the last reset was asked for
        self.in_episode = False  # the next state continues an episode (else starts one)
        # None (in an episode), "waiting_service", "in_flight", "draining" (the last records
        # wait for the gate's answers) or "paced" (learner behind)
        self.reset: str | None = None
        self.reset_since = 0.0
        self.last_progress = time.monotonic()
        self.latencies_us: list[float] = []
        self.reset_call = None  # only its reply counts: a slow reset may answer several at once

        self.command_pub = self.create_publisher(
            JointState, topics.POLICY_COMMAND, topics.RELIABLE
        )
        self.record_pub = self.create_publisher(
            Float64MultiArray, topics.STEP_RECORDS, topics.RECORDS
        )
        self.create_subscription(JointState, topics.JOINT_STATES, self.on_joints, topics.RELIABLE)
        self.create_subscription(JointState, topics.EXECUTED, self.on_executed, topics.RELIABLE)
        for name in suite.objects:
            self.create_subscription(
                PoseStamped,
                topics.object_pose_topic(name),
                lambda msg, name=name: self.on_pose(name, msg),
                topics.RELIABLE,
            )
        if not (self.deterministic and self.cfg.checkpoint):
            # An evaluation of a checkpoint must not pick up a learner's weights on the domain.
            self.create_subscription(
                UInt8MultiArray, topics.POLICY_WEIGHTS, self.on_weights, topics.LATCHED
            )
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.task_pub = self.create_publisher(String, topics.TASK, topics.LATCHED)
        self.reset_client = self.create_client(Trigger, topics.RESET)
        self.executed_topic = self.resolve_topic_name(topics.EXECUTED)
        self.create_timer(0.5, self.watch)
        self.get_logger().info(
            f"{self.cfg.mode} {suite.name} tasks {self.live.tasks} with {acting.what} as "
            f"'{self.source}'"
            + (f", weights from {self.cfg.checkpoint}" if self.cfg.checkpoint else "")
        )
        self.request_reset()

    # -- inputs ----------------------------------------------------------------------------

    def on_weights(self, msg: UInt8MultiArray) -> None:
        """Checked on arrival (agent/weights_acceptance.py), loaded at the next episode start."""
        verdict = self.weights.offer(bytes(msg.data), weights_signature(msg))
        if verdict.action in ("refuse", "switch", "reanchor"):
            logger = self.get_logger()
            log = logger.error if verdict.action == "refuse" else logger.warning
            log(f"/policy_weights {verdict.action}: {verdict.reason}", throttle_duration_sec=5.0)
        if verdict.counts_usable:
            self.learner = self.weights.counts
            self.steps_since_weights = 0
            self.resume_if_paced()

    def on_pose(self, name: str, msg: PoseStamped) -> None:
        self.on_synced(self.sync.add_pose(name, stamp_ns(msg.header.stamp), pose_tuple(msg.pose)))

    def on_joints(self, msg: JointState) -> None:
        stamp = stamp_ns(msg.header.stamp)
        self.received_stamp = stamp
        positions = dict(zip(msg.name, msg.position, strict=False))
        velocities = dict(zip(msg.name, msg.velocity, strict=False))
        self.on_synced(self.sync.add_joint_state(stamp, positions, velocities))

    def on_executed(self, msg: JointState) -> None:
        """The gate's answer to one of our commands: what the robot was sent."""
        sent = command_values(msg, self.suite.joints, self.suite.actuator)
        takeover = msg.header.frame_id != Source.POLICY.value  # an unnamed source too
        stamp = stamp_ns(msg.header.stamp)
        if self.live.on_executed(stamp, self.suite.action(sent), takeover):
            self.publish_released()
            if self.reset == "draining" and not self.live.waiting:
                self.finish_episode()

    def on_synced(self, states: list[SyncedState]) -> None:
        """Act once per control period, on the synchronised state."""
        for state in states:
            if self.reset is not None:
                return  # between episodes; `reset` replays what follows the new start
            if self.in_episode and not state.continuous:
                lost = round((state.stamp_ns - self.acted_ns) / self.sync.period) - 1
                where = f"{lost} control period(s) lost before {state.stamp_ns} ns in episode"
                if not 0 <= lost <= self.cfg.lost_periods:
                    self.get_logger().warning(f"{where} {self.live.episode}: abandoning it")
                    self.request_reset()
                    return
                self.get_logger().info(f"{where} {self.live.episode}: going on (lost_periods)")
            self.acted_ns = state.stamp_ns
            received = time.perf_counter()
            try:
                obs = self.observer(state.positions, state.velocities, state.poses, state.stamp_ns)
            except ValueError as err:
                # A wrong joint name or a NaN reading: do not act on it; abandon the episode.
                self.get_logger().error(f"bad observation at {state.stamp_ns} ns: {err}; reset")
                self.request_reset()
                return
            self.last_progress = time.monotonic()
            self.advance(obs, state.stamp_ns, received)

    # -- the episode -----------------------------------------------------------------------

    def advance(self, obs: np.ndarray, stamp: int, received: float) -> None:
        if not self.in_episode:
            self.begin_episode()
        action = self.live.on_state(obs, stamp)
        if action is None:
            self.publish_released()
            self.end_episode()
            return
        command = self.suite.command(action)
        self.command_pub.publish(
            command_message(to_stamp(stamp), self.suite.joints, command, self.suite.actuator)
        )
        self.latencies_us.append((time.perf_counter() - received) * 1e6)
        # Records go out after the command: they are not on the control path.
        self.publish_released()

    def begin_episode(self) -> None:
        weights = self.weights.take()
        if weights is not None:
            self.acting.load(weights.tensors)
            self.weights_version = weights.version
        self.live.begin()
        self.in_episode = True

    def publish_released(self) -> None:
        # As the CDR bytes of the record's message (data/step_record.py): what the message
        # would become on the wire, without building it and converting it field by field.
        for record in self.live.released():
            self.record_pub.publish(sr.encode_cdr(record))

    def end_episode(self) -> None:
        """The last state is in; the episode is over once the gate has answered every step."""
        self.in_episode = False
        if self.live.waiting:
            self.reset, self.reset_since = "draining", time.monotonic()
            return
        self.finish_episode()

    def finish_episode(self) -> None:
        live = self.live
        outcome = live.outcome()
        lat = np.percentile(self.latencies_us, [50, 99]) if self.latencies_us else (0, 0)
        # Every evaluation episode is news; while exploring, one line in LOG_EVERY is enough.
        log = self.get_logger().info
        if not self.deterministic and live.episode % LOG_EVERY:
            log = self.get_logger().debug
        log(
            f"episode {live.episode} task {live.task_name}: return {live.episode_return:.0f}, "
            f"outcome {outcome}, weights v{self.weights_version}, "
            f"obs->command p50 {lat[0]:.0f} us p99 {lat[1]:.0f} us"
        )
        self.publish_status(outcome, lat)
        self.latencies_us.clear()
        self.steps_since_weights += live.step
        if self.cfg.episodes and live.episode + 1 >= self.cfg.episodes:
            self.exit_code = 0
            return
        if self.paced_out():
            self.reset, self.reset_since = "paced", time.monotonic()  # watch resumes
            return
        self.request_reset()

    def resume_if_paced(self) -> None:
        if self.reset == "paced" and not self.paced_out():
            self.request_reset()

    def paced_out(self) -> bool:
        """Whether the learner is too far behind for this explorer (training/pacing.py)."""
        return not self.deterministic and actor_paced_out(
            self.learner, self.steps_since_weights, self.cfg.actors, self.cfg.lead_episodes,
            self.suite.episode_steps, self.acting.pacing,
        )  # fmt: skip

    def publish_status(self, outcome: int, latency_us) -> None:
        """One DiagnosticStatus per episode: what a monitor (or a test) needs to see."""
        live = self.live
        values = {"episode": live.episode, "task": live.task_name, "return": live.episode_return}
        values |= {"outcome": outcome, "weights_version": self.weights_version}
        values |= {"latency_p50_us": round(float(latency_us[0]), 1)}
        values |= {"latency_p99_us": round(float(latency_us[1]), 1)}
        name = f"{self.get_fully_qualified_name()}: episodes"
        msg = status_message(name, self.cfg.mode, self.source, values)
        msg.header.stamp = to_stamp(max(self.received_stamp, 0))
        self.diag_pub.publish(msg)

    def close(self) -> None:
        """Let the last records reach the recorder: reliable delivery needs a live writer."""
        self.record_pub.wait_for_all_acked(Duration(seconds=2.0))

    # -- resets and stalls -----------------------------------------------------------------

    def request_reset(self) -> None:
        """Ask for a new episode; `watch` retries until the latest call is answered."""
        self.in_episode = False
        self.observer.reset()  # the next state starts an episode
        self.reset_since = time.monotonic()
        self.task_pub.publish(String(data=self.live.next_task))  # before the reset: TASK
        if not self.connected():
            self.reset = "waiting_service"
            return
        self.reset = "in_flight"
        self.stamp_at_reset = self.received_stamp
        self.reset_call = self.reset_client.call_async(Trigger.Request())
        self.reset_call.add_done_callback(self.on_reset)

    def connected(self) -> bool:
        """Whether the reset service, the command path (this node -> gate -> robot, and the gate's
        answers) and, to explore, a recorder (and, paced, the learner's first weights) are there:
        a command sent before would be lost (and a lockstep robot would wait for it forever)."""
        command_path = (
            self.reset_client.service_is_ready()
            and self.command_pub.get_subscription_count() > 0
            and self.count_subscribers(topics.COMMANDS) > 0
            and self.count_publishers(self.executed_topic) > 0
        )
        # Exploring is for the replay store: wait for the recorder rather than lose episodes.
        recorded = self.deterministic or self.record_pub.get_subscription_count() > 0
        # A paced explorer starts from the learner's weights (all actors from the same ones).
        paced = not self.deterministic and self.cfg.actors > 0
        return command_path and recorded and (self.learner is not None or not paced)

    def on_reset(self, future) -> None:
        if future is not self.reset_call:  # a retry replaced it
            return
        result = future.result()
        if result is None or not result.success:
            message = getattr(result, "message", "no reply")
            self.get_logger().error(f"reset failed: {message}")
            self.reset = "waiting_service"  # retried by watch, unless it will never work:
            self.exit_code = 1 if message.startswith(UNKNOWN_TASK) else None
            return
        task = reset_reply_task(result.message)
        if task is not None and task != self.live.next_task:
            # The reset overtook the task message (topic_names.TASK): not this episode's start.
            self.get_logger().info(
                f"the robot reset for task {task!r}, not {self.live.next_task!r}; asking again",
                throttle_duration_sec=5.0,
            )
            self.reset = "waiting_service"  # retried by watch, once the task is there
            return
        # Act first on the state the reset produced, not on an older one still arriving (the
        # reply and the state travel separately). A driver that names no stamp: anything newer.
        named = reset_reply_stamp(result.message)
        if named is not None and named <= self.stamp_at_reset:
            # The robot's clock went back: a restarted bridge or driver counts from 0 again.
            self.get_logger().warning(
                f"the reset names stamp {named} ns, older than {self.stamp_at_reset} ns seen "
                "before it: the robot restarted; following its new clock"
            )
            self.sync.new_timeline(named)
        after = named - 1 if named is not None else self.received_stamp
        self.reset = None
        self.last_progress = time.monotonic()
        self.on_synced(self.sync.reset(after))  # the new episode's first state may be here

    def watch(self) -> None:
        """Twice a second: retry resets, report a missing bridge, abandon stalled episodes."""
        now = time.monotonic()
        waited = now - self.reset_since
        if self.reset == "paced":
            self.resume_if_paced()
        elif self.reset == "draining" and waited > self.cfg.stall_timeout:
            self.get_logger().warning(
                f"no answer on {self.executed_topic} for {self.live.waiting} step(s) of episode "
                f"{self.live.episode} after {self.cfg.stall_timeout:.0f} s: is the safety gate "
                "up? Dropping the episode"
            )
            self.request_reset()
        elif self.reset == "waiting_service":
            if self.connected():
                self.request_reset()
            elif waited > self.cfg.reset_timeout:
                self.get_logger().error(
                    f"after {self.cfg.reset_timeout:.0f} s no reset service "
                    f"'{self.reset_client.srv_name}' or no subscriber on {topics.COMMANDS} / "
                    f"{topics.POLICY_COMMAND} / {topics.STEP_RECORDS}, no gate answers on "
                    f"{topics.EXECUTED} or no {topics.POLICY_WEIGHTS}: are the sim bridge (or "
                    "arm driver), the safety gate and, to explore, a replay recorder and a "
                    "learner running? (With actors:=0 it explores without a learner.)"
                )
                self.exit_code = 1
        elif self.reset == "in_flight" and waited > self.cfg.reset_timeout:
            self.get_logger().warning("reset got no reply; asking again")
            self.request_reset()
        elif self.reset is None and now - self.last_progress > self.cfg.stall_timeout:
            self.get_logger().warning(
                f"no new state for {self.cfg.stall_timeout:.0f} s in episode "
                f"{self.live.episode}: abandoning it and resetting"
            )
            self.request_reset()


def main(args=None) -> int:
    return spin(SkillPolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
