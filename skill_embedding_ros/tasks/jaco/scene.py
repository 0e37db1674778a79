"""The Jaco scene as a simulated robot: the arm and hand on the table, a block, a goal marker
(ROS-free).

It simulates the very text the gate reads (`suite.description()`), reads the joints by name as
`joint_states` would carry them, and reports two tracked objects: the block, and the goal as a
marker's pose, the way a real setup publishes a target it shows the robot. The goal is drawn at
each reset, so a task's goal reaches the observation through the same topics on every path
(in process, the ROS 2 graph, a bag) without a goal field anywhere in the generic code.
"""

from __future__ import annotations

import mujoco
import numpy as np
from transforms3d.euler import euler2quat

from skill_embedding_ros.tasks.jaco.model import ARM, BLOCK_HALF, FINGERS, JOINTS
from skill_embedding_ros.tasks.suite import Pose, Scene


class JacoScene(Scene):
    """One Jaco scene: commands are the suite's actuator kind (N·m or rad/s) per joint in
    `JOINTS` order, clipped to the actuators' command ranges (the datasheet limits); one `step`
    is `control_period` s of `substeps` physics steps."""

    joints = JOINTS

    def __init__(self, suite):
        self.suite = suite
        self.actuator = suite.actuator
        self.control_period = suite.control_period
        self.model = mujoco.MjModel.from_xml_string(suite.description())
        self.data = mujoco.MjData(self.model)
        self.substeps = round(self.control_period / self.model.opt.timestep)
        if not np.isclose(self.substeps * self.model.opt.timestep, self.control_period):
            raise ValueError(f"control period {self.control_period} s is not whole physics steps")
        self._qadr = np.array([self.model.joint(j).qposadr[0] for j in JOINTS])
        self._vadr = np.array([self.model.joint(j).dofadr[0] for j in JOINTS])
        # ctrl is indexed by actuator; the description names each actuator for its joint.
        self._ctrl = np.array([self.model.actuator(j).id for j in JOINTS])
        self._low, self._high = self.model.actuator_ctrlrange[self._ctrl].T
        self._block = self.model.joint("block").qposadr[0]
        self._goal = self.model.body("goal").mocapid[0]
        self._finger_low = self.model.jnt_range[[self.model.joint(f).id for f in FINGERS], 0]

    def description(self) -> str:
        return self.suite.description()

    def reset(self, rng: np.random.Generator) -> None:
        """A new start: the arm within `start_noise` rad of home, the fingers open (up to 0.1 rad
        closed), the block at rest anywhere in its region with any yaw, and a goal drawn for it."""
        s = self.suite
        mujoco.mj_resetData(self.model, self.data)
        arm = np.asarray(s.home) + rng.uniform(-s.start_noise, s.start_noise, len(ARM))
        fingers = self._finger_low + rng.uniform(0.0, 0.1, len(FINGERS))
        self.data.qpos[self._qadr] = np.concatenate([arm, fingers])
        block = np.array([rng.uniform(*s.block_region[0]), rng.uniform(*s.block_region[1])])
        yaw = rng.uniform(-np.pi, np.pi)
        self.data.qpos[self._block : self._block + 7] = [
            *block,
            BLOCK_HALF,
            *euler2quat(0, 0, yaw),
        ]
        self.data.mocap_pos[self._goal] = [*s.draw_goal(rng, block), BLOCK_HALF]
        self.data.ctrl[:] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def step(self, command: np.ndarray) -> np.ndarray:
        """Advance one control period; return the command actually applied (after clipping)."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (len(JOINTS),) or not np.all(np.isfinite(command)):
            raise ValueError(f"command must be {len(JOINTS)} finite numbers, got {command}")
        applied = np.clip(command, self._low, self._high)
        self.data.ctrl[self._ctrl] = applied
        mujoco.mj_step(self.model, self.data, self.substeps)
        return applied

    def joint_positions(self) -> dict[str, float]:
        """The arm's and the fingers' angles (rad); continuous joints unwrapped."""
        return dict(zip(JOINTS, self.data.qpos[self._qadr].tolist(), strict=True))

    def joint_velocities(self) -> dict[str, float]:
        return dict(zip(JOINTS, self.data.qvel[self._vadr].tolist(), strict=True))

    def object_poses(self) -> dict[str, Pose]:
        """The block's pose from its free joint (`data.xpos` lags `qpos` by a physics step after
        `mj_step`) and the goal marker's."""
        block = self.data.qpos[self._block : self._block + 7]
        goal = (self.data.mocap_pos[self._goal].copy(), self.data.mocap_quat[self._goal].copy())
        return {"block": (block[:3].copy(), block[3:].copy()), "goal": goal}
