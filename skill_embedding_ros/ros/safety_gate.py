"""Safety gate node: policy_command -> limits, watchdog, e-stop (core/safety_gate.py) -> commands.

Publishes the gate state (diagnostic_msgs/DiagnosticStatus, latched) when its mode changes and
every second; the e-stop is a std_srvs/SetBool service (true latches, false releases). A command
has one velocity per joint, in the order of the joint_states message.
"""

from __future__ import annotations

import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension
from std_srvs.srv import SetBool

from skill_embedding_ros.core.config import GateConfig
from skill_embedding_ros.core.safety_gate import Gate, Mode
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.params import declare
from skill_embedding_ros.ros.run import spin

LEVELS = {
    Mode.OK: DiagnosticStatus.OK,
    Mode.STALE: DiagnosticStatus.WARN,
    Mode.REFUSED: DiagnosticStatus.WARN,
    Mode.ESTOP: DiagnosticStatus.ERROR,
}


class SafetyGate(Node):
    def __init__(self):
        super().__init__("safety_gate")
        config = declare(self, GateConfig)
        # The watchdog runs on a steady clock, not the node clock: in lockstep simulation the
        # sim time only advances when a command arrives, so a silent policy would stop sim time
        # too and a watchdog on it would never fire.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.gate = Gate(config, self._now())
        self._reported = self.gate.state()

        self._commands = self.create_publisher(Float64MultiArray, topics.COMMANDS, topics.RELIABLE)
        self._state = self.create_publisher(DiagnosticStatus, topics.GATE_STATE, topics.LATCHED)
        self.create_subscription(
            Float64MultiArray, topics.POLICY_COMMAND, self._on_policy_command, topics.RELIABLE
        )
        self.create_subscription(
            JointState, topics.JOINT_STATES, self._on_joint_state, topics.RELIABLE
        )
        self.create_service(SetBool, topics.ESTOP, self._on_estop)
        self.create_timer(self.gate.tick_period, self._on_tick, clock=self._steady)
        self.create_timer(1.0, self._publish_state, clock=self._steady)
        self._publish_state()

    def _now(self) -> float:
        return self._steady.now().nanoseconds * 1e-9

    def _on_joint_state(self, msg: JointState) -> None:
        self.gate.set_positions(msg.position)

    def _on_policy_command(self, msg: Float64MultiArray) -> None:
        self._send(self.gate.command(msg.data, self._now()))

    def _on_tick(self) -> None:
        self._send(self.gate.tick(self._now()), own=True)

    def _on_estop(self, request: SetBool.Request, response: SetBool.Response):
        if request.data:
            was_latched = self.gate.state().estop
            self._send(self.gate.latch_estop(), own=True)
            response.message = "e-stop was already latched" if was_latched else "e-stop latched"
        else:
            released = self.gate.release_estop()
            self._report_mode()
            response.message = "e-stop released" if released else "e-stop was not latched"
        response.success = True
        return response

    def _send(self, command: np.ndarray | None, own: bool = False) -> None:
        """Publish what the gate decided. A stop sent on the gate's own initiative (watchdog,
        e-stop), rather than in answer to a policy command, is labelled SAFETY_STOP so a
        lockstep bridge does not step on it (see topics.SAFETY_STOP)."""
        if command is not None:
            msg = Float64MultiArray(data=command.tolist())
            if own:
                msg.layout.dim = [MultiArrayDimension(label=topics.SAFETY_STOP, size=command.size)]
            self._commands.publish(msg)
        self._report_mode()

    def _report_mode(self) -> None:
        """Log and publish the state once per change of mode, never per message."""
        if self.gate.mode == self._reported.mode:  # every command passes here: stay cheap
            return
        state, before = self.gate.state(), self._reported
        self._reported = state
        if before.estop and not state.estop:
            detail = f": {state.reason}" if state.reason else ""
            self.get_logger().warning(f"e-stop released; now {state.mode.value}{detail}")
        elif state.mode == Mode.OK:
            # Debug after a stale spell: a policy pauses between episodes, every episode.
            log = self.get_logger().debug if before.mode == Mode.STALE else self.get_logger().info
            log(f"forwarding policy commands again (was {before.mode.value})")
        elif state.mode == Mode.STALE:
            self.get_logger().info(f"{state.reason}: commanding a stop")
        else:
            self.get_logger().warning(f"{state.reason}: commanding a stop")
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
        }
        self._state.publish(
            DiagnosticStatus(
                level=LEVELS[state.mode],
                name=self.get_fully_qualified_name(),
                message=state.reason or "forwarding policy commands",
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
