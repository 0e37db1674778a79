"""The Jaco suite's 34-D observation (the paper's), built from what a real robot publishes:
`joint_states` by name, the block's stamped pose and the goal marker's pose.

What the topics do not carry is derived here, never read from a simulator:
* the end effector's position by forward kinematics of the robot description (the observer's
  own MjData on the description's model: the arm's angles in, the grip site's position out);
* the block's linear velocity from its pose history: the displacement since the last pose over
  the time between their stamps (0 for an episode's first pose);
* the block's orientation as a unit quaternion with w >= 0 (q and -q are one rotation; one sign
  keeps the observation a function of the pose).
"""

from __future__ import annotations

from collections.abc import Mapping

import mujoco
import numpy as np
from transforms3d.quaternions import qnorm

from skill_embedding_ros.tasks.jaco.model import ARM, FINGERS, GRIP_SITE
from skill_embedding_ros.tasks.suite import Observer, Pose

LAYOUT = (
    ("arm_angle", 6, "rad, joint_1..joint_6 (continuous joints unwrapped)"),
    ("arm_velocity", 6, "rad/s"),
    ("finger_angle", 3, "rad, finger_1..finger_3 (0.15 open .. 1.35 closed)"),
    ("finger_velocity", 3, "rad/s"),
    ("end_effector", 3, "m, world: the grip site by forward kinematics"),
    ("block_position", 3, "m, world"),
    ("block_orientation", 4, "unit quaternion (w, x, y, z), w >= 0"),
    ("block_velocity", 3, "m/s, world: finite difference of the block's poses"),
    ("goal", 3, "m, world: the goal marker's position"),
)
"""The observation, in order: (name, size, units)."""
_ENDS = np.cumsum([size for _, size, _ in LAYOUT]).tolist()
SLICES = {name: slice(end - size, end) for (name, size, _), end in zip(LAYOUT, _ENDS, strict=True)}
OBS_DIM = _ENDS[-1]
"""34: the paper's manipulation observation."""
OBJECTS = ("block", "goal")


class JacoObserver(Observer):
    """Builds `LAYOUT` from joint states, the block's pose and the goal's (stateful: the block's
    velocity needs its last pose; `reset` at each episode start)."""

    def __init__(self, model):
        """model: an MjModel of the robot description, used for forward kinematics only (it may
        be shared; this observer has its own MjData)."""
        self.model = model
        self.data = mujoco.MjData(model)
        self._arm = np.array([model.joint(j).qposadr[0] for j in ARM])
        self._site = model.site(GRIP_SITE).id
        self.reset()

    def reset(self) -> None:
        self._last: tuple[int, np.ndarray] | None = None
        self._velocity = np.zeros(3)

    def end_effector(self, arm_angles: np.ndarray) -> np.ndarray:
        """The grip site's world position (m) with the arm at `arm_angles` (rad, ARM order)."""
        self.data.qpos[self._arm] = arm_angles
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy()

    def __call__(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        poses: Mapping[str, Pose],
        stamp_ns: int,
    ) -> np.ndarray:
        joints = ARM + FINGERS
        missing = [j for j in joints if j not in positions or j not in velocities]
        missing += [o for o in OBJECTS if o not in poses]
        if missing:
            raise ValueError(
                f"observation is missing {missing}; expected joints {list(joints)} "
                f"and objects {list(OBJECTS)}"
            )
        angles = np.array([positions[j] for j in ARM], np.float64)
        position = np.asarray(poses["block"][0], np.float64)
        orientation = np.asarray(poses["block"][1], np.float64)
        if not (np.all(np.isfinite(orientation)) and qnorm(orientation) > 0):
            raise ValueError(f"block orientation {orientation.tolist()} is not a quaternion")
        parts = [
            angles,
            [velocities[j] for j in ARM],
            [positions[j] for j in FINGERS],
            [velocities[j] for j in FINGERS],
            self.end_effector(angles),
            position,
            _unit(orientation),
            self._block_velocity(position, stamp_ns),
            np.asarray(poses["goal"][0], np.float64),
        ]
        obs = np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(np.float32)
        if not np.all(np.isfinite(obs)):
            bad = [n for n, _, _ in LAYOUT if not np.all(np.isfinite(obs[SLICES[n]]))]
            raise ValueError(f"non-finite value in observation ({bad}): {obs.tolist()}")
        return obs

    def _block_velocity(self, position: np.ndarray, stamp_ns: int) -> np.ndarray:
        """(position - last position) / (stamp - last stamp); a repeated or older stamp is the
        same reading again and keeps the last velocity."""
        if self._last is not None and stamp_ns > self._last[0]:
            dt = (stamp_ns - self._last[0]) * 1e-9
            self._velocity = (position - self._last[1]) / dt
        if self._last is None or stamp_ns > self._last[0]:
            self._last = (stamp_ns, position.copy())
        return self._velocity


def _unit(q: np.ndarray) -> np.ndarray:
    """The unit quaternion of q's rotation with w >= 0 (of the two, q and -q)."""
    q = q / qnorm(q)
    return -q if q[0] < 0 else q
