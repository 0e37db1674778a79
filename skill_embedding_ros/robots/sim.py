"""A suite's MuJoCo scene as a robot: `send` steps one control period, time is simulated.

Time is kept in whole control periods (an integer count), so consecutive stamps differ by
exactly one period with no float drift; a reset moves time on by one period too, so stamps never
repeat. The wall clock never enters a stamp.
"""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.robots.io import RobotState
from skill_embedding_ros.tasks.suite import Scene


class SimRobot:
    """`RobotIO` over a `Scene`."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.joints = tuple(scene.joints)
        self.actuator = scene.actuator
        self.period_ns = round(scene.control_period * 1e9)
        self.ticks = 0

    @property
    def stamp_ns(self) -> int:
        return self.ticks * self.period_ns

    def reset(self, rng: np.random.Generator, task: str | None = None) -> None:
        """A new start from the scene's reset distribution for `task` (None: the scene's
        default); time moves on one period."""
        self.scene.reset(rng, task)
        self.ticks += 1

    def read(self) -> RobotState:
        s = self.scene
        return RobotState(
            self.stamp_ns, s.joint_positions(), s.joint_velocities(), s.object_poses()
        )

    def send(self, command: np.ndarray) -> np.ndarray:
        applied = self.scene.step(command)
        self.ticks += 1
        return applied
