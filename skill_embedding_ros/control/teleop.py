"""Teleop at the safety gate: who commands the robot, the policy or the operator, from the latest
sensor_msgs/Joy (the practice of HIL-SERL and LeRobot; docs/teleop.md).

Who commands, first match wins (a Joy older than the mapping's `timeout`, or none yet, counts as
every button released and every axis at rest):
* teleop: `intervene` held. The operator's axes replace the policy's commands: each joint at
  share * its velocity limit (control/teleop_mapping.py `shares`), through the gate's same
  limits (control/teleop_gate.py). Holding intervene is itself a hold: it needs no deadman.
* policy: the deadman held, or not required (the gate's `deadman` parameter off).
* stop: the deadman required and not held (released, or the Joy stale): stops in place of the
  policy's commands, so a dropped pad or a dead joystick driver stops the robot.
The e-stop button latches the gate's e-stop on its press (a released-to-pressed edge; a stale
Joy counts as released, so a button held through a dropout latches again when it comes back).
Releasing it releases nothing: only the gate's `estop` service does.

Time is passed in (s on the gate's steady clock): a Joy's age is measured from when it arrived,
not its header stamp (a joystick's clock need not be the gate's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum

import numpy as np

from skill_embedding_ros.control.teleop_mapping import (  # noqa: F401 (the module's contract)
    AxisTerm,
    TeleopMapping,
    load_mapping,
    parse_mapping,
)


class Source(str, Enum):
    """Who commands the robot."""

    POLICY = "policy"
    TELEOP = "teleop"
    STOP = "stop"


class Teleop:
    """The latest Joy and the arbitration it decides."""

    def __init__(self, mapping: TeleopMapping, deadman: bool):
        """`deadman`: policy commands reach the robot only while the deadman button is held;
        the mapping must then have one (ValueError otherwise)."""
        if deadman and "deadman" not in mapping.buttons:
            raise ValueError(
                f"teleop mapping {mapping.source} has no deadman button, which the gate's "
                "`deadman` parameter needs; add buttons.deadman or set deadman to false"
            )
        self.mapping, self.deadman = mapping, deadman
        self._buttons: tuple[int, ...] = ()
        self._axes: tuple[float, ...] = ()
        self._received = -math.inf

    def joy(self, buttons: Sequence[int], axes: Sequence[float], now: float) -> bool:
        """A Joy arrived at `now` (s); returns whether it pressed the e-stop button (an edge)."""
        was = self.held("estop", now)
        self._buttons, self._axes, self._received = tuple(buttons), tuple(axes), now
        return self.held("estop", now) and not was

    def fresh(self, now: float) -> bool:
        """Whether the latest Joy is younger than the mapping's timeout."""
        return now - self._received <= self.mapping.timeout

    def held(self, role: str, now: float) -> bool:
        """Whether `role`'s button is held in a fresh Joy."""
        return self.fresh(now) and self.mapping.pressed(self._buttons, role)

    def source(self, now: float) -> Source:
        if self.held("intervene", now):
            return Source.TELEOP
        if not self.deadman or self.held("deadman", now):
            return Source.POLICY
        return Source.STOP

    def velocities(self, joints: Sequence[str], speeds: np.ndarray, now: float) -> np.ndarray:
        """The operator's joint velocities (m/s or rad/s), in `joints` order: share * speed
        limit; zeros from a stale Joy."""
        axes = self._axes if self.fresh(now) else ()
        return np.asarray(self.mapping.shares(joints, axes), float) * speeds
