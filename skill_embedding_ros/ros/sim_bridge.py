"""Sim bridge: one suite's MuJoCo scene behind the robot's topics (docs/ros_graph.md).

Subscribes `commands` (one value per commanded joint, in the scene's actuator units); publishes
`joint_states` (every robot joint, by name) and one
PoseStamped per object, all stamped with this bridge's simulated time (0 at start, never the wall
clock); serves `robot_reset` (the safety gate's `reset` calls it), for the latest task named on
`task` (topic_names.TASK); publishes its MJCF scene as `sim_description` (latched), the source of
the gate's joint limits, and as `robot_description` unless the suite has a URDF (then that, for
ROS tools: robot_state_publisher, RViz). lockstep: each command
advances exactly one control period. realtime: a wall-clock timer steps at the control rate
holding the latest command, making up the periods a late or skipped tick missed (robots/
wall_clock.py: simulated time keeps to the wall clock, as a robot's would), and may own /clock.
"""

from __future__ import annotations

import sys

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from skill_embedding_ros.robots.sim import SimRobot
from skill_embedding_ros.robots.wall_clock import WallClock
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import UNKNOWN_TASK, reset_reply, to_stamp
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.ros.steady_clock import steady_s
from skill_embedding_ros.settings.nodes import BridgeConfig
from skill_embedding_ros.tasks.registry import get_suite


def is_safety_stop(msg: Float64MultiArray) -> bool:
    return bool(msg.layout.dim) and msg.layout.dim[0].label == topics.SAFETY_STOP


WARN_EVERY = 2.0  # s between repeats of the same warning (a bad publisher may send at 10 Hz)


