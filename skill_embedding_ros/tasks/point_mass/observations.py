"""The point mass's observation, built from what a robot publishes: joint states and object poses.

Layout: joint positions, joint velocities, then the planar (x, y) position of each object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from skill_embedding_ros.tasks.suite import Observer, Pose


def observation_size(joints: Sequence[str], objects: Sequence[str]) -> int:
    """Length of the vector `build_observation` returns."""
    return 2 * len(joints) + 2 * len(objects)


def build_observation(
    joints: Sequence[str],
    objects: Sequence[str],
    joint_positions: Mapping[str, float],
    joint_velocities: Mapping[str, float],
    object_poses: Mapping[str, Pose],
) -> np.ndarray:
    """Assemble the observation; raise a ValueError naming anything missing or non-finite.

    joint_positions / joint_velocities: joint name -> m (or rad) and m/s (or rad/s).
    object_poses: object name -> (position (x, y, z) in the world frame, metres; orientation).
    """
    try:  # the lookups themselves find what is missing: built once per control step
        parts = [joint_positions[j] for j in joints] + [joint_velocities[j] for j in joints]
        for o in objects:
            parts += object_poses[o][0][:2].tolist()  # floats: numpy scalars cast slowly
    except KeyError:
        missing = [j for j in joints if j not in joint_positions or j not in joint_velocities]
        missing += [o for o in objects if o not in object_poses]
        raise ValueError(
            f"observation is missing {missing}; expected joints {list(joints)} "
            f"and objects {list(objects)}"
        ) from None
    obs = np.array(parts, np.float32)
    # After the cast, so a float64 too large for float32 is caught too; as Python floats,
    # because on a few values math.isfinite beats numpy's isfinite and all (0.5 vs 2.1 µs on 8).
    if not all(map(math.isfinite, obs.tolist())):
        raise ValueError(f"non-finite value in observation {obs.tolist()}")
    return obs


class PlanarObserver(Observer):
    """`build_observation` as the suite's observer (stateless)."""

    def __init__(self, joints: Sequence[str], objects: Sequence[str]):
        self.joints, self.objects = tuple(joints), tuple(objects)

    def __call__(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        poses: Mapping[str, Pose],
        stamp_ns: int,
    ) -> np.ndarray:
        return build_observation(self.joints, self.objects, positions, velocities, poses)
