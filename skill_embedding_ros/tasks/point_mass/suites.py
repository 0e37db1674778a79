"""The point-mass suites: goal regions around the start, reached by the mass (reach; reach_force
under force control) or by a block it pushes (push). Reward and success are pure functions of
the observation.

Tasks: "any" rewards every region, "goal_k" only region k. A step visits the rewarded region its
target is in; what an episode did follows from its visits by the generic rule (tasks/scoring.py):
the region it ends in, if it stayed there long enough.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.tasks.point_mass.observations import PlanarObserver, observation_size
from skill_embedding_ros.tasks.suite import TaskSuite

MODEL_DIR = data_dir("urdf")
REGION_RGBA = (
    (0.89, 0.10, 0.11, 0.4),
    (0.22, 0.49, 0.72, 0.4),
    (0.30, 0.69, 0.29, 0.4),
    (0.60, 0.31, 0.64, 0.4),
)
"""Goal region k's colour in pictures: matplotlib's Set1, as eval.png draws the regions."""
GREY = (0.5, 0.5, 0.5, 0.25)


@dataclass(frozen=True, eq=False)
class PointMassSuite(TaskSuite):
    """One point-mass scene and the goal-region tasks defined on it."""

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
    control_period: float
    robot_start: tuple[float, float]
    """Nominal start of the mass (m); objects start at the origin."""
    start_noise: float
    """Half-width (m) of the uniform box around the start of the mass and of each object."""
    actuator: str = field(default="velocity", kw_only=True)
    """What a command holds: velocity (m/s, velocity servos) or torque (a force in N, motors);
    the model file's actuators must be of that kind. Keyword-only, so a suite that extends this
    one may add fields without defaults."""
    camera: ClassVar[str] = "top"
    """The model's camera straight above the arena, for pictures (tasks/render.py)."""

    @property
    def tasks(self) -> tuple[str, ...]:
        return ("any", *(f"goal_{k}" for k in range(len(self.goals))))

    @property
    def obs_dim(self) -> int:
        return observation_size(self.joints, self.objects)

    @property
    def action_dim(self) -> int:
        return len(self.joints)

    @property
    def model_path(self) -> Path:
        return MODEL_DIR / self.model_file

    def description(self) -> str:
        return self.model_path.read_text()

    def make_scene(self):
        from skill_embedding_ros.tasks.point_mass.scene import PointMassScene  # loads MuJoCo

        return PointMassScene(self)

    def observer(self) -> PlanarObserver:
        return PlanarObserver(self.joints, self.objects)

    def task_goals(self, task: str) -> tuple[int, ...]:
        """Goal regions that reward `task`."""
        self.check_task(task)
        return tuple(range(len(self.goals))) if task == "any" else (int(task[5:]),)

    def solutions(self, task: str) -> tuple[int, ...]:
        return self.task_goals(task)

    def target_position(self, obs: np.ndarray) -> np.ndarray:
        """Planar position of the target in an observation (or a batch, leading dims kept)."""
        if self.target == "mass":
            return obs[..., 0:2]
        start = 2 * len(self.joints) + 2 * self.objects.index(self.target)
        return obs[..., start : start + 2]

    def goal_index(self, obs: np.ndarray) -> np.ndarray:
        """Index of the goal region the target is in, or -1 (leading shape of obs[..., 0])."""
        offset = self.target_position(np.asarray(obs))[..., None, :] - self._goal_centres
        # np.linalg.norm's own arithmetic, without its checks: a policy scores every step.
        dist = np.sqrt(np.add.reduce(offset * offset, axis=-1))
        inside = dist < self.goal_radius
        return np.where(inside.any(-1), inside.argmax(-1), -1)

    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        """Sparse: 1 per step while the target is inside one of the task's regions."""
        obs = np.asarray(obs)
        if obs.ndim == 1:
            region = self._region_of_one(obs)
            return np.array([region in self._goal_sets(t) for t in tasks], np.float32)
        region = self.goal_index(obs)
        return np.stack([self._rewarded(region, t) for t in tasks], -1).astype(np.float32)

    def _region_of_one(self, obs: np.ndarray) -> int:
        """`goal_index` of one state in Python floats: a policy node scores every step, and on
        arrays of two numpy's cost per call is most of the time. The same float64 arithmetic in
        the same order (float32 values widen exactly), so the same answer on a region's edge
        (test_envs.py holds the two equal)."""
        x, y = self.target_position(obs).tolist()
        for i, (cx, cy) in enumerate(self._goal_floats):
            dx, dy = x - cx, y - cy
            if math.sqrt(dx * dx + dy * dy) < self.goal_radius:
                return i
        return -1

    def _goal_sets(self, task: str) -> frozenset[int]:
        goals = self._task_goal_sets.get(task)
        return frozenset(self.task_goals(task)) if goals is None else goals

    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        """The rewarded region the target is in after each step, or -1: obs [N, L+1, S] ->
        [N, L]."""
        region = self.goal_index(np.asarray(obs)[:, 1:])
        return np.where(self._rewarded(region, task), region, -1)

    def _rewarded(self, region: np.ndarray, task: str) -> np.ndarray:
        """Whether each region index is one of the task's goals (np.isin's answer: a policy
        node scores every step, and np.isin cost a tenth of a composed actor's time)."""
        goals = self._task_goals.get(task)
        if goals is None:  # not a task of the suite: task_goals says so
            goals = np.asarray(self.task_goals(task))
        return (region[..., None] == goals).any(-1)

    @functools.cached_property
    def _goal_centres(self) -> np.ndarray:
        return np.asarray(self.goals)

    @functools.cached_property
    def _task_goals(self) -> dict[str, np.ndarray]:
        return {task: np.asarray(self.task_goals(task)) for task in self.tasks}

    @functools.cached_property
    def _goal_floats(self) -> tuple[tuple[float, float], ...]:
        return tuple((float(cx), float(cy)) for cx, cy in self.goals)

    @functools.cached_property
    def _task_goal_sets(self) -> dict[str, frozenset[int]]:
        return {task: frozenset(self.task_goals(task)) for task in self.tasks}

    def markers(self, task: str):
        """The goal regions, drawn into pictures (tasks/render.py; they are no part of the
        physics): the task's rewarded regions in eval.png's colours, the others grey."""
        from skill_embedding_ros.tasks.render import Marker

        rewarded = self.task_goals(task)
        colours = [
            REGION_RGBA[k % len(REGION_RGBA)] if k in rewarded else GREY
            for k in range(len(self.goals))
        ]
        return tuple(
            Marker((x, y, 0.002), self.goal_radius, rgba)
            for (x, y), rgba in zip(self.goals, colours, strict=True)
        )

    def plot_episodes(self, ax, task: str, obs: np.ndarray, outcomes: np.ndarray) -> None:
        from skill_embedding_ros.tasks.point_mass.plots import plot_paths

        plot_paths(ax, self, task, self.target_position(obs), outcomes)


def _ring(radius: float) -> tuple[tuple[float, float], ...]:
    angles = np.arange(4) * np.pi / 2
    return tuple((round(radius * np.cos(a), 6), round(radius * np.sin(a), 6)) for a in angles)


# Four equally rewarded regions around the start, reached with the point mass itself.
REACH = PointMassSuite(
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
)
# The mass must push a block, starting at the origin, into a region.
PUSH = PointMassSuite(
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
)
# The third didactic experiment: the same mass under force control (a force in N per joint,
# damped to at most 1 m/s), two tasks: goal_0 a region to the right, goal_1 one to the left.
REACH_FORCE = PointMassSuite(
    name="reach_force",
    model_file="point_mass_force.xml",
    joints=("x", "y"),
    objects=(),
    target="mass",
    goals=((0.8, 0.0), (-0.8, 0.0)),
    goal_radius=0.2,
    episode_steps=50,
    control_period=0.1,
    robot_start=(0.0, 0.0),
    start_noise=0.05,
    actuator="torque",
)
