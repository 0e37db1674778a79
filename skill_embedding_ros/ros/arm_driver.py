"""Arm driver: a lifecycle node that puts a vendor's ros2_control arm behind the graph's robot
topics, the same ones a sim bridge serves (docs/ros_graph.md).

Graph side (in the node's namespace, model joint names): subscribes `commands` (std_msgs/
Float64MultiArray, one velocity per joint in the robot config's `joints` order; a gate's
SAFETY_STOP is zeros and is applied as such); publishes `joint_states` (the vendor's, renamed,
vendor stamp kept) and `robot_description` (latched: the vendor's URDF with model names, so the
gate takes the hardware's own limits); serves the Trigger named by `reset_service` (homing).
Vendor side (absolute names, robots/ros2_control.py): /joint_states, /robot_description, the
velocity controller's ~/commands and the trajectory controller's ~/joint_trajectory.

Lifecycle: configure loads the robot config and checks the vendor stack against it (robots/
arm_link.py); activate needs a known state; anything but active, and every hold rule, sends zero
velocity at `check_rate` until commands are valid again. The decisions live in robots/arm_link.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.task import Future
from rclpy.wait_for_message import wait_for_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from skill_embedding_ros.control.joint_states import passes
from skill_embedding_ros.robots import arm_description
from skill_embedding_ros.robots import arm_link as link
from skill_embedding_ros.robots.ros2_control import (
    JOINT_STATES,
    ROBOT_DESCRIPTION,
    commands_topic,
    load_robot,
    trajectory_topic,
)
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import reset_reply, stamp_ns, trajectory_message
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.settings.arm_driver import ArmDriverConfig
from skill_embedding_ros.tasks.registry import get_suite

OK, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class Homing:
    """A homing in progress (times: ArmDriver.now()): homed only once the plan has run out
    (`ends`: the trajectory controller has let go); the reply waits on `done` (ok, message)."""

    def __init__(self, plan: link.Plan, start: float, margin: float):
        self.plan, self.done, self.ends = plan, Future(), start + plan.duration
        self.deadline = self.ends + margin


class ArmDriver(LifecycleNode):
    def __init__(self):
        super().__init__("arm_driver")
        self.cfg: ArmDriverConfig = declare(self, ArmDriverConfig)
        if self.get_namespace() == "/":
            # Relative graph names would then be the vendor's own /joint_states and
            # /robot_description: the driver would feed on what it publishes.
            raise SystemExit(
                "error: the arm driver must run in an actor namespace (e.g. -r __ns:=/actor_0): "
                "in / its joint_states and robot_description are the vendor's own topics"
            )
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.robot = None  # RobotConfig once configured
        self.map: link.JointMap | None = None
        self.limits: dict = {}  # vendor name -> JointLimit, from the vendor's description
        self.entities: list = []  # what configure made and cleanup destroys
        self.velocity_pub = self.trajectory_pub = self.state_pub = None
        self.active = False
        self.homing: Homing | None = None
        self.hold_log = link.HoldLog()
        self.state_every_ns, self.passed_ns = round(1e9 / self.cfg.state_rate), None  # passes()
        self.failure = ""  # why the latest transition failed
        self._clear_readings()
        # Its own group: the reply awaits the homing while joint_states and checks go on (a
        # coroutine holds its callback group until it ends, even in a single thread).
        group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, self.cfg.reset_service, self.on_reset, callback_group=group)
        self.estop = False  # the safety gate's e-stop is latched: no homing
        self.create_timer(1.0 / self.cfg.check_rate, self.on_check, clock=self._steady)
        if self.cfg.autostart:
            for name in ("configure", "activate"):
                if getattr(self, f"trigger_{name}")() != OK:
                    raise SystemExit(f"error: {name} failed: {self.failure}")

    def now(self) -> float:  # s, steady: when readings and commands arrive
        return self._steady.now().nanoseconds * 1e-9

    def _clear_readings(self) -> None:
        self.positions: dict[str, float] = {}  # by vendor name, as are the two below
        self.velocities, self.received = {}, {}  # received: now() of each joint's latest
        self.command_at: float | None = None
        self.command_error: str | None = None

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (link.LinkError, ValueError) as err:
            return self._failed("configure", str(err))
        except Exception as err:  # rclpy would swallow it silently
            self.failure = f"{err!r} (a bug: please report it)"
            self.get_logger().error(f"configure: {self.failure}")
            raise
        names = ", ".join(f"{m}={v}" for m, v in self.map.to_vendor().items())
        self.get_logger().info(
            f"configured for robot {self.cfg.robot!r} (suite {self.robot.suite}): {names}; "
            f"velocity to {commands_topic(self.robot.velocity.name)}, homing through "
            f"{trajectory_topic(self.robot.trajectory.name)}"
        )
        return OK

    def _configure(self) -> None:
        robot = load_robot(self.cfg.robot)
        suite_joints = get_suite(robot.suite).joints
        deadline = self.now() + self.cfg.configure_timeout
        fix = "start the vendor's robot_state_publisher"
        description = self._wait(String, ROBOT_DESCRIPTION, topics.LATCHED, deadline, fix)
        limits = arm_description.described_limits(description.data)
        fix = "start the joint_state_broadcaster"
        first = self._wait(JointState, JOINT_STATES, topics.RELIABLE, deadline, fix)
        with_velocity = first.name if len(first.velocity) == len(first.name) else []
        where = f"robot config {self.cfg.robot!r}"
        link.check_joints(robot, limits, first.name, with_velocity, suite_joints, where)
        link.check_home(robot, limits)
        graph_urdf = arm_description.graph_description(description.data, robot)
        self._wait_for_controllers(robot, deadline)

        self.robot, self.map, self.limits = robot, link.JointMap.of(robot), limits
        self._clear_readings()
        pub, sub = self.create_publisher, self.create_subscription
        reliable = topics.RELIABLE
        self.entities = [
            pub(Float64MultiArray, commands_topic(robot.velocity.name), reliable),
            pub(JointTrajectory, trajectory_topic(robot.trajectory.name), reliable),
            pub(JointState, topics.JOINT_STATES, reliable),
            pub(String, topics.ROBOT_DESCRIPTION, topics.LATCHED),
            sub(JointState, JOINT_STATES, self.on_joint_states, reliable),
            sub(Float64MultiArray, topics.COMMANDS, self.on_command, reliable),
            sub(DiagnosticStatus, topics.GATE_STATE, self.on_gate_state, topics.LATCHED),
        ]
        self.velocity_pub, self.trajectory_pub, self.state_pub, described = self.entities[:4]
        described.publish(String(data=graph_urdf))
        self._take(first, self.now())

    def _wait(self, msg_type, topic: str, qos, deadline: float, fix: str):
        left = deadline - self.now()
        ok, msg = wait_for_message(
            msg_type, self, topic, qos_profile=qos, time_to_wait=max(left, 0.0)
        )
        if not ok:
            raise link.LinkError(
                f"no {topic} from the vendor stack within configure_timeout "
                f"({self.cfg.configure_timeout} s): {fix}"
            )
        return msg

    def _wait_for_controllers(self, robot, deadline: float) -> None:
        """Each controller's topic needs a subscriber: the controller loaded and active (DDS
        discovery may take a moment, so it has until the deadline)."""
        wanted = {
            "velocity": (robot.velocity.name, commands_topic(robot.velocity.name)),
            "trajectory": (robot.trajectory.name, trajectory_topic(robot.trajectory.name)),
        }
        missing = [k for k, (_, t) in wanted.items() if self.count_subscribers(t) == 0]
        while missing and self.now() <= deadline:
            self._steady.sleep_for(Duration(seconds=0.05))
            missing = [k for k in missing if self.count_subscribers(wanted[k][1]) == 0]
        if missing:  # how to switch controllers: in the message (controller_manager_msgs: ROS)
            switch = importlib.util.find_spec("controller_manager_msgs") is not None
            why = "; ".join(link.controller_missing(k, *wanted[k], switch) for k in missing)
            raise link.LinkError(why)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        problem = self._unknown_state(self.now())
        if problem:  # maybe only old readings: with autostart nothing has spun since configure
            with contextlib.suppress(link.LinkError):
                fresh = self._wait(JointState, JOINT_STATES, topics.RELIABLE, self.now() + 1.0, "")
                self._take(fresh, self.now())
                problem = self._unknown_state(self.now())
        if problem:
            return self._failed("activate", problem)
        self.command_at = self.command_error = None
        self.active = True
        self.get_logger().info(
            f"active: forwarding {topics.COMMANDS} to {commands_topic(self.robot.velocity.name)}"
        )
        self.on_check()
        return OK

    def _late(self) -> list[str]:  # joints not home yet
        return link.not_homed(self.robot, self.positions, self.velocities, self.cfg.homed_speed)

    def _unknown_state(self, now: float) -> str | None:
        return link.known_state_problem(
            self.robot, self.positions, self.received, now, self.cfg.state_timeout, self.limits
        )

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop("deactivated")
        return OK

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._down("cleaned up")

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._down("shut down")

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._down("handling an error")  # unconfigured: configure once the cause is fixed

    def _down(self, why: str) -> TransitionCallbackReturn:
        self._stop(why)
        self._teardown()
        return OK

    def _failed(self, name: str, why: str) -> TransitionCallbackReturn:
        self.failure = why
        self.get_logger().error(f"{name} refused: {why}")
        return FAILURE

    def _stop(self, why: str) -> None:
        """Leave active: hold now, abandon a homing."""
        self.active = False
        if self.homing is not None:
            self._end_homing(False, f"homing abandoned: the driver was {why}", cancel=True)
        self.on_check()

    def _teardown(self) -> None:
        for entity in self.entities:
            if isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            else:
                self.destroy_subscription(entity)
        self.entities.clear()
        self.velocity_pub = self.trajectory_pub = self.state_pub = None
        self.robot, self.map = None, None
        self.hold_log = link.HoldLog()

    def close(self) -> None:
        """At exit (run.spin): the arm holds, and the last zeros reach the controller."""
        if self.velocity_pub is not None:
            self._stop("stopped")
            self.velocity_pub.wait_for_all_acked(Duration(seconds=0.5))

    def on_joint_states(self, msg: JointState) -> None:
        now = self.now()
        if not self._take(msg, now):
            return
        stamp = stamp_ns(msg.header.stamp)
        homed = self.homing is not None and now >= self.homing.ends and not self._late()
        # The state a reset names always passes: the policy starts its episode from it.
        if self.active and (homed or passes(stamp, self.passed_ns, self.state_every_ns)):
            self.passed_ns = stamp
            out = JointState()
            out.header = msg.header  # the vendor's stamp: when the arm was there
            out.name, out.position, out.velocity, out.effort = self.map.model_state(
                msg.name, msg.position, msg.velocity, msg.effort
            )
            self.state_pub.publish(out)
        if homed:
            self._end_homing(True, reset_reply(msg.header.stamp))

    def _take(self, msg: JointState, now: float) -> bool:
        """Keep the configured joints' readings by vendor name; False for a malformed message."""
        n = len(msg.name)
        if len(msg.position) != n or len(msg.velocity) != n:
            self.get_logger().error(
                f"ignoring {JOINT_STATES}: {n} names, {len(msg.position)} positions, "
                f"{len(msg.velocity)} velocities (need one of each per name)",
                throttle_duration_sec=2.0,
            )
            return False
        wanted = self.robot.joints.values() if self.robot else ()
        for name, q, dq in zip(msg.name, msg.position, msg.velocity, strict=True):
            if name in wanted:
                self.positions[name], self.velocities[name], self.received[name] = q, dq, now
        return True

    def _zeros(self) -> None:
        if self.velocity_pub is not None:
            self.velocity_pub.publish(Float64MultiArray(data=[0.0] * len(self.map.velocity)))

    def on_command(self, msg: Float64MultiArray) -> None:
        if not self.active:
            return
        self.command_error = link.check_command(values := list(msg.data), self.map.model)
        if self.command_error is None:
            self.command_at = self.now()
        if self._hold(self.now()) is None:
            self.velocity_pub.publish(Float64MultiArray(data=self.map.velocity_command(values)))

    def _state_at(self) -> float | None:
        """When the oldest of the joints' latest readings arrived (None: one has none yet)."""
        received = [self.received.get(v) for v in self.map.vendor]
        return None if None in received else min(received)

    def _hold(self, now: float) -> link.Hold | None:
        hold = link.hold_reason(
            now,
            active=self.active,
            homing=self.homing is not None,
            state_at=self._state_at(),
            command_at=self.command_at,
            command_error=self.command_error,
            state_timeout=self.cfg.state_timeout,
            command_timeout=self.cfg.command_timeout,
        )
        line = self.hold_log.change(hold)
        if line:
            # one call site per severity: rclpy refuses to change it at a call site
            if hold is not None and hold.rule in (link.STALE, link.BAD_COMMAND):
                self.get_logger().warning(line)
            else:
                self.get_logger().info(line)
        return hold

    def on_check(self) -> None:
        if self.map is None:
            return
        now = self.now()
        hold = self._hold(now)
        if hold is not None and hold.rule != link.HOMING:
            # While homing, the trajectory controller has the arm: zeros on the velocity
            # controller would fight it wherever both are active (the emulator, some drivers).
            self._zeros()
        # A stale state ends a homing at once; a slow one ends at its deadline.
        if self.homing is not None and (hold.rule == link.STALE or now > self.homing.deadline):
            seconds = self.homing.plan.duration + self.cfg.homing_timeout
            why = link.homing_late(self.robot, self._late(), seconds)
            why = hold.text if hold.rule == link.STALE else why
            self._end_homing(False, f"homing abandoned: {why}", cancel=True)

    async def on_reset(self, request: Trigger.Request, response: Trigger.Response):
        """Hold, send the homing trajectory, reply once every joint is home and at rest, with
        the stamp of that joint state (reset_reply; a hardware driver names no task)."""
        now = self.now()
        if not self.active:
            problem = "the arm driver is not active: configure and activate it (~/change_state)"
        elif self.homing is not None:
            problem = "already homing"
        elif self.estop:
            problem = "the safety gate's e-stop is latched: release it first"
        else:
            problem = self._unknown_state(now)
        if problem:
            self.get_logger().error(f"reset refused: {problem}")
            response.success, response.message = False, f"refused: {problem}"
            return response
        plan = link.plan_homing(self.robot, self.positions, self.cfg.homing_ramp)
        self._zeros()
        homing = self.homing = Homing(plan, now, self.cfg.homing_timeout)
        self.trajectory_pub.publish(trajectory_message(plan))
        self.get_logger().info(
            f"homing over {plan.duration:.2f} s in {len(plan.times)} points, at most "
            f"{self.robot.homing_speed} rad/s"
        )
        self.on_check()
        response.success, response.message = await homing.done
        return response

    def on_gate_state(self, msg: DiagnosticStatus) -> None:  # homing goes past the gate
        self.estop = any(kv.key == "estop" and kv.value == "true" for kv in msg.values)
        if self.estop and self.homing is not None:
            self._end_homing(False, "homing abandoned: the safety gate's e-stop latched", True)

    def _end_homing(self, ok: bool, message: str, cancel: bool = False) -> None:
        homing, self.homing = self.homing, None
        if cancel and self.trajectory_pub is not None:
            # Hold where the arm is: one point there, now (an empty trajectory is refused by
            # recent joint_trajectory_controllers).
            hold = link.hold_plan(homing.plan.joints, self.positions)
            self.trajectory_pub.publish(trajectory_message(hold))
        # A new episode starts from here: earlier commands are not the policy's now.
        self.command_at = self.command_error = None
        if ok:
            self.get_logger().info(f"homed: {message}")
        else:
            self.get_logger().error(message)
        homing.done.set_result((ok, message))


def main(args=None) -> int:
    return spin(ArmDriver, args)


if __name__ == "__main__":
    sys.exit(main())
