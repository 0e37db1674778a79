"""The pinhole camera of a picture and where it stands (ROS-free).

Frames follow ROS's optical convention (REP 103, a camera's `_optical_frame`): x right and y down
in the image, z forward along the view. A camera's pose in the world is that frame's pose: its
centre (m) and its orientation (quaternion w, x, y, z), as `tasks.suite.Pose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

from skill_embedding_ros.tasks.suite import Pose

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial")
"""CameraInfo distortion models OpenCV's pinhole model reads (k1 k2 p1 p2 k3 [k4 k5 k6]); "" is
taken as plumb_bob when every coefficient is zero (an ideal or rectified camera)."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """What sensor_msgs/CameraInfo says about a camera's optics, by the same field names."""

    width: int
    """Image columns (px)."""
    height: int
    """Image rows (px)."""
    k: tuple[float, ...]
    """The 3x3 camera matrix, row-major: fx 0 cx / 0 fy cy / 0 0 1 (px; pixel centres at whole
    coordinates, OpenCV's and ROS's convention)."""
    d: tuple[float, ...] = ()
    """Distortion coefficients of `distortion_model` (none: no distortion)."""
    distortion_model: str = "plumb_bob"

    def __post_init__(self):
        if self.width < 1 or self.height < 1:
            raise ValueError(f"camera size must be positive, got {self.width} x {self.height}")
        k = np.asarray(self.k, np.float64)
        if k.shape != (9,) or not np.all(np.isfinite(k)) or k[0] <= 0 or k[4] <= 0:
            raise ValueError(
                f"camera matrix k must be 9 finite numbers with fx, fy > 0, got {self.k}: "
                "is the camera calibrated (CameraInfo.k all zero means it is not)?"
            )
        if any(self.d) and self.distortion_model not in DISTORTION_MODELS:
            raise ValueError(
                f"distortion model {self.distortion_model!r} is not supported; use one of "
                f"{list(DISTORTION_MODELS)} or rectified images (d all zero)"
            )
        if not np.all(np.isfinite(np.asarray(self.d, np.float64))):
            raise ValueError(f"distortion coefficients must be finite, got {self.d}")

    @property
    def matrix(self) -> np.ndarray:
        """K as a 3x3 array."""
        return np.asarray(self.k, np.float64).reshape(3, 3)

    @property
    def distortion(self) -> np.ndarray:
        """The coefficients as OpenCV takes them (five zeros when there are none)."""
        return np.asarray(self.d, np.float64) if any(self.d) else np.zeros(5)


def from_fovy(width: int, height: int, fovy_deg: float) -> CameraIntrinsics:
    """An ideal pinhole camera (square pixels, principal point at the image centre, no
    distortion) whose view spans `fovy_deg` degrees vertically, as MuJoCo's cameras are."""
    f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
    # Pixel centres sit at whole coordinates, so the centre of W pixels is (W - 1) / 2.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return CameraIntrinsics(width, height, (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0))


def camera_info_fields(intrinsics: CameraIntrinsics) -> dict:
    """The sensor_msgs/CameraInfo fields of `intrinsics` (width, height, distortion_model, d, k,
    r, p) as plain numbers, for a publisher to copy into its message: r is the identity and p
    is [K | 0] (a monocular camera that is its own rectified frame)."""
    k = [float(v) for v in intrinsics.k]
    return {
        "width": int(intrinsics.width),
        "height": int(intrinsics.height),
        "distortion_model": intrinsics.distortion_model,
        "d": [float(v) for v in intrinsics.d] or [0.0] * 5,
        "k": k,
        "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "p": [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0],
    }


def intrinsics_from_fields(
    width: int, height: int, k, d=(), distortion_model: str = "plumb_bob"
) -> CameraIntrinsics:
    """`CameraIntrinsics` from a CameraInfo's fields (ValueError saying what is wrong)."""
    return CameraIntrinsics(
        int(width), int(height), tuple(float(v) for v in k), tuple(float(v) for v in d),
        distortion_model or "plumb_bob",
    )  # fmt: skip


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> Pose:
    """The optical-frame pose of a camera at `eye` looking at `target` (m, world), image up as
    close to `up` as the view allows."""
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    forward = target - eye
    right = np.cross(forward, np.asarray(up, np.float64))
    if np.linalg.norm(forward) < 1e-9 or np.linalg.norm(right) < 1e-9:
        raise ValueError(f"cannot look from {eye} at {target} with up {up}")
    z = forward / np.linalg.norm(forward)
    x = right / np.linalg.norm(right)
    rotation = np.column_stack([x, np.cross(z, x), z])
    return eye, mat2quat(rotation)


def transform(pose: Pose, rotation: np.ndarray, translation: np.ndarray) -> Pose:
    """A pose given in `pose`'s frame (rotation 3x3, translation m) expressed in the frame
    `pose` is given in: world_T_object = world_T_camera * camera_T_object."""
    position, quat = pose
    r = quat2mat(np.asarray(quat, np.float64) / np.linalg.norm(quat))
    world_r = r @ rotation
    quat_out = mat2quat(world_r)
    if quat_out[0] < 0:  # one of the two equal quaternions, always the same one
        quat_out = -quat_out
    return np.asarray(position, np.float64) + r @ translation, quat_out


DEFAULT_EYE = (0.95, 0.0, 0.65)
"""m, world: where the default camera stands, above the bench's front half, facing the arm."""
DEFAULT_TARGET = (0.5, 0.0, 0.05)
"""m, world: what it looks at, the middle of the Jaco's workspace (tasks/jaco/layouts.py: blocks
and goals lie at x 0.4-0.65 m, y within 0.25 m); from 0.75 m away, 53 degrees down."""
DEFAULT_POSE = look_at(DEFAULT_EYE, DEFAULT_TARGET)
"""The default camera's optical-frame pose in the world (the simulated camera's, and the ArUco
node's default extrinsic, so the two agree unless told otherwise)."""
