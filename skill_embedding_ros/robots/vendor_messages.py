"""What a vendor's ros2_control stack takes and publishes, in the model's terms (ROS-free): a
velocity controller's command and a joint_trajectory_controller's trajectory (vendor names, the
controllers' orders) turned into model joint names, and the suite's URDF renamed as the vendor's
robot_state_publisher would publish it. The hardware emulator (ros/arm_emulator.py) checks and
converts every inbound message with these before it reaches the emulated arm.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skill_embedding_ros.robots.ros2_control import RobotConfig, rename_joints


@dataclass(frozen=True)
class Trajectory:
    """A joint trajectory in model joint names: `positions[k]` (rad, one per joint) is to be
    reached `times[k]` s after the trajectory starts; times strictly increase from >= 0."""

    joints: tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray


def parse_trajectory(
    robot: RobotConfig, names: Sequence[str], times: Sequence[float], positions
) -> Trajectory:
    """A Trajectory from a JointTrajectory's content: joint_names (vendor names, any order, a
    subset allowed: the others hold where they are), each point's time_from_start (s) and
    positions (velocities, if given, are not used: segments are linear). No points: stop and
    hold. ValueError says what is wrong and what is expected."""
    model = robot.model()
    unknown = [n for n in names if n not in model]
    if unknown:
        raise ValueError(f"unknown joint(s) {unknown}; this arm's joints are {sorted(model)}")
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if times.size == 0:  # as a joint_trajectory_controller: stop and hold where it is
        return Trajectory((), times, np.zeros((0, 0)))
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"joint_names must name each joint once, got {list(names)}")
    lengths = [len(p) for p in positions]
    if lengths != [len(names)] * times.size:
        raise ValueError(
            f"each point needs {len(names)} positions (one per joint_names entry), got {lengths}"
        )
    pos = np.asarray(positions, dtype=np.float64)
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(pos))):
        raise ValueError("positions and time_from_start must be finite")
    if times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError(f"time_from_start must increase strictly from >= 0, got {times.tolist()}")
    return Trajectory(tuple(model[n] for n in names), times, pos)


def vendor_command(robot: RobotConfig, values) -> dict[str, float]:
    """A velocity controller's command (one value per joint of its `joints`, in that order) ->
    rad/s per model joint, keyed by name. ValueError for a wrong length or a non-finite value."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    joints = robot.velocity.joints
    if values.size != len(joints):
        raise ValueError(
            f"a velocity command needs {len(joints)} values, one per joint of "
            f"{robot.velocity.name} in order {list(joints)}; got {values.size}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"a velocity command must be finite, got {values.tolist()}")
    model = robot.model()
    return dict(zip((model[v] for v in joints), values.tolist(), strict=True))


def vendor_urdf(urdf: str, robot: RobotConfig) -> str:
    """The suite's URDF with each joint named as the vendor names it (joints, mimics and
    transmissions; links keep their names): what the vendor stack's robot_state_publisher
    would publish. Comments (the generator's header) are kept."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(urdf, parser=parser)
    missing = sorted(set(robot.joints) - rename_joints(root, robot.joints))
    if missing:
        raise ValueError(f"the suite's URDF has no joint(s) {missing} of the robot config")
    return ET.tostring(root, encoding="unicode")
