"""The Jaco manipulation suite (the paper's morphology: a 6-joint arm with a 3-finger hand, 9-D
actions, 34-D observations), one task so far:

* "push": push the block across the table into the goal region (a disc of GOAL_RADIUS around
  the goal marker, the block resting on the table).

Reward and visits are pure functions of the observation (observations.LAYOUT), so a simulated
episode, a hardware trial and an ingested bag score the same. Two registered suites differ only
in the command interface: "jaco" commands joint torques (the paper's, in simulation),
"jaco_velocity" joint velocities (what a Jaco's ros2_control driver takes).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.tasks.jaco.model import GOAL_RADIUS, JOINTS, scene_xml
from skill_embedding_ros.tasks.jaco.observations import OBJECTS, OBS_DIM, SLICES, JacoObserver
from skill_embedding_ros.tasks.suite import TaskSuite

REACH_SCALE = 10.0
"""1/m: the reach term halves at 5.5 cm from the block (tanh 0.55 = 0.5)."""
PUSH_SCALE = 5.0
"""1/m: the push term halves at 11 cm from the goal, so it still pulls across the whole table."""
WEIGHTS = (0.2, 0.5, 0.3)
"""(reach, push, inside): the shaped terms guide, the sparse one is the task; the sum is <= 1."""
ON_TABLE = 0.02
"""m: how far the block's centre may be from the goal's height and still rest on the table
(a lifted or toppled-off block is not in the region)."""


@functools.cache
def _model(actuator: str):
    import mujoco

    return mujoco.MjModel.from_xml_string(scene_xml(actuator))


@functools.cache
def _limits(actuator: str) -> np.ndarray:
    model = _model(actuator)
    limits = np.array([model.actuator(j).ctrlrange[1] for j in JOINTS])
    limits.flags.writeable = False
    return limits


@dataclass(frozen=True, eq=False)
class JacoSuite(TaskSuite):
    """The Jaco arm and hand, a block and a goal on a table; `actuator` picks the interface."""

    name: str
    actuator: str
    """"torque" (N·m, the paper's) or "velocity" (rad/s, a hardware driver's): model.scene_xml."""
    episode_steps: int = 150
    """7.5 s. A strict success (tasks/scoring.py) spends half the episode in the goal region, so
    the block must be there by step 75; the crude scripted push of test_jaco_suite.py, at the
    arm's speed limits, gets it there at steps 37-54 (9 of 12 episodes), which 100 steps would
    leave no room for."""
    control_period: float = 0.05
    """s: dm_control acts on this arm every 0.04 s; 0.05 s (25 physics steps) keeps 20 Hz for
    the ROS graph, lets the velocity servos settle within a period (lag <= 10 ms), and moves a
    joint at most 1.8-2.4 degrees per step at the speed limits."""
    home: tuple[float, ...] = (0.1838, 2.4822, 5.2752, 0.1018, -0.4031, 0.2603)
    """rad: the arm with its grip site 12 cm above the table at (0.35, 0), hand pointing down
    (found by inverse kinematics; test_jaco_suite.py checks it)."""
    start_noise: float = 0.05
    """rad: each arm joint starts uniformly within this of home."""
    block_region: tuple[tuple[float, float], tuple[float, float]] = ((0.45, 0.55), (-0.1, 0.1))
    """m: (x range, y range) where the block starts, in front of the hand."""
    goal_region: tuple[tuple[float, float], tuple[float, float]] = ((0.4, 0.65), (-0.25, 0.25))
    """m: (x range, y range) where the goal may lie."""
    goal_distance: tuple[float, float] = (0.1, 0.2)
    """m: the goal lies this far from the block's start (beyond the region's radius: a push is
    needed; within reach of one push)."""

    @property
    def tasks(self) -> tuple[str, ...]:
        return ("push",)

    @property
    def joints(self) -> tuple[str, ...]:
        return JOINTS

    @property
    def objects(self) -> tuple[str, ...]:
        return OBJECTS

    @property
    def obs_dim(self) -> int:
        return OBS_DIM

    @property
    def action_dim(self) -> int:
        return len(JOINTS)

    def description(self) -> str:
        return scene_xml(self.actuator)

    def make_scene(self):
        from skill_embedding_ros.tasks.jaco.scene import JacoScene

        return JacoScene(self)

    def observer(self) -> JacoObserver:
        return JacoObserver(_model(self.actuator))

    def draw_goal(self, rng: np.random.Generator, block: np.ndarray) -> np.ndarray:
        """A goal (x, y) in `goal_region`, `goal_distance` from the block's start (x, y)."""
        (x0, x1), (y0, y1) = self.goal_region
        for _ in range(1000):
            goal = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if self.goal_distance[0] <= np.linalg.norm(goal - block) <= self.goal_distance[1]:
                return goal
        raise ValueError(f"no goal in {self.goal_region} lies {self.goal_distance} m from {block}")

    @property
    def limits(self) -> np.ndarray:
        """Each joint's command limit in JOINTS order (N·m or rad/s): the description's actuator
        command range, the datasheet's peak torque or speed."""
        return _limits(self.actuator)

    def command(self, action: np.ndarray) -> np.ndarray:
        """[-1, 1] per joint -> torque or velocity, +-1 being the joint's limit."""
        return np.asarray(action, np.float64) * self.limits

    def action(self, command: np.ndarray) -> np.ndarray:
        return (np.asarray(command, np.float64) / self.limits).astype(np.float32)

    def inside(self, obs: np.ndarray) -> np.ndarray:
        """Whether the block rests in the goal region: [..., S] -> [...] bool."""
        obs = np.asarray(obs)
        block, goal = obs[..., SLICES["block_position"]], obs[..., SLICES["goal"]]
        planar = np.linalg.norm(block[..., :2] - goal[..., :2], axis=-1)
        return (planar < GOAL_RADIUS) & (np.abs(block[..., 2] - goal[..., 2]) < ON_TABLE)

    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        """push, in [0, 1]: 0.2 (1 - tanh(10 |ee - block|)) + 0.5 (1 - tanh(5 |block - goal|_xy))
        + 0.3 [block in the goal region]: reach the block, bring it to the goal, keep it there."""
        for task in tasks:
            self.check_task(task)
        obs = np.asarray(obs)
        block = obs[..., SLICES["block_position"]]
        reach = np.linalg.norm(obs[..., SLICES["end_effector"]] - block, axis=-1)
        push = np.linalg.norm(block[..., :2] - obs[..., SLICES["goal"]][..., :2], axis=-1)
        w_reach, w_push, w_inside = WEIGHTS
        reward = (
            w_reach * (1 - np.tanh(REACH_SCALE * reach))
            + w_push * (1 - np.tanh(PUSH_SCALE * push))
            + w_inside * self.inside(obs)
        )
        return np.stack([reward] * len(tasks), -1).astype(np.float32)

    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        """0 (the goal region, push's one solution) where the block rests in it after a step,
        else -1: obs [N, L+1, S] -> [N, L]."""
        self.check_task(task)
        return np.where(self.inside(np.asarray(obs)[:, 1:]), 0, -1)

    def solutions(self, task: str) -> tuple[int, ...]:
        self.check_task(task)
        return (0,)


JACO = JacoSuite(name="jaco", actuator="torque")
"""The paper's interface: 9 joint torques, gravity compensated by the robot."""
JACO_VELOCITY = JacoSuite(name="jaco_velocity", actuator="velocity")
"""The hardware interface: 9 joint velocities (a forward velocity controller's commands)."""
