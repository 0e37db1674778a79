"""The safety gate with an operator: the arbitration of control/teleop.py in front of `Gate`
(control/safety_gate.py), pure like both (time passed in, s on one steady clock).

Every command, the operator's too, goes through `Gate.command`: the same limits, account of
where the joints may be, watchdog, e-stop, timing and resets. What changes with the source:
* policy: the policy's command, as without teleop;
* teleop: in answer to a policy command, the operator's command instead (the gate answers the
  policy on `executed` with it, so the step is recorded as an intervention: agent/actor.py
  `settle`); and, while the robot runs on the wall clock (`stepping: realtime`), the operator's
  command at every watchdog tick as well, so an operator can move the arm while the policy is
  silent. A lockstep simulator steps once per command, so there the operator's commands go out
  only in answer to the policy's, one per step;
* stop: the policy's commands are answered with stops.
On a change into stop, or out of teleop (the operator let go: a held stick must not keep the arm
moving until the watchdog notices), one stop goes out at once, on the gate's own initiative.
The operator's command is each joint's velocity (share * velocity limit, control/teleop.py) as
the interface needs it (Gate.from_velocity): velocities as they are; position targets moved on
from the last at that speed; efforts damping * velocity, under which a damped joint settles at
that velocity (the torque interface's own model, control/torque.py).
Without a Teleop every call goes straight to the gate: the behaviour without teleop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.control.teleop import Source, Teleop


class TeleopGate:
    """`Gate` plus the operator. Methods return what to send the robot now (None: nothing)."""

    def __init__(self, gate: Gate, teleop: Teleop | None):
        self.gate, self.teleop = gate, teleop
        self.interventions = 0
        """Policy commands answered with the operator's command (steps the policy records as
        interventions)."""
        self._speeds = np.zeros(0)
        """Velocity limit of each joint an axis drives, 0 for the others (m/s or rad/s)."""
        self._source = Source.POLICY if teleop is None else teleop.source(-math.inf)
        self.answered_by = Source.POLICY
        """Whose command answered the last policy command: POLICY when the policy's own went
        out (limited to the joints' limits or not), TELEOP for the operator's, STOP for a stop.
        The policy records a limited step as its own, and only a takeover as an intervention,
        which agent.imitation clones (agent/actor.py)."""

    def set_limits(self, joints: Sequence[str], limits: Sequence[JointLimit]) -> None:
        """Gate.set_limits, after checking that the mapping drives only joints the robot has,
        each with a finite velocity limit (ValueError; the gate keeps what it had)."""
        axes = self.teleop.mapping.axes if self.teleop is not None else {}
        if self.teleop is not None:
            self.teleop.mapping.check_joints(joints)
            unbounded = [j for j, lim in zip(joints, limits, strict=True)
                         if j in axes and not math.isfinite(lim.velocity)]  # fmt: skip
            if unbounded:
                raise ValueError(
                    f"teleop axes drive joint(s) {unbounded}, which have no velocity limit to "
                    "scale the axes by; set `velocity` for them in `limits`"
                )
        self.gate.set_limits(joints, limits)
        self._speeds = np.array(
            [lim.velocity if j in axes else 0.0 for j, lim in zip(joints, limits, strict=True)]
        )

    def source(self, now: float) -> Source:
        """Who commands now (Source.POLICY without teleop)."""
        return self._source if self.teleop is None else self.teleop.source(now)

    def command(self, command: Sequence[float], now: float) -> np.ndarray | None:
        """A policy command arrives: returns what to send, which is also the gate's answer to the
        policy (`executed`)."""
        source, _ = self._update(now)
        if source == Source.TELEOP:
            operator = self._operator(now)
            if operator is not None:
                sent = self.gate.command(operator, now)
                self.interventions += sent is not None
                self.answered_by = Source.TELEOP
                return sent
        sent = self.gate.command(command, now, hold=source != Source.POLICY)
        # In mode OK after a policy command, the gate forwarded it (limited); else it stopped.
        forwarded = source == Source.POLICY and self.gate.mode == Mode.OK
        self.answered_by = Source.POLICY if forwarded else Source.STOP
        return sent

    def tick(self, now: float) -> tuple[np.ndarray | None, bool]:
        """The watchdog's tick, then the operator's: (what to send, whether it is a stop on the
        gate's own initiative rather than a command)."""
        out = self.gate.tick(now)
        if self.teleop is None:
            return out, True
        source, stop = self._update(now)
        if source == Source.TELEOP and self.gate.config.stepping == "realtime" and not stop:
            operator = self._operator(now)
            if operator is not None:
                # The operator drives: a silent policy's watchdog stop gives way, but the
                # command still meets every other check (e-stop, timing, limits) in the gate.
                return self.gate.command(operator, now), False
        if out is not None or stop:
            return out if out is not None else self.gate.stop(now), True
        return None, True

    def joy(
        self, buttons: Sequence[int], axes: Sequence[float], now: float
    ) -> tuple[np.ndarray | None, bool]:
        """A Joy arrived: (a stop to send at once, whether it pressed the e-stop button: the gate
        is then latched, and the caller persists the latch as the `estop` service does)."""
        if self.teleop is None:
            return None, False
        if self.teleop.joy(buttons, axes, now):
            self._update(now)
            return self.gate.latch_estop(now), True
        _, stop = self._update(now)
        return (self.gate.stop(now) if stop else None), False

    def reason(self, now: float) -> str:
        """Why the operator holds the policy back ("" when it does not)."""
        if self.source(now) != Source.STOP:
            return ""
        if self.teleop.fresh(now):
            return "deadman released"
        return f"no Joy for over {self.teleop.mapping.timeout:g} s: deadman counts as released"

    def _update(self, now: float) -> tuple[Source, bool]:
        """The source now, and whether a change calls for a stop at once: into stop, or out of
        teleop."""
        before, self._source = self._source, self.source(now)
        changed = self._source != before
        return self._source, changed and (self._source == Source.STOP or before == Source.TELEOP)

    def _operator(self, now: float) -> np.ndarray | None:
        """The operator's command in the gate's interface, or None while none can pass."""
        velocity = self.teleop.velocities(self.gate.joints, self._speeds, now)
        return self.gate.from_velocity(velocity, now)
