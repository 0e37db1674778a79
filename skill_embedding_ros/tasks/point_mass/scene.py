"""The point-mass scene: the mass (and any objects) on slide joints, velocity-servoed (ROS-free).

It owns the physics (model, data, start randomization, one control step); the Gymnasium env
(tasks/env.py) and the ROS sim bridge both drive it, so training in process and through the node
graph simulate exactly the same thing.
"""

from __future__ import annotations

import mujoco
import numpy as np

from skill_embedding_ros.tasks.suite import Scene


class PointMassScene(Scene):
    """A suite's MuJoCo scene: the mass on slide joints (and any objects on their own slides).

    Commands are joint velocities in m/s (or forces in N, for a suite whose actuator is torque),
    clipped to [-1, 1] (the actuators' ctrlrange); one `step` advances one control period
    (`suite.control_period` s, `substeps` physics steps).
    """

    def __init__(self, suite):
        self.suite = suite
        self.actuator = suite.actuator
        self.joints = suite.joints
        self.control_period = suite.control_period
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

    def reset(self, rng: np.random.Generator, task: str | None = None) -> None:
        """A new start: the mass and each object uniformly within `start_noise` of nominal
        (every point-mass task starts alike: `task` is not needed)."""
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

    def description(self) -> str:
        return self.suite.description()

    def joint_positions(self) -> dict[str, float]:
        """The mass's joint positions (m)."""
        return {j: float(self.data.qpos[self._qadr[j]]) for j in self.joints}

    def joint_velocities(self) -> dict[str, float]:
        """The mass's joint velocities (m/s)."""
        return {j: float(self.data.qvel[self._vadr[j]]) for j in self.joints}

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Object name -> (position (x, y, z) in m, orientation quaternion (w, x, y, z)), world.

        Read from the joints rather than `data.xpos`, which `mj_step` leaves one physics step
        behind `qpos`; this way a pose agrees exactly with the joints.
        """
        poses = {}
        for o, (pos, quat) in self._rest.items():
            q = [self.data.qpos[self._qadr[f"{o}_{a}"]] for a in "xy"]
            poses[o] = (pos + np.array([q[0], q[1], 0.0]), quat.copy())
        return poses
