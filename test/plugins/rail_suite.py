"""A second scene that lives only in the tests: a carriage on a rail with a hinged paddle, and a
puck it can bat along the rail. It differs from the point mass in every way the generic code
could silently assume: other joint names and kinds (a slide and a hinge), an object whose pose
is not a joint, an observation of another size (7) built by a stateful observer (the puck's
velocity from its pose history), and tasks that are not goal regions.

It reaches the stack only by name: "test/plugins/rail_suite.py:SUITE" (tasks/registry.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mujoco
import numpy as np

from skill_embedding_ros.tasks.suite import Observer, Pose, Scene, TaskSuite

MJCF = """
<mujoco model="rail">
  <compiler angle="radian"/>
  <option timestep="0.01" gravity="0 0 -9.81" integrator="implicitfast"/>
  <worldbody>
    <geom name="rail" type="box" size="1.2 0.02 0.01" contype="0" conaffinity="0"/>
    <body name="carriage" pos="0 0 0.05">
      <joint name="carriage" type="slide" axis="1 0 0" range="-0.9 0.9" limited="true"/>
      <geom type="box" size="0.05 0.05 0.03" mass="1"/>
      <body name="paddle" pos="0 0 0.05">
        <joint name="paddle" type="hinge" axis="0 0 1" range="-1.5 1.5" limited="true"/>
        <geom type="box" pos="0 0.1 0" size="0.02 0.1 0.02" mass="0.2"/>
      </body>
    </body>
    <body name="puck" pos="0.3 0 0.05">
      <joint name="puck_x" type="slide" axis="1 0 0" damping="2"/>
      <geom type="cylinder" size="0.04 0.02" mass="0.3"/>
    </body>
  </worldbody>
  <actuator>
    <velocity name="carriage" joint="carriage" kv="40" ctrlrange="-0.8 0.8" ctrllimited="true"/>
    <velocity name="paddle" joint="paddle" kv="2" ctrlrange="-2 2" ctrllimited="true"/>
  </actuator>
</mujoco>
"""
JOINTS = ("carriage", "paddle")
SPEED = np.array([0.8, 2.0])  # the actuators' ctrlrange: m/s, rad/s


class RailScene(Scene):
    actuator = "velocity"
    joints = JOINTS
    control_period = 0.05

    def __init__(self):
        self.model = mujoco.MjModel.from_xml_string(MJCF)
        self.data = mujoco.MjData(self.model)
        self.substeps = round(self.control_period / self.model.opt.timestep)
        self._puck = self.model.joint("puck_x").qposadr[0]
        self._rest = self.model.body("puck").pos.copy()

    def description(self) -> str:
        return MJCF

    def reset(self, rng: np.random.Generator, task: str | None = None) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.model.joint("carriage").qposadr[0]] = rng.uniform(-0.1, 0.1)
        self.data.qpos[self._puck] = rng.uniform(-0.05, 0.05)
        mujoco.mj_forward(self.model, self.data)

    def step(self, command: np.ndarray) -> np.ndarray:
        command = np.asarray(command, np.float64)
        if command.shape != (2,) or not np.all(np.isfinite(command)):
            raise ValueError(f"command must be 2 finite numbers, got {command}")
        self.data.ctrl[:] = np.clip(command, -SPEED, SPEED)
        mujoco.mj_step(self.model, self.data, self.substeps)
        return self.data.ctrl.copy()

    def joint_positions(self) -> dict[str, float]:
        return {j: float(self.data.joint(j).qpos[0]) for j in JOINTS}

    def joint_velocities(self) -> dict[str, float]:
        return {j: float(self.data.joint(j).qvel[0]) for j in JOINTS}

    def object_poses(self) -> dict[str, Pose]:
        position = self._rest + np.array([self.data.qpos[self._puck], 0.0, 0.0])
        return {"puck": (position, np.array([1.0, 0.0, 0.0, 0.0]))}


class RailObserver(Observer):
    """q (2), v (2), puck x and y, and the puck's x velocity from its last two poses."""

    def reset(self) -> None:
        self.last: tuple[int, float] | None = None

    def __init__(self):
        self.reset()

    def __call__(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        poses: Mapping[str, Pose],
        stamp_ns: int,
    ) -> np.ndarray:
        missing = [j for j in JOINTS if j not in positions or j not in velocities]
        if missing or "puck" not in poses:
            raise ValueError(f"observation is missing {missing or ['puck']}")
        x, y = float(poses["puck"][0][0]), float(poses["puck"][0][1])
        vx = 0.0
        if self.last is not None and stamp_ns > self.last[0]:
            vx = (x - self.last[1]) / ((stamp_ns - self.last[0]) * 1e-9)
        self.last = (stamp_ns, x)
        parts = [positions[j] for j in JOINTS] + [velocities[j] for j in JOINTS] + [x, y, vx]
        obs = np.asarray(parts, np.float32)
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"non-finite value in observation {obs.tolist()}")
        return obs


class RailSuite(TaskSuite):
    name = "rail"
    tasks = ("right", "left")
    joints = JOINTS
    objects = ("puck",)
    obs_dim = 7
    action_dim = 2
    episode_steps = 20
    control_period = RailScene.control_period

    def make_scene(self) -> RailScene:
        return RailScene()

    def description(self) -> str:
        return MJCF

    def observer(self) -> RailObserver:
        return RailObserver()

    def rewards(self, tasks: Sequence[str], obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs)[..., 4]
        columns = [x > 0.45 if t == "right" else x < -0.45 for t in tasks]
        return np.stack(columns, -1).astype(np.float32)

    def visits(self, task: str, obs: np.ndarray) -> np.ndarray:
        inside = self.reward(task, np.asarray(obs)[:, 1:]) > 0
        return np.where(inside, self.tasks.index(task), -1)

    def solutions(self, task: str) -> tuple[int, ...]:
        return (self.tasks.index(task),)

    def command(self, action: np.ndarray) -> np.ndarray:
        return np.asarray(action, np.float64) * SPEED

    def action(self, command: np.ndarray) -> np.ndarray:
        return (np.asarray(command, np.float64) / SPEED).astype(np.float32)


SUITE = RailSuite()
