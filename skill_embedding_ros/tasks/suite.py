"""The two interfaces a robot or a task family implements to join the stack.

* `Scene`: a MuJoCo simulation of a robot (and the objects it acts on). It owns MjModel and
  MjData, steps one control period per command, and reads out what a real robot would publish:
  joint positions and velocities by name, and the poses of tracked objects.
* `TaskSuite`: the tasks defined on one scene. It builds the observation from that robot-like
  read-out (so the simulator, the policy node and bag ingestion build it identically), scores
  reward and which solution each state lies in as pure functions of observations (so a
  simulated episode, a hardware trial and an ingested bag are scored the same; success itself is
  defined once, in tasks/scoring.py), and scales actions to physical commands.

Nothing generic (learning, data, bags, safety, nodes, launcher) names a suite; it asks the
registry (tasks/registry.py) for one by name. The point mass (tasks/point_mass/) is one plug-in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from skill_embedding_ros.tasks.scoring import STAY_SHARE, strict_outcomes, touched_outcomes

Pose = tuple[np.ndarray, np.ndarray]
"""An object pose: (position (x, y, z) in m, orientation quaternion (w, x, y, z)), world frame."""

ACTUATORS = ("velocity", "position", "torque")


class Scene(ABC):
    """A MuJoCo scene: the robot and its objects, one control period per `step`."""

    model: object  # mujoco.MjModel
    data: object  # mujoco.MjData
    joints: tuple[str, ...]
    """The commanded joints, in command order."""
    actuator: str
    """What a command is: "velocity" (rad/s or m/s), "position" (rad or m) or "torque" (N·m
    or N), one value per commanded joint."""
    control_period: float
    """Seconds of simulated time per `step` (a whole number of physics steps)."""

    @abstractmethod
    def description(self) -> str:
        """The robot description (MJCF or URDF text): joint limits by name for the gate."""

    @abstractmethod
    def reset(self, rng: np.random.Generator, task: str | None = None) -> None:
        """A new start drawn from the scene's reset distribution for `task` (one of its suite's
        tasks; None: the scene's default start). One scene serves every task of its suite (one
        model, one joint list, one observation), so a task whose scene elements or start differ
        (a wall, a spring, where the goal lies) is configured here; a scene whose tasks share
        one start ignores `task`."""

    @abstractmethod
    def step(self, command: np.ndarray) -> np.ndarray:
        """Apply a command for one control period; return what was actually applied (after the
        actuators' own limits). Raise ValueError for a command of the wrong size or non-finite."""

    @abstractmethod
    def joint_positions(self) -> dict[str, float]:
        """Every robot joint's position by name (what `joint_states` publishes)."""

    @abstractmethod
    def joint_velocities(self) -> dict[str, float]:
        """Every robot joint's velocity by name."""

    @abstractmethod
    def object_poses(self) -> dict[str, Pose]:
        """Each tracked object's pose (what a motion-capture or marker pipeline publishes)."""


class Observer(ABC):
    """Builds one observation per control step from a robot's read-out. May keep state (e.g. an
    object's velocity from its pose history): `reset` at each episode start."""

    def reset(self) -> None:  # noqa: B027 (a stateless builder has nothing to reset)
        """Forget the previous episode."""

    @abstractmethod
    def __call__(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        poses: Mapping[str, Pose],
        stamp_ns: int,
    ) -> np.ndarray:
        """The float32 observation. Raise ValueError naming what is missing or non-finite."""


class TaskSuite(ABC):
    """The tasks defined on one scene."""

    name: str
    tasks: tuple[str, ...]
    """Every task this suite defines (a run trains on a subset, in its own order)."""
    joints: tuple[str, ...]
    """Commanded joints, in command order (the scene's)."""
    objects: tuple[str, ...]
    """Objects whose poses the observation needs (one pose topic each)."""
    obs_dim: int
    action_dim: int
    episode_steps: int
    """Control steps per episode."""
    control_period: float
    """Seconds per control step."""
    actuator: str = "velocity"
    """The scene's command interface (see `Scene.actuator`): what the policy's commands hold."""
    goal: tuple[slice, slice] | None = None
    """Where a goal sits in the observation, and the part of the state that reaches it (e.g. a
    goal position and the block's position), for hindsight relabelling (data/relabel.py); None:
    the observation holds no goal."""

    @abstractmethod
    def make_scene(self) -> Scene:
        """A fresh simulation of this suite's scene."""

    @abstractmethod
    def description(self) -> str:
        """The robot description (as `Scene.description`), readable without a simulator."""

    def urdf(self) -> str | None:
        """The robot as URDF, for ROS tools (robot_state_publisher, RViz): what the sim bridge
        publishes on `robot_description`; None (the default): the MJCF `description` there.
        Optional: the gate's limits always come from `description`."""
        return None

    @abstractmethod
    def observer(self) -> Observer:
        """A fresh observation builder (one per actor: it may keep state)."""

    @abstractmethod
    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        """Reward of each task for reaching `obs` ([..., S]) -> [..., len(tasks)] float32. A
        pure function: the reward of step k is that of s_{k+1}."""

    @abstractmethod
    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        """Which of the task's solutions each step's state lies in, or -1: obs [N, L+1, S] ->
        [N, L] int. Step k's entry is that of s_{k+1}, the state its action led to (the start
        s_0 is not the skill's doing). A pure function of observations, like `rewards`."""

    @abstractmethod
    def solutions(self, task: str) -> tuple[int, ...]:
        """The outcome ids that solve `task` (e.g. its goal regions)."""

    def outcomes(self, task: str, obs: np.ndarray, stay_share: float = STAY_SHARE) -> np.ndarray:
        """Which of the task's solutions each episode did, or -1: obs [N, L+1, S] -> [N] int.
        The one definition of success (tasks/scoring.py, not to be overridden): the episode ends
        in a solution and spent at least `stay_share` of its steps there."""
        return strict_outcomes(self.visits(task, obs), stay_share)

    def touched(self, task: str, obs: np.ndarray) -> np.ndarray:
        """The rule before strict scoring, kept as a labelled extra: the solution each episode
        spent the most steps in, -1 if it never entered one. obs [N, L+1, S] -> [N] int."""
        return touched_outcomes(self.visits(task, obs), self.solutions(task))

    def check_task(self, task: str) -> None:
        """Raise ValueError naming the valid tasks if `task` is not one of them."""
        if task not in self.tasks:
            raise ValueError(
                f"unknown task {task!r} for suite {self.name!r}; valid tasks: {list(self.tasks)}"
            )

    def reward(self, task: str, obs: np.ndarray) -> np.ndarray:
        """The reward of one task: [..., S] -> [...]."""
        return self.rewards((task,), obs)[..., 0]

    def success(self, task: str, obs: np.ndarray) -> np.ndarray:
        """Whether each episode solved `task` (strictly, see `outcomes`): obs [N, L+1, S] -> [N]
        bool."""
        return self.outcomes(task, obs) >= 0

    def command(self, action: np.ndarray) -> np.ndarray:
        """A policy action in [-1, 1] per joint -> the physical command (default: unscaled)."""
        return np.asarray(action, np.float64)

    def action(self, command: np.ndarray | Sequence[float]) -> np.ndarray:
        """The inverse of `command`: what a recorded physical command was, as an action
        (float32). `command`: its values, as an array or a list of floats."""
        return np.asarray(command, np.float32)

    def plot_episodes(self, ax, task: str, obs: np.ndarray, outcomes: np.ndarray) -> None:  # noqa: B027
        """Draw a task's evaluation episodes (obs [N, L+1, S]) on a matplotlib axis. Optional."""