class SimBridge(Node):
    def __init__(self):
        super().__init__("sim_bridge")
        self.cfg: BridgeConfig = declare(self, BridgeConfig)
        try:
            suite = get_suite(self.cfg.suite)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        self.suite = suite
        self.robot = SimRobot(suite.make_scene())
        self.joints = self.robot.joints
        self.rng = np.random.default_rng(self.cfg.seed)
        self.command = np.zeros(len(self.joints))
        self.robot.scene.reset(self.rng)  # the start at stamp 0

        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, topics.RELIABLE)
        self.pose_pubs = {
            o: self.create_publisher(PoseStamped, topics.object_pose_topic(o), topics.RELIABLE)
            for o in self.robot.read().poses
        }
        self.create_subscription(
            Float64MultiArray, topics.COMMANDS, self.on_command, topics.RELIABLE
        )
        self.task: str | None = None  # the latest on `task`: what the next reset is for
        self.create_subscription(String, topics.TASK, self.on_task, topics.LATCHED)
        self.create_service(Trigger, topics.ROBOT_RESET, self.on_reset)
        # The scene's MJCF holds the gate's joint limits by name, inertia and servo lag included
        # (latched); a URDF, where the suite has one, is what ROS tools read.
        mjcf = self.robot.scene.description()
        urdf = suite.urdf()
        sim = self.create_publisher(String, topics.SIM_DESCRIPTION, topics.LATCHED)
        sim.publish(String(data=mjcf))
        robot = self.create_publisher(String, topics.ROBOT_DESCRIPTION, topics.LATCHED)
        robot.publish(String(data=urdf or mjcf))
        # Timers run on the steady clock: this node makes sim time, it must not wait on it.
        steady = self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.clock_pub = None
        if self.cfg.mode == "realtime":
            if self.cfg.publish_clock:
                self.clock_pub = self.create_publisher(ClockMsg, topics.CLOCK, topics.RELIABLE)
            self.wall_clock = WallClock(suite.control_period, self._now())
            self.reset_periods = 0  # periods resets moved time on that the ticks have not met
            self.create_timer(suite.control_period, self.on_tick, clock=steady)
            self.startup_timer = None
        else:
            # Nothing else would publish until someone acts, and a subscriber that joined after
            # the first publication would wait forever for a state to act on.
            self.startup_timer = self.create_timer(
                self.cfg.startup_repeat, self.publish_state, clock=steady
            )
        self.publish_state()
        self.get_logger().info(
            f"{self.cfg.mode} bridge for suite {suite.name!r}: {self.robot.actuator} commands "
            f"to {list(self.joints)}, "
            f"objects {list(suite.objects)}, {suite.control_period} s per control period; "
            f"{'URDF' if urdf else 'MJCF'} on {topics.ROBOT_DESCRIPTION}"
        )

    def publish_state(self) -> None:
        state = self.robot.read()
        stamp = to_stamp(state.stamp_ns)
        js = JointState()
        js.header.stamp = stamp
        js.name = list(state.positions)
        js.position = [state.positions[j] for j in js.name]
        js.velocity = [state.velocities[j] for j in js.name]
        self.joint_pub.publish(js)
        for o, (pos, quat) in state.poses.items():
            msg = PoseStamped()
            msg.header.stamp = stamp
            msg.header.frame_id = self.cfg.frame_id
            p, r = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z = (float(c) for c in pos)
            r.w, r.x, r.y, r.z = (float(c) for c in quat)
            self.pose_pubs[o].publish(msg)
        if self.clock_pub is not None:
            self.clock_pub.publish(ClockMsg(clock=stamp))

    def advance(self) -> None:
        """One control period with the held command, then the new state."""
        self.robot.send(self.command)
        self.publish_state()

    def stop_startup_repeat(self) -> None:
        if self.startup_timer is not None:
            self.startup_timer.cancel()
            self.destroy_timer(self.startup_timer)
            self.startup_timer = None

    def on_command(self, msg: Float64MultiArray) -> None:
        command = np.asarray(msg.data, dtype=np.float64)
        n = len(self.joints)
        if command.shape != (n,) or not np.isfinite(command).all():
            # The safety gate upstream should never send this; a zero command stops the robot
            # and (in lockstep) still advances time, so an actor waiting on the next state
            # does not stall.
            self.get_logger().warning(
                f"rejected command {command.tolist()}: need {n} finite values for "
                f"{list(self.joints)}; using zeros",
                throttle_duration_sec=WARN_EVERY,
            )
            command = np.zeros(n)
        self.command = command
        if self.cfg.mode == "lockstep" and not is_safety_stop(msg):
            self.stop_startup_repeat()
            self.advance()

    def _now(self) -> float:
        return steady_s()

    def on_tick(self) -> None:
        skipped = self.wall_clock.skipped
        for _ in range(self.wall_clock.due(self._now())):
            if self.reset_periods:  # a reset took this period: its state is the period's
                self.reset_periods -= 1
                if not self.reset_periods:
                    self.publish_state()
            else:
                self.advance()
        if self.wall_clock.skipped > skipped:
            self.get_logger().warning(
                f"this process stalled for {self.wall_clock.skipped - skipped:.1f} s: the "
                "simulated robot resumes from where it was, behind the wall clock by that much",
                throttle_duration_sec=WARN_EVERY,
            )

    def on_task(self, msg: String) -> None:
        self.task = msg.data

    def on_reset(self, request: Trigger.Request, response: Trigger.Response):
        if self.task is not None and self.task not in self.suite.tasks:
            response.success = False
            response.message = (
                f"{UNKNOWN_TASK} {self.task!r} on {topics.TASK} for suite "
                f"{self.suite.name!r}; valid tasks: {list(self.suite.tasks)}"
            )
            self.get_logger().error(response.message, throttle_duration_sec=WARN_EVERY)
            return response
        self.stop_startup_repeat()
        # time moves on: stamps never repeat within one bridge
        self.robot.reset(self.rng, self.task)
        self.command = np.zeros(len(self.joints))
        if self.cfg.mode == "realtime":
            # Its state, stamped a period on, goes out at that period's tick. Sent at once it
            # came up to a period early; the gate's latency window (control/latency.py) took it
            # for the fastest state, and every state after it looked late for the window's 10 s:
            # the gate stopped the robot for most of each episode.
            self.reset_periods += 1
        else:
            self.publish_state()
        response.success = True
        response.message = reset_reply(to_stamp(self.robot.stamp_ns), self.task or "")
        return response


def main(args=None) -> int:
    return spin(SimBridge, args)


if __name__ == "__main__":
    sys.exit(main())
