"""What the stack needs from a robot, simulated or real: its state by joint name (and the poses
of tracked objects) with a stamp, and a way to send a command that says what was actually sent.

The sim bridge serves a `SimRobot` on the robot's topics; an arm driver serves a ros2_control arm
on the same topics; in-process training steps a `SimRobot` directly. Anything above (the policy,
the gate, the recorder) sees the same state and the same executed commands either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from skill_embedding_ros.tasks.suite import Pose


@dataclass(frozen=True)
class RobotState:
    """One reading of the robot, as `joint_states` and the pose topics carry it."""

    stamp_ns: int
    positions: Mapping[str, float]
    """Every joint the robot reports, by name (m or rad)."""
    velocities: Mapping[str, float]
    poses: Mapping[str, Pose]
    """Tracked objects' poses, each taken at `stamp_ns`."""


class RobotIO(Protocol):
    joints: tuple[str, ...]
    """The commanded joints, in command order."""
    actuator: str
    """"velocity", "position" or "torque": what a command holds per joint."""

    def read(self) -> RobotState:
        """The newest state."""

    def send(self, command: np.ndarray) -> np.ndarray:
        """Command the joints (one value each, physical units); return what was actually sent
        (after the robot's own limits), which is what a step records."""
