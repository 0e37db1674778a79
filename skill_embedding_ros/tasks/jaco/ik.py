"""Inverse kinematics on the Jaco description: joint velocities that move the grip site towards a
Cartesian target with the hand pointing down (ROS-free, NumPy and MuJoCo only).

Damped least squares on the grip site's Jacobian (MuJoCo's `mj_jacSite` on the description's own
model): qd = J^T (J J^T + lambda^2 I)^-1 [v; w]. Only the arm's angles enter (from the 34-D
observation), so the same solver drives a simulated scene, a real arm, or a demonstration.
"""

from __future__ import annotations

import mujoco
import numpy as np

from skill_embedding_ros.tasks.jaco.model import ARM, GRIP_SITE

DAMPING = 0.05
"""lambda (m or rad): keeps the step bounded near a singularity (the arm stretched out); small
enough that the tracking error at the targets used here stays below a millimetre."""
GAIN = 8.0
"""1/s: Cartesian proportional gain; a 2 cm error asks for 0.16 m/s (0.4 of the error per 0.05 s
control period: fast, and still well inside the discrete loop's stability bound of 2)."""
TURN_GAIN = 3.0
"""1/s: orientation gain (pointing down, and the fingers' closing axis about the vertical)."""


class GripIK:
    """Cartesian velocity control of the grip site by damped least squares."""

    def __init__(self, model):
        """model: an MjModel of the suite's description (shared; the solver has its own MjData)."""
        self.model = model
        self.data = mujoco.MjData(model)
        self._qadr = np.array([model.joint(j).qposadr[0] for j in ARM])
        self._dofs = np.array([model.joint(j).dofadr[0] for j in ARM])
        self._site = model.site(GRIP_SITE).id

    def pose(self, arm_angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The grip site's world position and rotation matrix with the arm at `arm_angles`."""
        self.data.qpos[self._qadr] = arm_angles
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        site = self._site
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    def velocities(
        self,
        arm_angles: np.ndarray,
        target: np.ndarray,
        yaw: float | None = None,
        speed: float = 0.25,
    ) -> np.ndarray:
        """Arm joint velocities (rad/s, ARM order) towards `target` (m, world) at up to `speed`
        m/s, turning the site's z axis to point down and, given `yaw` (rad), its x axis (the
        fingers' closing direction) to that heading modulo a half turn."""
        position, rotation = self.pose(arm_angles)
        v = GAIN * (np.asarray(target, np.float64) - position)
        norm = np.linalg.norm(v)
        if norm > speed:
            v *= speed / norm
        w = TURN_GAIN * np.cross(rotation[:, 2], [0.0, 0.0, -1.0])
        if yaw is not None:
            x = rotation[:, 0]
            error = np.arctan2(np.sin(yaw) * x[0] - np.cos(yaw) * x[1], np.dot(x[:2], _unit(yaw)))
            # The hand's two closing sides are alike: turn the shorter way to either heading.
            error = (error + np.pi / 2) % np.pi - np.pi / 2
            w[2] += TURN_GAIN * error
        jp, jr = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jp, jr, self._site)
        jac = np.vstack([jp[:, self._dofs], jr[:, self._dofs]])
        return jac.T @ np.linalg.solve(jac @ jac.T + DAMPING**2 * np.eye(6), np.r_[v, w])


def _unit(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw), np.sin(yaw)])
