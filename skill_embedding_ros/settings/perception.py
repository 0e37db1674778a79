"""The ArUco pose node's parameters (ros/params.py declares them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from skill_embedding_ros.perception.camera import DEFAULT_EYE, DEFAULT_POSE
from skill_embedding_ros.settings.base import Settings, choice, integer, items, number, text
from skill_embedding_ros.tasks.jaco.props import BLOCK_HALF

DICTIONARIES = tuple(
    [f"DICT_{n}X{n}_{size}" for n in (4, 5, 6, 7) for size in (50, 100, 250, 1000)]
    + ["DICT_ARUCO_ORIGINAL", "DICT_APRILTAG_16h5", "DICT_APRILTAG_25h9"]
    + ["DICT_APRILTAG_36h10", "DICT_APRILTAG_36h11", "DICT_ARUCO_MIP_36h12"]
)
"""OpenCV's predefined marker dictionaries (cv2.aruco), by their OpenCV names."""


def _unit(values: tuple) -> bool:
    return len(values) == 4 and abs(math.sqrt(sum(v * v for v in values)) - 1.0) <= 1e-3


@dataclass
class ArucoConfig(Settings):
    """ArUco pose node: camera images to the stamped pose of a marked object."""

    image: str = text("camera/image_raw", nonempty=True)
    """sensor_msgs/Image topic (rgb8, bgr8, rgba8, bgra8 or mono8; relative names are in the
    node's namespace)."""
    camera_info: str = text("camera/camera_info", nonempty=True)
    """sensor_msgs/CameraInfo topic of the same camera: K and the distortion (the latest
    received is used)."""
    object: str = text("block", nonempty=True)
    """The marked object: the pose goes to objects/<object>/pose (topic_names.py)."""
    frame_id: str = text("world", nonempty=True)
    """Frame of the published pose: the frame the camera's pose below is given in."""
    camera_position: tuple = items(DEFAULT_EYE, float, "three numbers (m)", lambda v: len(v) == 3)
    """m: x y z of the camera's optical centre in `frame_id` (its extrinsic calibration).
    Default: the simulated camera's (perception/camera.py DEFAULT_POSE)."""
    camera_orientation: tuple = items(
        tuple(float(v) for v in DEFAULT_POSE[1]), float, "a unit quaternion qw qx qy qz", _unit
    )
    """qw qx qy qz: the camera's optical frame (x right, y down in the image, z forward) in
    `frame_id`. Default: the simulated camera's, looking at the Jaco's workspace from 0.75 m."""
    dictionary: str = choice("DICT_4X4_50", DICTIONARIES)
    """The marker's dictionary (OpenCV's predefined ArUco and AprilTag families)."""
    marker_id: int = integer(0, ">= 0")
    """The marker on the object (others in view are ignored); within the dictionary's ids."""
    marker_side: float = number(0.04, "positive")
    """m: edge of the marker's black square (its outer border included, its white margin
    not)."""
    depth: float = number(BLOCK_HALF, ">= 0")
    """m: from the marker's face to the object's centre, along the face's inward normal (the
    marker lies on the top face: the Jaco block's half edge)."""
    warn_after: float = number(2.0, "positive")
    """s: warn when the marker has not been seen for this long, and again every `warn_after`
    s while it stays unseen."""


@dataclass
class StaticPoseConfig(Settings):
    """Static pose node: a fixed object's pose, stamped like the robot's joint states."""

    object: str = text("goal", nonempty=True)
    """The object: the pose goes to objects/<object>/pose (topic_names.py)."""
    position: tuple = items((0.0, 0.0, 0.0), float, "three numbers (m)", lambda v: len(v) == 3)
    """Where the object is, in `frame_id` (m)."""
    orientation: tuple = items((1.0, 0.0, 0.0, 0.0), float, "a unit quaternion qw qx qy qz", _unit)
    """Its orientation in `frame_id` (w, x, y, z)."""
    frame_id: str = text("world", nonempty=True)
    """Frame of the published pose."""
    every: float = number(0.01, "positive")
    """s of joint-state time between published poses: well under a quarter control period, so
    every state the policy takes has a pose within its tolerance (control/state_sync.py)."""
