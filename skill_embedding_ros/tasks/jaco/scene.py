"""The Jaco scene as a simulated robot: the arm and hand on the bench, a block, a goal marker and
the task's elements (walls, the platform, the spring, the rail) (ROS-free).

It simulates the very text the gate reads (`suite.description()`), reads the joints by name as
`joint_states` would carry them, and reports two tracked objects: the block, and the goal as a
marker's pose, the way a real setup publishes a target it shows the robot. The goal is drawn at
each reset, so a task's goal reaches the observation through the same topics on every path
(in process, the ROS 2 graph, a bag) without a goal field anywhere in the generic code.

Every task shares the one model (props.py); `reset` configures it for the episode's task
(layouts.py): unused walls, the platform and (rail-lift) the bench's workspace parked below the
floor, the spring's stiffness on or off, the rail's weld on or off.
"""

from __future__ import annotations

import mujoco
import numpy as np
from transforms3d.euler import euler2quat

from skill_embedding_ros.tasks.jaco import layouts
from skill_embedding_ros.tasks.jaco.model import ARM, FINGERS, JOINTS
from skill_embedding_ros.tasks.jaco.props import (
    PARKED,
    PLATFORM_TOP,
    SPRING_DAMPING,
    SPRING_STIFFNESS,
    WALL_HALF,
    WALLS,
    WORKSPACE,
)
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
        m = self.model = mujoco.MjModel.from_xml_string(suite.description())
        self.data = mujoco.MjData(m)
        self.substeps = round(self.control_period / m.opt.timestep)
        if not np.isclose(self.substeps * m.opt.timestep, self.control_period):
            raise ValueError(f"control period {self.control_period} s is not whole physics steps")
        self._qadr = np.array([m.joint(j).qposadr[0] for j in JOINTS])
        self._vadr = np.array([m.joint(j).dofadr[0] for j in JOINTS])
        # ctrl is indexed by actuator; the description names each actuator for its joint.
        self._ctrl = np.array([m.actuator(j).id for j in JOINTS])
        self._low, self._high = m.actuator_ctrlrange[self._ctrl].T
        self._block = m.joint("block").qposadr[0]
        self._goal = m.body("goal").mocapid[0]
        self._finger_low = m.jnt_range[[m.joint(f).id for f in FINGERS], 0]
        self._walls = [m.body(w).mocapid[0] for w in WALLS]
        self._platform = m.body("platform").mocapid[0]
        self._table = m.body("table").mocapid[0]
        self._anchor = m.site("spring_anchor").id
        self._spring = m.tendon("spring").id
        self._rail = m.body("rail").id
        self._carriage = m.joint("carriage").qposadr[0]
        self._weld = m.equality("rail").id
        self.layout: layouts.Layout | None = None

    def description(self) -> str:
        return self.suite.description()

    def reset(self, rng: np.random.Generator, task: str | None = None) -> None:
        """A new start for `task` (None: layouts.DEFAULT): the arm within `start_noise`
        rad of home, the fingers open (up to 0.1 rad closed), the block at rest and the goal and
        scene elements where the task's layout puts them (layouts.py)."""
        s, m, d = self.suite, self.model, self.data
        layout = layouts.draw(task or layouts.DEFAULT, rng)
        mujoco.mj_resetData(m, d)
        arm = np.asarray(s.home) + rng.uniform(-s.start_noise, s.start_noise, len(ARM))
        fingers = self._finger_low + rng.uniform(0.0, 0.1, len(FINGERS))
        d.qpos[self._qadr] = np.concatenate([arm, fingers])
        x, y, z, yaw = layout.block
        d.qpos[self._block : self._block + 7] = [x, y, z, *euler2quat(0, 0, yaw)]
        d.mocap_pos[self._goal] = layout.goal
        for k, wall in enumerate(self._walls):
            if k < len(layout.walls):
                wx, wy, wyaw = layout.walls[k]
                d.mocap_pos[wall] = (wx, wy, WALL_HALF[2])
                d.mocap_quat[wall] = euler2quat(0, 0, wyaw)
            else:
                d.mocap_pos[wall] = PARKED
        d.mocap_pos[self._table] = WORKSPACE if layout.table else PARKED
        platform = layout.platform
        d.mocap_pos[self._platform] = PARKED if platform is None else (*platform, PLATFORM_TOP / 2)
        m.site_pos[self._anchor] = (x, y, z) if layout.spring else PARKED
        m.tendon_stiffness[self._spring] = SPRING_STIFFNESS if layout.spring else 0.0
        m.tendon_damping[self._spring] = SPRING_DAMPING if layout.spring else 0.0
        # The carriage starts where the block does, so the weld holds it there from the start.
        m.body_pos[self._rail] = (x, y, z) if layout.rail else PARKED
        m.body_quat[self._rail] = euler2quat(0, 0, yaw) if layout.rail else (1, 0, 0, 0)
        d.eq_active[self._weld] = layout.rail
        d.ctrl[:] = 0.0
        self.layout = layout
        mujoco.mj_forward(m, d)

    def step(self, command: np.ndarray) -> np.ndarray:
        """Advance one control period; return the command actually applied (after clipping).
        A rail that lets go at a height does so once the carriage reaches it."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (len(JOINTS),) or not np.all(np.isfinite(command)):
            raise ValueError(f"command must be {len(JOINTS)} finite numbers, got {command}")
        applied = np.clip(command, self._low, self._high)
        self.data.ctrl[self._ctrl] = applied
        release = None if self.layout is None else self.layout.release
        if release is None or not self.data.eq_active[self._weld]:
            mujoco.mj_step(self.model, self.data, self.substeps)
            return applied
        for _ in range(self.substeps):  # watch the carriage every physics step
            mujoco.mj_step(self.model, self.data)
            if self.data.qpos[self._carriage] >= release:
                self.data.eq_active[self._weld] = False
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
