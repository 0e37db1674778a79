"""Skill policy node: one actor's episodes through the robot's topics.

Per control step: joint_states (+ object poses with the same stamp) -> observation (the suite's
`build_observation`) -> reward of the previous step (the suite's pure reward function) and its
per-step record -> a ~ pi(.|s, z) on `policy_command`. z is drawn from p(z|t) at the episode start
(and every `z_hold` steps when set). Episodes end after the suite's length; the node then resets
through the safety gate's `reset` and swaps in the newest accepted `/policy_weights`.

In lockstep the bridge answers each command with the next state, so the node acts once per new
stamp and never on a stale one; time comes from the state stamps, not from this node's clock.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, UInt8MultiArray
from std_srvs.srv import Trigger

from skill_embedding_ros.agent.actor import act, draw_z
from skill_embedding_ros.agent.checkpoint import split_actor_state
from skill_embedding_ros.agent.run_networks import build_networks, load_networks
from skill_embedding_ros.agent.weights_acceptance import WeightsInbox
from skill_embedding_ros.data import step_record as sr
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import (
    pose_tuple,
    record_message,
    reset_reply_stamp,
    stamp_ns,
    to_stamp,
    weights_signature,
)
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.nodes import PolicyNodeConfig
from skill_embedding_ros.settings.run import load_run_config
from skill_embedding_ros.tasks.registry import get_suite

LOG_EVERY = 100  # explore mode: episodes per log line (each one is on /diagnostics)


class SkillPolicyNode(Node):
    def __init__(self):
        super().__init__("skill_policy")
        self.cfg = declare(self, PolicyNodeConfig)
        if self.cfg.mode not in ("explore", "evaluate"):
            raise SystemExit(f"error: mode must be explore or evaluate, got {self.cfg.mode!r}")
        torch.manual_seed(self.cfg.seed)  # initial weights too: a seed fixes the trajectory
        torch.set_num_threads(1)
        try:
            meta = {}
            if self.cfg.checkpoint:
                nets, run_cfg, meta = load_networks(self.cfg.checkpoint)
            else:
                run_cfg = load_run_config(self.cfg.config)
                nets = build_networks(run_cfg)
            self.weights = WeightsInbox(nets.actor_state(), self.cfg.weights_key)
        except (ValueError, FileNotFoundError) as err:
            raise SystemExit(f"error: {err}") from None
        self.run_cfg, self.nets = run_cfg, nets
        self.suite = get_suite(run_cfg.train.suite)
        self.observer = self.suite.observer()
        self.episode_obs: list[np.ndarray] = []
        self.tasks = list(run_cfg.train.tasks)
        self.z_hold = run_cfg.train.z_hold
        self.deterministic = self.cfg.mode == "evaluate"
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        self.source = self.get_namespace().strip("/") or self.get_name()
        self.weights_version = int(meta.get("weights_version", meta.get("updates", -1)))
        self.learner: dict[str, int] | None = None  # the newest /policy_weights counts
        self.steps_since_weights = 0  # own steps since that message, for pacing

        self.joint_state: JointState | None = None
        self.poses: dict[str, PoseStamped] = {}
        self.last_stamp = -1  # ns of the newest state acted on
        self.received_stamp = -1  # ns of the newest joint state received
        self.min_stamp = 0  # ns: the first state of the current episode (from the reset reply)
        self.episode = -1
        self.step = 0
        self.task = 0
        self.prev: dict | None = None  # what record k needs once s_{k+1} arrives
        # None (in an episode), "waiting_service", "in_flight", or "paced" (learner behind)
        self.reset: str | None = None
        self.reset_since = 0.0
        self.last_progress = time.monotonic()
        self.episode_return = 0.0
        self.latencies_us: list[float] = []

        self.command_pub = self.create_publisher(
            Float64MultiArray, topics.POLICY_COMMAND, topics.RELIABLE
        )
        self.record_pub = self.create_publisher(
            Float64MultiArray, topics.STEP_RECORDS, topics.RECORDS
        )
        self.create_subscription(JointState, topics.JOINT_STATES, self.on_joints, topics.RELIABLE)
        for name in self.suite.objects:
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
        self.reset_client = self.create_client(Trigger, topics.RESET)
        self.create_timer(0.5, self.watch)
        self.get_logger().info(
            f"{self.cfg.mode} {self.suite.name} tasks {self.tasks} as '{self.source}'"
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
        self.poses[name] = msg
        self.try_step()

    def on_joints(self, msg: JointState) -> None:
        self.joint_state = msg
        self.received_stamp = max(self.received_stamp, stamp_ns(msg.header.stamp))
        self.try_step()

    def try_step(self) -> None:
        """Act once per new state: joint_states and every object pose at one stamp."""
        js = self.joint_state
        if js is None or self.reset is not None:
            return
        stamp = stamp_ns(js.header.stamp)
        if stamp <= self.last_stamp or stamp < self.min_stamp:
            return
        if any(
            name not in self.poses or stamp_ns(self.poses[name].header.stamp) != stamp
            for name in self.suite.objects
        ):
            return  # the poses of this stamp are still on their way
        received = time.perf_counter()
        try:
            obs = self.observer(
                dict(zip(js.name, js.position, strict=False)),
                dict(zip(js.name, js.velocity, strict=False)),
                {n: pose_tuple(p.pose) for n, p in self.poses.items()},
                stamp,
            )
        except ValueError as err:
            # A wrong joint name or a NaN reading: do not act on it; abandon the episode.
            self.get_logger().error(f"bad observation at {stamp} ns: {err}; resetting")
            self.last_stamp = stamp
            self.request_reset()
            return
        self.last_stamp = stamp
        self.last_progress = time.monotonic()
        self.advance(obs, stamp, received)

    # -- the episode -----------------------------------------------------------------------

    def advance(self, obs: np.ndarray, stamp: int, received: float) -> None:
        done = None  # record k-1, completed by s_k
        if self.prev is None:
            self.begin_episode()
        else:
            r = float(self.suite.reward(self.tasks[self.task], obs))
            self.episode_return += r
            done = self.step_record(**self.prev, reward=r)
        self.episode_obs.append(obs)
        flags = sr.EVALUATION if self.deterministic else 0
        if self.step == self.suite.episode_steps:
            self.publish(done)
            z_dim, action_dim = self.nets.latent.z_dim, self.suite.action_dim
            last = sr.closing_record(
                stamp, self.episode, self.step, self.task, obs, action_dim, z_dim
            )
            last.flags |= flags
            self.publish(last)
            self.end_episode(obs)
            return
        if self.step == 0 or (self.z_hold and self.step % self.z_hold == 0):
            z, log_b_z = draw_z(self.nets.embedding, np.array([self.task]), self.generator)
            self.z, self.log_b_z = z[0], float(log_b_z[0])
            flags |= sr.Z_DRAWN
        action, log_b_a = act(
            self.nets.policy, obs[None], self.z[None], self.deterministic, self.generator
        )
        self.command_pub.publish(Float64MultiArray(data=action[0].astype(float).tolist()))
        self.latencies_us.append((time.perf_counter() - received) * 1e6)
        # The record goes out after the command: it is not on the control path.
        if done is not None:
            self.publish(done)
        self.prev = dict(
            stamp=stamp, obs=obs, action=action[0], log_b_a=float(log_b_a[0]), flags=flags
        )
        self.step += 1

    def begin_episode(self) -> None:
        weights = self.weights.take()
        if weights is not None:
            emb, pol = split_actor_state(weights.tensors)
            self.nets.embedding.load_state_dict(emb)
            self.nets.policy.load_state_dict(pol)
            self.weights_version = weights.version
        self.episode += 1
        self.step = 0
        self.episode_return = 0.0
        self.episode_obs = []
        # Tasks in turn, so every task gets the same share of episodes from every actor.
        self.task = self.episode % len(self.tasks)

    def step_record(self, stamp, obs, action, log_b_a, flags, reward) -> sr.StepRecord:
        return sr.StepRecord(
            stamp_ns=stamp,
            episode=self.episode,
            step=self.step - 1,
            task=self.task,
            obs=obs,
            action=action,
            reward=reward,
            z=self.z,
            log_b_z=self.log_b_z,
            log_b_a=log_b_a,
            flags=flags,
        )

    def publish(self, record: sr.StepRecord) -> None:
        self.record_pub.publish(record_message(record))

    def end_episode(self, obs: np.ndarray) -> None:
        trajectory = np.stack(self.episode_obs)[None]
        outcome = int(self.suite.outcomes(self.tasks[self.task], trajectory)[0])
        lat = np.percentile(self.latencies_us, [50, 99]) if self.latencies_us else (0, 0)
        # Every evaluation episode is news; while exploring, one line in LOG_EVERY is enough.
        log = self.get_logger().info
        if not self.deterministic and self.episode % LOG_EVERY:
            log = self.get_logger().debug
        log(
            f"episode {self.episode} task {self.tasks[self.task]}: return "
            f"{self.episode_return:.0f}, outcome {outcome}, weights v{self.weights_version}, "
            f"obs->command p50 {lat[0]:.0f} us p99 {lat[1]:.0f} us"
        )
        self.publish_status(outcome, lat)
        self.latencies_us.clear()
        self.steps_since_weights += self.step
        if self.cfg.episodes and self.episode + 1 >= self.cfg.episodes:
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
        """Whether the learner is too far behind for this explorer to start another episode.

        The learner's backlog is the env steps it holds beyond what its replay ratio has used:
        env_steps - warmup - updates / ratio (from the last /policy_weights), plus what the
        actors made since (this one's steps times `actors`). Episodes may start while it is
        under `lead_episodes` episodes per actor. Counting what the learner *received* (not
        what actors sent) means lost episodes cannot stall the graph, and the learner
        re-broadcasts its counts every few seconds, so a paused explorer always hears when to
        go on.
        """
        if self.deterministic or self.cfg.actors <= 0 or self.learner is None:
            return False  # evaluating, unpaced, or no learner heard from
        t = self.run_cfg.train
        learned = self.learner["updates"] / t.updates_per_step
        backlog = self.learner.get("env_steps", 0) - t.warmup_steps - learned
        backlog += self.steps_since_weights * self.cfg.actors
        return backlog >= self.cfg.actors * self.cfg.lead_episodes * self.suite.episode_steps

    def publish_status(self, outcome: int, latency_us) -> None:
        """One DiagnosticStatus per episode: what a monitor (or a test) needs to see."""
        values = {
            "episode": self.episode,
            "task": self.tasks[self.task],
            "return": self.episode_return,
            "outcome": outcome,
            "weights_version": self.weights_version,
            "latency_p50_us": round(float(latency_us[0]), 1),
            "latency_p99_us": round(float(latency_us[1]), 1),
        }
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name()}: episodes",
            message=self.cfg.mode,
            hardware_id=self.source,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = to_stamp(self.last_stamp)
        self.diag_pub.publish(msg)

    def close(self) -> None:
        """Let the last records reach the recorder: reliable delivery needs a live writer."""
        self.record_pub.wait_for_all_acked(Duration(seconds=2.0))

    # -- resets and stalls -----------------------------------------------------------------

    def request_reset(self) -> None:
        """Ask the bridge for a new episode; `watch` retries until it answers."""
        self.prev = None
        self.observer.reset()  # the next state starts an episode
        self.reset_since = time.monotonic()
        if not self.connected():
            self.reset = "waiting_service"
            return
        self.reset = "in_flight"
        self.reset_client.call_async(Trigger.Request()).add_done_callback(self.on_reset)

    def connected(self) -> bool:
        """Whether the reset service and the command path (this node -> gate -> robot) are
        discovered, and, when exploring, a recorder (and the learner's first weights, when
        paced): a command sent before then would be lost (and a lockstep robot would wait for
        it forever)."""
        command_path = (
            self.reset_client.service_is_ready()
            and self.command_pub.get_subscription_count() > 0
            and self.count_subscribers(topics.COMMANDS) > 0
        )
        # Exploring is for the replay store: wait for the recorder rather than lose episodes.
        recorded = self.deterministic or self.record_pub.get_subscription_count() > 0
        # A paced explorer starts from the learner's weights (all actors from the same ones).
        paced = not self.deterministic and self.cfg.actors > 0
        return command_path and recorded and (self.learner is not None or not paced)

    def on_reset(self, future) -> None:
        result = future.result()
        if result is None or not result.success:
            self.get_logger().error(f"reset failed: {getattr(result, 'message', 'no reply')}")
            self.reset = "waiting_service"  # retried by watch
            return
        # Act first on the state the reset produced, not on an older one still arriving (the
        # reply and the state travel separately). A driver that names no stamp: anything newer.
        named = reset_reply_stamp(result.message)
        self.min_stamp = named if named is not None else self.received_stamp + 1
        self.reset = None
        self.last_progress = time.monotonic()
        self.try_step()  # the new episode's first state may already be here

    def watch(self) -> None:
        """Twice a second: retry resets, report a missing bridge, abandon stalled episodes."""
        now = time.monotonic()
        waited = now - self.reset_since
        if self.reset == "paced":
            self.resume_if_paced()
        elif self.reset == "waiting_service":
            if self.connected():
                self.request_reset()
            elif waited > self.cfg.reset_timeout:
                self.get_logger().error(
                    f"after {self.cfg.reset_timeout:.0f} s no reset service "
                    f"'{self.reset_client.srv_name}' or no subscriber on {topics.COMMANDS} / "
                    f"{topics.POLICY_COMMAND} / {topics.STEP_RECORDS} or no "
                    f"{topics.POLICY_WEIGHTS}: are the sim bridge (or arm driver), the safety "
                    "gate and, to explore, a replay recorder and a learner running? (With "
                    "actors:=0 it explores without a learner.)"
                )
                self.exit_code = 1
        elif self.reset == "in_flight" and waited > self.cfg.reset_timeout:
            self.get_logger().warning("reset got no reply; asking again")
            self.request_reset()
        elif self.reset is None and now - self.last_progress > self.cfg.stall_timeout:
            self.get_logger().warning(
                f"no new state for {self.cfg.stall_timeout:.0f} s in episode {self.episode}: "
                "abandoning it and resetting"
            )
            self.request_reset()


def main(args=None) -> int:
    return spin(SkillPolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
