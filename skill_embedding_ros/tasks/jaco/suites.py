"""The Jaco manipulation suite (the paper's morphology: a 6-joint arm with a 3-finger hand, 9-D
actions, 34-D observations) and its tasks, the paper's:

* pre-training: spring, wall, push, lift, rail_lift, table_push (layouts.py says where each
  starts and which scene elements it uses; rewards.py scores it);
* transfer: spring_wall, l_wall, rail_push (sparse rewards, rail-push lightly shaped).

Reward and visits are pure functions of the observation (observations.LAYOUT), so a simulated
episode, a hardware trial and an ingested bag score the same. Two registered suites differ only
in the command interface: "jaco" commands joint torques (the paper's, in simulation),
"jaco_velocity" joint velocities (what a Jaco's ros2_control driver takes). docs/jaco.md has the
tasks table.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.tasks.jaco import rewards
from skill_embedding_ros.tasks.jaco.layouts import LIFTED, PRETRAINING, TRANSFER
from skill_embedding_ros.tasks.jaco.model import JOINTS, scene_xml
from skill_embedding_ros.tasks.jaco.observations import OBJECTS, OBS_DIM, SLICES, JacoObserver
from skill_embedding_ros.tasks.suite import TaskSuite


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
    episode_steps: int = 200
    """10 s. A strict success (tasks/scoring.py) spends half the episode in the target, so the
    block must be there by step 100. The scripted pick-and-place (scripted.py), at the arm's
    datasheet speed limits, gets it there at steps 57-86 (lift, push; 3-4.5 s), which 150 steps
    (arrival by 75) would not leave room for."""
    control_period: float = 0.05
    """s: dm_control acts on this arm every 0.04 s; 0.05 s (25 physics steps) keeps 20 Hz for
    the ROS graph, lets the velocity servos settle within a period (lag <= 10 ms), and moves a
    joint at most 1.8-2.4 degrees per step at the speed limits."""
    goal: tuple[slice, slice] = (SLICES["goal"], SLICES["block_position"])
    """Every task's goal is a position the block should reach (rewards.py)."""
    home: tuple[float, ...] = (0.1838, 2.4822, 5.2752, 0.1018, -0.4031, 0.2603)
    """rad: the arm with its grip site 12 cm above the table at (0.35, 0), hand pointing down
    (found by inverse kinematics; test_jaco_suite.py checks it)."""
    start_noise: float = 0.05
    """rad: each arm joint starts uniformly within this of home."""

    @property
    def tasks(self) -> tuple[str, ...]:
        return PRETRAINING + TRANSFER

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

    def urdf(self) -> str:
        """The arm and hand (urdf.py; one URDF for both interfaces), meshes in this install."""
        from skill_embedding_ros.tasks.jaco.urdf import urdf

        return urdf()

    def make_scene(self):
        from skill_embedding_ros.tasks.jaco.scene import JacoScene

        return JacoScene(self)

    def observer(self) -> JacoObserver:
        return JacoObserver(_model(self.actuator))

    @property
    def limits(self) -> np.ndarray:
        """Each joint's command limit in JOINTS order (N·m or rad/s): the description's actuator
        command range, the datasheet's peak torque or speed."""
        return _limits(self.actuator)

    def command(self, action: np.ndarray) -> np.ndarray:
        """[-1, 1] per joint -> torque or velocity, +-1 being the joint's limit."""
        return np.asarray(action, np.float64) * self.limits

    def action(self, command: np.ndarray | Sequence[float]) -> np.ndarray:
        return (np.asarray(command, np.float64) / self.limits).astype(np.float32)

    def inside(self, obs: np.ndarray) -> np.ndarray:
        """Whether the block rests in the goal region (a placed target): [..., S] -> [...]."""
        return rewards.placed(obs)

    def in_target(self, task: str, obs: np.ndarray) -> np.ndarray:
        """Whether the block is where `task` wants it: held at the goal point for lift and
        rail_lift, resting in the goal region for every other task. [..., S] -> [...] bool."""
        self.check_task(task)
        return rewards.held(obs) if task in LIFTED else rewards.placed(obs)

    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        """Each task's reward (rewards.py): shaped in [0, 1] for pre-training, sparse (0 or 1)
        for spring_wall and l_wall, rail_push's sparse one plus a tenth of a bring term."""
        for task in tasks:
            self.check_task(task)
        obs = np.asarray(obs)
        out = []
        for task in tasks:
            if task in PRETRAINING:
                out.append(rewards.shaped(obs, lifted=task in LIFTED))
            elif task == "rail_push":
                out.append(rewards.rail_push(obs))
            else:
                out.append(rewards.sparse(obs))
        return np.stack(out, -1).astype(np.float32)

    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        """0 (the task's one solution: the block where the task wants it) after a step, else -1:
        obs [N, L+1, S] -> [N, L]."""
        return np.where(self.in_target(task, np.asarray(obs)[:, 1:]), 0, -1)

    def solutions(self, task: str) -> tuple[int, ...]:
        self.check_task(task)
        return (0,)


JACO = JacoSuite(name="jaco", actuator="torque")
"""The paper's interface: 9 joint torques, gravity compensated by the robot."""
JACO_VELOCITY = JacoSuite(name="jaco_velocity", actuator="velocity")
"""The hardware interface: 9 joint velocities (a forward velocity controller's commands)."""
