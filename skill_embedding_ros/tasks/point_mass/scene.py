"""The point-mass scenes: a MuJoCo scene class, and a Gymnasium env on top of it (ROS-free).

`PointMassScene` owns the physics (model, data, start randomization, one control step); both the
Gymnasium env and the ROS sim bridge drive it, so training in-process and through the node graph
simulate exactly the same thing.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from skill_embedding_ros.tasks.observations import build_observation
from skill_embedding_ros.tasks.point_mass.suites import Suite, get_suite, goal_index, reward


class PointMassScene:
    """A suite's MuJoCo scene: the mass on slide joints (and any objects on their own slides).

    Commands are joint velocities in m/s, clipped to [-1, 1] (the actuators' ctrlrange); one
    `step` advances one control period (`suite.control_period` s, `substeps` physics steps).
    """

    def __init__(self, suite: Suite):
        self.suite = suite
        self.model = mujoco.MjModel.from_xml_path(str(suite.model_path))
        self.data = mujoco.MjData(self.model)
        self.substeps = round(suite.control_period / self.model.opt.timestep)
        joints = list(suite.joints) + [f"{o}_{a}" for o in suite.objects for a in "xy"]
        self._qadr = {j: self.model.joint(j).qposadr[0] for j in joints}
        self._vadr = {j: self.model.joint(j).dofadr[0] for j in joints}
        # Objects only slide in the plane, so their height and orientation are the body's own.
        self._rest = {
            o: (self.model.body(o).pos.copy(), self.model.body(o).quat.copy())
            for o in suite.objects
        }

    def reset(self, rng: np.random.Generator) -> None:
        """A new start: the mass and each object uniformly within `start_noise` of nominal."""
        mujoco.mj_resetData(self.model, self.data)
        noise = self.suite.start_noise
        start = np.asarray(self.suite.robot_start) + rng.uniform(-noise, noise, 2)
        for j, value in zip(self.suite.joints, start, strict=True):
            self.data.qpos[self._qadr[j]] = value
        for o in self.suite.objects:
            for a in "xy":
                self.data.qpos[self._qadr[f"{o}_{a}"]] = rng.uniform(-noise, noise)
        mujoco.mj_forward(self.model, self.data)

    def step(self, command: np.ndarray) -> np.ndarray:
        """Advance one control period; return the command actually applied (after clipping)."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.suite.action_dim,) or not np.all(np.isfinite(command)):
            raise ValueError(
                f"command must be {self.suite.action_dim} finite numbers, got {command}"
            )
        self.data.ctrl[:] = np.clip(command, -1.0, 1.0)
        mujoco.mj_step(self.model, self.data, self.substeps)
        return self.data.ctrl.copy()

    def joint_positions(self) -> dict[str, float]:
        """Every slide joint's position (m), the objects' included."""
        return {j: float(self.data.qpos[a]) for j, a in self._qadr.items()}

    def joint_velocities(self) -> dict[str, float]:
        """Every slide joint's velocity (m/s)."""
        return {j: float(self.data.qvel[a]) for j, a in self._vadr.items()}

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Object name -> (position (x, y, z) in m, orientation quaternion (w, x, y, z)), world.

        Read from the joints rather than `data.xpos`, which `mj_step` leaves one physics step
        behind `qpos`; this way a pose agrees exactly with the observation built from qpos.
        """
        q = self.joint_positions()
        poses = {}
        for o, (pos, quat) in self._rest.items():
            poses[o] = (pos + np.array([q[f"{o}_x"], q[f"{o}_y"], 0.0]), quat.copy())
        return poses

    def observe(self) -> np.ndarray:
        q = self.joint_positions()
        objects = {o: (q[f"{o}_x"], q[f"{o}_y"]) for o in self.suite.objects}
        return build_observation(
            self.suite.joints, self.suite.objects, q, self.joint_velocities(), objects
        )


class PointMassEnv(gym.Env):
    """A suite's scene with one task active per episode.

    Actions are joint velocity commands in [-1, 1] m/s. The task is an index into `tasks`,
    chosen at reset with `options={"task": i}` (default: uniformly at random).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(self, suite: str | Suite, tasks: list[str], seed: int | None = None):
        self.suite = get_suite(suite) if isinstance(suite, str) else suite
        for t in tasks:
            self.suite.task_goals(t)  # raises on an unknown task name
        self.tasks = list(tasks)
        self.scene = PointMassScene(self.suite)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.suite.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.suite.action_dim,), np.float32)
        self.task = 0
        self.steps = 0
        self.np_random, _ = gym.utils.seeding.np_random(seed)

    def observe(self) -> np.ndarray:
        return self.scene.observe()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        self.task = int(options.get("task", self.np_random.integers(len(self.tasks))))
        self.scene.reset(self.np_random)
        self.steps = 0
        return self.observe(), {"task": self.task}

    def step(self, action: np.ndarray):
        self.scene.step(action)
        self.steps += 1
        obs = self.observe()
        r = float(reward(self.suite, self.tasks[self.task], obs))
        truncated = self.steps >= self.suite.episode_steps
        return (
            obs,
            r,
            False,
            truncated,
            {"task": self.task, "goal": int(goal_index(self.suite, obs))},
        )
