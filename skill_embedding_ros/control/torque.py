"""The torque (effort) interface: which efforts keep a joint inside its position, velocity and
effort limits (docs/safety.md, "Torque interface").

Each joint is taken as its own (decoupled) mass m driven by the commanded effort u against viscous
damping d, with gravity absent or compensated below the interface (the robot adds it):

    m dv/dt = u - d v

That is a velocity servo with target w = u / d and time constant tau = m / d, so the account of
control/reach.py holds unchanged with w in place of a commanded velocity: the coasting position
c = x + tau v obeys dc/dt = u / d exactly (for MuJoCo's implicit damping step by step too), and
x never exceeds c's maximum. A stop is zero effort: c then stands still while the joint coasts to
rest at c. So an effort is safe when, acting for the whole horizon (one period in lockstep; until
the watchdog's stop lands in real time) from the worst state the account allows,
* the coasting position stays inside [lower, upper]: d (lower - lowest) / h <= u <=
  d (upper - highest) / h (c moves monotonically under a constant effort, so its end is its
  extreme);
* the velocity at the end of the horizon stays inside +-velocity: v(h) = a v0 + (1 - a) u / d
  with a the fraction left (reach.decay), so u <= d (velocity - a v_high) / (1 - a), and
  likewise from below (v moves monotonically from v0 toward u / d, so its end is its extreme);
* |u| <= effort.
Zero effort always stays allowed: from a state inside the limits (position, velocity and
coasting position) it keeps the joint inside, so the intervals never conflict. Braking passes
(efforts away from a limit, within the velocity and effort limits), but the gate forces none: a
brake computed from bounds that are only bounds (the lockstep margin, a real-time hold) drove a
joint past its velocity limit the other way in the property test's first version.
A joint without damping never stops at zero effort, and one whose inertia is unknown cannot be
bounded: the gate refuses to start in torque mode on either (`TorqueJoints.of`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.reach import decay

NEEDS = (
    ("inertia", "its inertia (from an MJCF; a URDF has none per joint)"),
    ("damping", "its damping (MJCF joint damping, URDF <dynamics damping>): without it a joint "
     "does not stop at zero effort"),
    ("effort", "its effort limit (MJCF actuator forcerange or ctrlrange, joint actuatorfrcrange; "
     "URDF <limit effort>)"),
    ("velocity", "its velocity limit (URDF <limit velocity>)"),
)  # fmt: skip
"""What the torque interface needs of each joint, and where a description gives it."""


@dataclass(frozen=True)
class TorqueJoints:
    """The commanded joints' limits and dynamics for the torque interface, arrays [J] in
    command order: position limits (m or rad), velocity limit (m/s or rad/s), effort limit (N or
    N m), inertia (kg or kg m^2) and damping (N s/m or N m s/rad)."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    inertia: np.ndarray
    damping: np.ndarray

    @classmethod
    def of(cls, joints: Sequence[str], limits: Sequence[JointLimit]) -> TorqueJoints:
        """From the joints' limits (control/joint_limits.py); a ValueError names every joint
        that lacks what the interface needs, what that is and where it comes from."""
        problems = []
        for name, lim in zip(joints, limits, strict=True):
            lacking = [
                why
                for field, why in NEEDS
                if not 0 < getattr(lim, field) < math.inf  # 0: not described; inf: no limit
            ]
            if lacking:
                problems.append(f"joint {name!r} lacks {'; '.join(lacking)}")
        if problems:
            raise ValueError(
                "command_interface torque: "
                + ". ".join(problems)
                + ". Set what is missing with `limits`, e.g. {joint: {inertia: 0.5, damping: 2.0,"
                " velocity: 1.0, effort: 10.0}}"
            )
        return cls(
            *(
                np.array([getattr(lim, f) for lim in limits], float)
                for f in cls.__dataclass_fields__
            )
        )

    @property
    def lag(self) -> np.ndarray:
        """Time constant (s) of each joint's approach to the velocity u / d: m / d."""
        return self.inertia / self.damping

    @property
    def target_speed(self) -> np.ndarray:
        """The fastest target velocity u / d an effort within its limit sets (m/s or rad/s)."""
        return self.effort / self.damping

    def target(self, effort) -> np.ndarray:
        """The velocity an effort drives each joint toward (what control/reach.py accounts)."""
        return np.asarray(effort, dtype=float) / self.damping

    def limit(self, command, lowest, highest, v_low, v_high, horizon: float) -> np.ndarray:
        """`command` (finite efforts [J]) within the effort limit and such that, held for
        `horizon` s from coasting positions in [lowest, highest] and velocities in [v_low,
        v_high] (control/reach.py), no joint passes a position or velocity limit."""
        d, h = self.damping, horizon
        # Velocity: v(h) = a v0 + (1 - a) u / d for a fraction a in [least, most] left; the
        # bound is tightest at one of the two ends.
        least, most = decay(h, h, self.lag)
        up = d * np.minimum(
            (self.velocity - least * v_high) / (1 - least),
            (self.velocity - most * v_high) / (1 - most),
        )
        down = d * np.maximum(
            (-self.velocity - least * v_low) / (1 - least),
            (-self.velocity - most * v_low) / (1 - most),
        )
        # Position: the coasting position moves at u / d; at the horizon's end it is extreme.
        up = np.minimum(up, d * (self.upper - highest) / h)
        down = np.maximum(down, d * (self.lower - lowest) / h)
        # Zero effort stays allowed: from any state inside the limits it keeps the joint inside
        # (c stands still, |v| decays). A brake the gate forced on bounds that are only bounds
        # (the lockstep margin, a realtime hold) would drive the joint toward the other limits.
        limited = np.clip(command, np.minimum(down, 0.0), np.maximum(up, 0.0))
        return np.clip(limited, -self.effort, self.effort)
