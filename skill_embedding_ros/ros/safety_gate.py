"""Safety gate node: policy_command -> limits, watchdog, e-stop -> commands (and `executed`).

The logic is ROS-free in control/safety_gate.py. A policy command is a JointState by joint name,
stamped with the state it answers; the gate sends the robot one value per joint in its `joints`
order (std_msgs/Float64MultiArray, a ros2_control forward controller's `~/commands`) and answers
the policy on `executed` with what it sent, under the command's stamp, so the step records what
the robot executed.

Publishes the gate state (diagnostic_msgs/DiagnosticStatus, latched) when its mode changes and
every second; the e-stop is a std_srvs/SetBool service (true latches, false releases). Episode
resets go through the gate (`reset`, passed on to the robot's `robot_reset`), so it knows when
the robot jumps and answers commands with stops until the new state is in. A latched
e-stop is kept in a file (control/estop_latch.py, `estop_file`), so a restarted gate starts
latched.
With `teleop` (a mapping, control/teleop_mapping.py) it reads /joy: deadman, takeover and an
e-stop button (control/teleop.py, control/teleop_gate.py); the gate state adds `teleop` (who
commands: policy, teleop or stop) and `interventions`.
Joint limits come from the robot description (a URDF or MJCF file, or the latched topics: a
simulator's `sim_description`, its MJCF with inertia and servo lag, when one comes; else
`robot_description`), by joint name; commands and joint_states are read by name (any
order, extra joints ignored; a command missing a joint is refused).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String
from std_srvs.srv import SetBool, Trigger

from skill_embedding_ros.control.estop_latch import EstopLatch, latch_path
from skill_embedding_ros.control.joint_limits import commanded_limits
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.control.teleop import Source, Teleop, load_mapping
from skill_embedding_ros.control.teleop_gate import TeleopGate
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import (
    command_message,
    command_values,
    reset_reply,
    reset_reply_stamp,
    stamp_ns,
)
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin
from skill_embedding_ros.ros.steady_clock import steady_s
from skill_embedding_ros.settings.nodes import GateConfig

LEVELS = {
    Mode.OK: DiagnosticStatus.OK,
    Mode.STALE: DiagnosticStatus.WARN,
    Mode.REFUSED: DiagnosticStatus.WARN,
    Mode.ESTOP: DiagnosticStatus.ERROR,
    Mode.RESETTING: DiagnosticStatus.OK,
    Mode.LATE: DiagnosticStatus.WARN,
}
DESCRIPTION_GRACE = 1.0
"""s a robot_description waits for a sim_description (published with it by a sim bridge)."""
EXPECTED = (Mode.OK, Mode.STALE, Mode.RESETTING)
"""Modes a policy passes through every episode: changes among them are logged at debug level."""


class SafetyGate(Node):
    def __init__(self):
        super().__init__("safety_gate")
        config = declare(self, GateConfig)
        # The watchdog runs on a steady clock, not the node clock: in lockstep simulation the
        # sim time only advances when a command arrives, so a silent policy would stop sim time
        # too and a watchdog on it would never fire.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.latch = EstopLatch(latch_path(config.estop_file, self.get_fully_qualified_name()))
        self.gate = Gate(config, self._now(), estop=self.latch.is_latched())
        self.control = TeleopGate(self.gate, self._teleop(config))
        self._reported = self.gate.state()
        self._reported_source = self.control.source(self._now())
        if self.gate.state().estop:
            self.get_logger().error(
                f"starting with the e-stop latched, as it was when the gate stopped "
                f"({self.latch.reason()}); only stops go out until it is released "
                f"(service {self.resolve_service_name(topics.ESTOP)}, data: false)"
            )

        self._commands = self.create_publisher(Float64MultiArray, topics.COMMANDS, topics.RELIABLE)
        self._executed = self.create_publisher(JointState, topics.EXECUTED, topics.RELIABLE)
        self._joints: list[str] = []  # the commanded joints, once the limits are known
        self._state = self.create_publisher(DiagnosticStatus, topics.GATE_STATE, topics.LATCHED)
        # Lockstep: one command in flight, so a queue only ever holds a flood, which would stand
        # before an e-stop or reset call on the EventsExecutor (in arrival order). Real time:
        # each command must be answered on `executed`, also when the gate runs late, so they
        # queue, and SingleThreadedExecutor takes services between them (docs/launching.md).
        lockstep = config.stepping == "lockstep"
        self.single_threaded_executor = not lockstep
        self.create_subscription(
            JointState,
            topics.POLICY_COMMAND,
            self._on_policy_command,
            topics.NEWEST_COMMAND if lockstep else topics.RELIABLE,
        )
        self.create_subscription(
            JointState, topics.JOINT_STATES, self._on_joint_state, topics.RELIABLE
        )
        if self.control.teleop is not None:
            self.create_subscription(Joy, topics.JOY, self._on_joy, topics.RELIABLE)
        self._config = config
        self._would_send = np.zeros(0)  # dry run: the latest decision the robot did not get
        self._last_state = Time()  # the newest joint state's stamp
        self._reset_waiters: list[Future] = []
        if config.robot_description:
            try:
                text = Path(config.robot_description).expanduser().read_text()
            except OSError as err:
                raise SystemExit(f"error: robot_description: {err}") from None
            self._set_limits(text, fatal=True, source=config.robot_description)
        else:
            self.create_subscription(
                String, topics.SIM_DESCRIPTION, self._on_sim_description, topics.LATCHED
            )
            self.create_subscription(
                String, topics.ROBOT_DESCRIPTION, self._on_robot_description, topics.LATCHED
            )
        self._from_sim = False  # limits from sim_description: robot_description is ignored
        self._robot_description: str | None = None  # waiting out DESCRIPTION_GRACE
        self._grace = None
        self.create_service(SetBool, topics.ESTOP, self._on_estop)
        # Reentrant: the reset handler awaits the robot's answer while the node keeps spinning.
        reentrant = ReentrantCallbackGroup()
        self._robot_reset = self.create_client(
            Trigger, topics.ROBOT_RESET, callback_group=reentrant
        )
        self.create_service(Trigger, topics.RESET, self._on_reset, callback_group=reentrant)
        self.create_timer(self.gate.tick_period, self._on_tick, clock=self._steady)
        # And a deadline, restarted by each policy command: a silent policy is stopped when its
        # last command turns stale, not at the next quarter-period tick after that.
        stale = config.stale_after + 1e-3
        self._deadline = self.create_timer(stale, self._on_tick, clock=self._steady)
        self.create_timer(1.0, self._publish_state, clock=self._steady)
        self._publish_state()

    @staticmethod
    def _teleop(config: GateConfig) -> Teleop | None:
        if not config.teleop:
            return None
        try:
            return Teleop(load_mapping(config.teleop), config.deadman)
        except ValueError as err:
            raise SystemExit(f"error: teleop: {err}") from None

    def _on_sim_description(self, msg: String) -> None:
        self._from_sim = True
        self._set_limits(msg.data, fatal=False, source=topics.SIM_DESCRIPTION)

    def _on_robot_description(self, msg: String) -> None:
        """A simulator publishes both descriptions at once, and robot_description may be a URDF
        (no inertia or servo lag: the torque interface refuses it, the reach account loses the
        lag): give sim_description DESCRIPTION_GRACE s to come first."""
        if self._from_sim:
            return
        self._robot_description = msg.data
        if self._grace is None:
            self._grace = self.create_timer(
                DESCRIPTION_GRACE, self._use_robot_description, clock=self._steady
            )

    def _use_robot_description(self) -> None:
        self._grace.cancel()
        self.destroy_timer(self._grace)
        self._grace = None
        if not self._from_sim and self._robot_description is not None:
            self._set_limits(self._robot_description, fatal=False, source=topics.ROBOT_DESCRIPTION)

    def _set_limits(self, description: str, fatal: bool, source: str) -> None:
        """Joint limits by name from a robot description; a bad one is fatal at start (a file)
        or refused with an error (a topic message: the gate keeps what it had)."""
        cfg = self._config
        try:
            joints, limits = commanded_limits(description, cfg.joints, cfg.limits)
            self.control.set_limits(joints, limits)  # torque: inertia, damping; teleop: joints
        except ValueError as err:
            if fatal:
                raise SystemExit(f"error: robot description: {err}") from None
            self.get_logger().error(f"ignoring the robot description on {source}: {err}")
            return
        self._joints = list(joints)
        self._wake_reset_waiters()
        torque = cfg.command_interface == "torque"
        described = ", ".join(
            f"{j} [{lim.lower:g}, {lim.upper:g}] |v| <= {lim.velocity:g}"
            + (f" |effort| <= {lim.effort:g} inertia {lim.inertia:g} damping {lim.damping:g}"
               if torque else "")
            for j, lim in zip(joints, limits, strict=True)
        )  # fmt: skip
        self.get_logger().info(
            f"{cfg.command_interface} commands, joint limits from {source}: {described}"
        )

    def _now(self) -> float:
        return steady_s()

    def _on_joint_state(self, msg: JointState) -> None:
        self._last_state = msg.header.stamp
        stamp = stamp_ns(msg.header.stamp)
        lost = self.gate.lost
        self.gate.joint_state(msg.name, msg.position, self._now(), msg.velocity, stamp)
        if self.gate.lost > lost:
            self.get_logger().warning(
                f"the robot kept publishing its state of {stamp} ns without showing "
                f"{self.gate.lost - lost} command(s) sent to it: taken as lost "
                "(was it restarted?)"
            )
        self._wake_reset_waiters()
        self._report_mode()

    async def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        """Pass a reset on to the robot once every command sent before it has acted and the
        joint limits are known, and hold commands until the robot's new state is in
        (control/safety_gate.py, begin_reset)."""
        if not self._robot_reset.service_is_ready():
            response.message = f"the robot's reset service {self._robot_reset.srv_name} is not up"
            return response
        if self.gate.state().estop:  # a reset moves the robot (an arm homes): not while latched
            response.message = "refused: the e-stop is latched; release it (service estop) first"
            return response
        if self._config.dry_run:  # nor in a dry run: the episode starts where the robot is
            response.success, response.message = True, reset_reply(self._last_state)
            return response
        self.gate.begin_reset(self._now())
        self._report_mode()
        ready = Future()
        self._reset_waiters.append(ready)
        self._wake_reset_waiters()
        await ready
        self.gate.reset_sent(self._now())
        reply = await self._robot_reset.call_async(Trigger.Request())
        ok = reply is not None and reply.success
        self.gate.reset_done(ok, reset_reply_stamp(reply.message) if ok else None)
        self._report_mode()
        return reply if reply is not None else response

    def _wake_reset_waiters(self) -> None:
        # Not before the joint limits: the episode's first command would be refused (a lockstep
        # robot would then wait for it). Nodes built at once in one process (compose:=true) ask
        # for the reset before the robot's description has reached the gate.
        if self._reset_waiters and self._joints and self.gate.ready_to_reset(self._now()):
            for waiter in self._reset_waiters:
                waiter.set_result(True)
            self._reset_waiters.clear()

    def _on_policy_command(self, msg: JointState) -> None:
        interface = self._config.command_interface
        values = command_values(msg, self._joints, interface)
        if np.isnan(values).any() and set(self._joints) - set(msg.name):
            missing = sorted(set(self._joints) - set(msg.name))
            self.get_logger().error(
                f"refusing a policy command without joint(s) {missing} (has {list(msg.name)})",
                throttle_duration_sec=2.0,
            )
        sent = self._send(self.control.command(values, self._now()))
        self._deadline.reset()
        if sent is not None:
            source = self.control.answered_by.value
            answer = command_message(msg.header.stamp, self._joints, sent, interface, source)
            self._executed.publish(answer)

    def _on_tick(self) -> None:
        self._send(*self.control.tick(self._now()))
        self._wake_reset_waiters()

    def _on_joy(self, msg: Joy) -> None:
        stop, estop = self.control.joy(msg.buttons, msg.axes, self._now())
        if estop:
            self._persist_estop("e-stop button on " + topics.JOY)
        self._send(stop, own=True)

    def _on_estop(self, request: SetBool.Request, response: SetBool.Response):
        if request.data:
            was_latched = self.gate.state().estop
            self._send(self.gate.latch_estop(self._now()), own=True)
            response.message = "e-stop was already latched" if was_latched else "e-stop latched"
            response.message += self._persist_estop("e-stop service")
        else:
            self.latch.release()
            released = self.gate.release_estop()
            self._report_mode()
            response.message = "e-stop released" if released else "e-stop was not latched"
        response.success = True
        return response

    def _persist_estop(self, why: str) -> str:
        """Write the latch (control/estop_latch.py); what went wrong, for the reply ("": none)."""
        try:
            self.latch.latch(why)
        except OSError as err:
            problem = f", but not persisted to {self.latch.path}: {err}"
            self.get_logger().error(f"e-stop latched ({why}){problem}")
            return problem
        return ""

    def _send(self, command: np.ndarray | None, own: bool = False) -> np.ndarray | None:
        """Publish what the gate decided; return what went out. A stop sent on the gate's own
        initiative (watchdog, e-stop), rather than in answer to a policy command, is labelled
        SAFETY_STOP so a lockstep bridge does not step on it (see topics.SAFETY_STOP). A dry
        run sends a stop in its place and keeps the decision to report."""
        if command is not None and self._config.dry_run:
            self._would_send, command = command, np.zeros_like(command)
            if np.any(self._would_send):
                self.get_logger().info(
                    f"dry run: would send {np.round(self._would_send, 4).tolist()}",
                    throttle_duration_sec=5.0,
                )
        if command is not None:
            msg = Float64MultiArray(data=command.tolist())
            if own:
                msg.layout.dim = [MultiArrayDimension(label=topics.SAFETY_STOP, size=command.size)]
            self._commands.publish(msg)
        self._report_mode()
        return command

    def _report_mode(self) -> None:
        """Log and publish the state once per change of mode or of who commands, never per
        message."""
        source = self.control.source(self._now())
        if source != self._reported_source:
            self._report_source(source)
        if self.gate.mode == self._reported.mode:  # every command passes here: stay cheap
            return
        state, before = self.gate.state(), self._reported
        self._reported = state
        if before.estop and not state.estop:
            detail = f": {state.reason}" if state.reason else ""
            self.get_logger().warning(f"e-stop released; now {state.mode.value}{detail}")
        elif state.mode in EXPECTED and before.mode in EXPECTED:
            # A policy pauses and resets between episodes, every episode: not news.
            self.get_logger().debug(f"{state.mode.value} (was {before.mode.value})")
        elif state.mode == Mode.OK:
            self.get_logger().info(f"forwarding policy commands again (was {before.mode.value})")
        else:
            self.get_logger().warning(f"{state.reason}: commanding a stop")
        self._publish_state()

    def _report_source(self, source: Source) -> None:
        before, self._reported_source = self._reported_source, source
        if source == Source.TELEOP:
            self.get_logger().info("the operator took over (intervene held)")
        elif source == Source.STOP:
            self.get_logger().warning(f"{self.control.reason(self._now())}: commanding a stop")
        else:
            self.get_logger().info(f"policy commands pass again (was {before.value})")
        self._publish_state()

    def _publish_state(self) -> None:
        state = self.gate.state()
        values = {
            "mode": state.mode.value,
            "estop": str(state.estop).lower(),
            "commands_forwarded": state.forwarded,
            "clipped": state.clipped,
            "refused": state.refused,
            "stops": state.stops,
            "dropped": state.dropped,
            "lost": state.lost,
        }
        if self._config.dry_run:
            values["would_send"] = np.round(self._would_send, 6).tolist()
        held = ""
        if self.control.teleop is not None:
            values["teleop"] = self.control.source(self._now()).value
            values["interventions"] = self.control.interventions
            held = self.control.reason(self._now())
        self._state.publish(
            DiagnosticStatus(
                level=LEVELS[state.mode],
                name=self.get_fully_qualified_name(),
                message=state.reason or held or "forwarding policy commands",
                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
            )
        )

    def close(self) -> None:
        """Ctrl-C: one last stop, so a driver holding the last command does not keep moving."""
        self._send(self.gate.tick(float("inf")), own=True)


def main(args=None):
    return spin(SafetyGate, args)


if __name__ == "__main__":
    sys.exit(main())
