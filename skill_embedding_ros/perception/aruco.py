"""A marked object's pose from one picture: ArUco marker -> its pose in the camera frame ->
the object's pose in the world (ROS-free, pure).

* detection: OpenCV's `cv2.aruco.ArucoDetector` with one predefined dictionary; only the
  configured marker id counts (any other marker in view is ignored);
* the marker's pose in the camera (optical) frame: `cv2.solvePnP` with SOLVEPNP_IPPE_SQUARE on
  its four corners, the marker's own frame being OpenCV's: origin at its centre, x to the right
  and y to the top of the marker image, z out of its face;
* the object: the marker lies on the object's top face, its image's top towards the object's +y
  and its right towards +x, so the object's frame is the marker's turned by nothing and shifted
  `depth` (the Jaco block's half edge) along -z, into the object;
* the world: through the camera's fixed pose (its extrinsic calibration).

No marker (not in view, hidden, too small or blurred to decode, another id) means None: never a
stale or a guessed pose. Degenerate solutions (behind the camera, not finite) are None too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from skill_embedding_ros.perception.camera import CameraIntrinsics, transform
from skill_embedding_ros.tasks.suite import Pose


def dictionary(name: str):
    """OpenCV's predefined ArUco dictionary `name` (e.g. "DICT_4X4_50")."""
    code = getattr(cv2.aruco, name, None) if name.startswith("DICT_") else None
    if not isinstance(code, int):
        raise ValueError(
            f"unknown ArUco dictionary {name!r}; OpenCV's: "
            f"{sorted(n for n in dir(cv2.aruco) if n.startswith('DICT_'))}"
        )
    return cv2.aruco.getPredefinedDictionary(code)


def marker_image(name: str, marker_id: int, pixels: int) -> np.ndarray:
    """The printable marker: [pixels, pixels] uint8, black on white, its one-cell black border
    included (no white margin: print or draw it on a white surface)."""
    return cv2.aruco.generateImageMarker(dictionary(name), marker_id, pixels)


def corner_points(side: float) -> np.ndarray:
    """The marker's corners in its own frame (m), [4, 3] float64, in ArUco's order (top left,
    top right, bottom right, bottom left) as IPPE_SQUARE requires them."""
    h = side / 2
    return np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], np.float64)


@dataclass(frozen=True)
class MarkerSighting:
    """One marker seen in one picture."""

    corners: np.ndarray
    """[4, 2] float64 pixel coordinates, ArUco's corner order."""
    rotation: np.ndarray
    """3x3: the marker's frame in the camera's optical frame."""
    translation: np.ndarray
    """m: the marker's centre in the camera's optical frame."""
    reprojection: float
    """px: RMS distance of the corners from where the pose puts them."""


class ArucoLocator:
    """Finds one marker in pictures and turns it into its object's world pose.

    `dictionary_name`: an OpenCV predefined dictionary; `marker_id`: the marker on the object;
    `side`: m, the black square's edge; `depth`: m from the marker's face to the object's
    centre along the face's inward normal; `camera_pose`: the camera's optical frame in the
    world."""

    def __init__(
        self,
        dictionary_name: str,
        marker_id: int,
        side: float,
        depth: float,
        camera_pose: Pose,
    ):
        self.dictionary = dictionary(dictionary_name)
        count = self.dictionary.bytesList.shape[0]
        if not 0 <= marker_id < count:
            raise ValueError(
                f"marker id {marker_id} is not in {dictionary_name}, which has ids 0-{count - 1}"
            )
        if not side > 0 or not depth >= 0:
            raise ValueError(f"marker side must be > 0 and depth >= 0 m, got {side}, {depth}")
        position, quat = (np.asarray(v, np.float64) for v in camera_pose)
        if position.shape != (3,) or quat.shape != (4,) or abs(np.linalg.norm(quat) - 1) > 1e-3:
            raise ValueError(
                f"camera pose must be (x, y, z) and a unit quaternion (w, x, y, z), got {position}"
                f" and {quat} (norm {np.linalg.norm(quat):.4f})"
            )
        self.marker_id, self.side, self.depth = marker_id, side, depth
        self.camera_pose: Pose = (position, quat / np.linalg.norm(quat))
        params = cv2.aruco.DetectorParameters()
        # The pose is only as good as the corners (a 4 cm marker spans 30-40 px). Measured on
        # rendered views at 640 x 480 (test_aruco.py): mean / max position error 19 / 42 mm
        # unrefined, 10 / 31 mm with SUBPIX (its corners sit half a pixel inside the square),
        # 26 / 45 mm with CONTOUR, 2.1 / 10 mm with APRILTAG (edge fitting).
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_APRILTAG
        self._detector = cv2.aruco.ArucoDetector(self.dictionary, params)
        self._points = corner_points(side)

    def find(self, gray: np.ndarray) -> np.ndarray | None:
        """The marker's corners [4, 2] in an 8-bit grayscale picture, or None."""
        corners, ids, _ = self._detector.detectMarkers(gray)
        if ids is None:
            return None
        hits = [c for c, i in zip(corners, ids.ravel(), strict=True) if i == self.marker_id]
        # Two sightings of one id: a reflection or a second print; neither can be trusted.
        return hits[0].reshape(4, 2).astype(np.float64) if len(hits) == 1 else None

    def locate(self, corners: np.ndarray, camera: CameraIntrinsics) -> MarkerSighting | None:
        """The marker's pose in the camera frame from its corners, or None if degenerate."""
        ok, rvec, tvec = cv2.solvePnP(
            self._points, corners, camera.matrix, camera.distortion,
            flags=cv2.SOLVEPNP_IPPE_SQUARE,
        )  # fmt: skip
        if not ok or not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))):
            return None
        translation = tvec.ravel()
        if translation[2] <= 0:  # behind the camera: not something it saw
            return None
        rotation = cv2.Rodrigues(rvec)[0]
        projected = cv2.projectPoints(self._points, rvec, tvec, camera.matrix, camera.distortion)
        error = float(np.sqrt(np.mean(np.sum((projected[0].reshape(4, 2) - corners) ** 2, 1))))
        return MarkerSighting(corners, rotation, translation, error)

    def object_pose(self, sighting: MarkerSighting) -> Pose:
        """The object's pose in the world from a sighting of its marker."""
        translation = sighting.translation - self.depth * sighting.rotation[:, 2]
        return transform(self.camera_pose, sighting.rotation, translation)

    def __call__(self, gray: np.ndarray, camera: CameraIntrinsics) -> Pose | None:
        """The object's world pose from one grayscale picture taken by `camera`, or None when
        its marker is not seen. ValueError when the picture does not fit the camera."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"expected an 8-bit grayscale picture, got {gray.dtype} {gray.shape}")
        if gray.shape != (camera.height, camera.width):
            raise ValueError(
                f"picture is {gray.shape[1]} x {gray.shape[0]} px but the camera info says "
                f"{camera.width} x {camera.height}: are image and camera_info the same camera?"
            )
        corners = self.find(gray)
        sighting = None if corners is None else self.locate(corners, camera)
        return None if sighting is None else self.object_pose(sighting)
