"""Task suites: the scene, the goal regions and the tasks, with reward and success as pure
functions of the observation.

Because rewards depend on the observation alone, the same task definition scores a simulated
episode, a real-robot trial and an ingested rosbag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.tasks.observations import observation_size

MODEL_DIR = data_dir("urdf")


@dataclass(frozen=True)
class Suite:
    """One scene and the tasks defined on it."""

    name: str
    model_file: str
    """MJCF file under urdf/."""
    joints: tuple[str, ...]
    """Actuated joints, in command order (one velocity command each, m/s)."""
    objects: tuple[str, ...]
    """Bodies whose planar position enters the observation."""
    target: str
    """What must enter a goal region: "mass" (the robot) or an object name."""
    goals: tuple[tuple[float, float], ...]
    """Centres of the goal regions (m, world frame)."""
    goal_radius: float
    """Radius of each goal region (m)."""
    episode_steps: int
    """Control steps per episode."""
    control_period: float
    """Seconds of simulated time per control step."""
    robot_start: tuple[float, float]
    """Nominal start of the mass (m); objects start at the origin."""
    start_noise: float
    """Half-width (m) of the uniform box around the start of the mass and of each object."""

    @property
    def obs_dim(self) -> int:
        return observation_size(self.joints, self.objects)

    @property
    def action_dim(self) -> int:
        return len(self.joints)

    @property
    def model_path(self) -> Path:
        return MODEL_DIR / self.model_file

    def task_goals(self, task: str) -> tuple[int, ...]:
        """Goal regions that reward `task`: "any" rewards all of them, "goal_k" only region k."""
        if task == "any":
            return tuple(range(len(self.goals)))
        if task.startswith("goal_") and task[5:].isdigit() and int(task[5:]) < len(self.goals):
            return (int(task[5:]),)
        valid = ["any"] + [f"goal_{k}" for k in range(len(self.goals))]
        raise ValueError(f"unknown task {task!r} for suite {self.name!r}; valid tasks: {valid}")

    def target_position(self, obs: np.ndarray) -> np.ndarray:
        """Planar position of the target in an observation (or a batch, leading dims kept)."""
        if self.target == "mass":
            return obs[..., 0:2]
        start = 2 * len(self.joints) + 2 * self.objects.index(self.target)
        return obs[..., start : start + 2]


def goal_index(suite: Suite, obs: np.ndarray) -> np.ndarray:
    """Index of the goal region the target is in, or -1 (same leading shape as obs[..., 0])."""
    pos = suite.target_position(np.asarray(obs))
    dist = np.linalg.norm(pos[..., None, :] - np.asarray(suite.goals), axis=-1)
    inside = dist < suite.goal_radius
    return np.where(inside.any(-1), inside.argmax(-1), -1)


def reward(suite: Suite, task: str, obs: np.ndarray) -> np.ndarray:
    """Sparse reward: 1 per step while the target is inside one of the task's goal regions."""
    return rewards(suite, (task,), obs)[..., 0]


def rewards(suite: Suite, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
    """The reward of every task at once, [..., len(tasks)] float32 (the regions found once)."""
    region = goal_index(suite, obs)
    return np.stack([np.isin(region, suite.task_goals(t)) for t in tasks], -1).astype(np.float32)


def _ring(radius: float) -> tuple[tuple[float, float], ...]:
    angles = np.arange(4) * np.pi / 2
    return tuple((round(radius * np.cos(a), 6), round(radius * np.sin(a), 6)) for a in angles)


SUITES: dict[str, Suite] = {
    # Four equally rewarded regions around the start, reached with the point mass itself.
    "reach": Suite(
        name="reach",
        model_file="point_mass.xml",
        joints=("x", "y"),
        objects=(),
        target="mass",
        goals=_ring(0.8),
        goal_radius=0.2,
        episode_steps=50,
        control_period=0.1,
        robot_start=(0.0, 0.0),
        start_noise=0.05,
    ),
    # The mass must push a block, starting at the origin, into a region.
    "push": Suite(
        name="push",
        model_file="point_mass_push.xml",
        joints=("x", "y"),
        objects=("block",),
        target="block",
        goals=_ring(0.6),
        goal_radius=0.2,
        episode_steps=60,
        control_period=0.1,
        robot_start=(0.0, -0.25),
        start_noise=0.05,
    ),
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; available: {sorted(SUITES)}") from None
