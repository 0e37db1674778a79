"""The Jaco scene as a camera sees it, with an ArUco marker on the block's top face (ROS-free).

The suite's own scene stays as it is (the gate compiles its description, byte for byte): a
`MarkedCamera` compiles its own copy of the scene's MJCF (MjSpec) with
* the marker: a square mesh lying on the object's top face (0.2 mm above it, clear of the
  face's own pixels), textured with the marker image (`cv2.aruco.generateImageMarker`) centred
  on a white square that covers the face (the white margin ArUco needs around the black border),
  the image's top towards the object's +y (aruco.py's marker-to-object convention);
* the camera, at a given optical-frame pose (camera.py; default `DEFAULT_POSE`);
and renders that copy after copying the live scene's state into it (qpos, mocap bodies and the
per-episode model fields a reset moves: body and site positions). The copy has no joints of
its own, so qpos means the same in both.

Rendering needs OSMesa (tasks/render.py: MUJOCO_GL=osmesa before mujoco is imported);
otherwise `RenderingUnavailable` says what to install and set.
"""

from __future__ import annotations

import mujoco
import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

from skill_embedding_ros.perception.aruco import marker_image
from skill_embedding_ros.perception.camera import (
    DEFAULT_POSE,
    CameraIntrinsics,
    from_fovy,
)
from skill_embedding_ros.tasks.render import SceneRenderer
from skill_embedding_ros.tasks.suite import Pose, Scene

CAMERA = "aruco_camera"
MARKER = "aruco_marker"
LIFT = 0.0002
"""m: the marker's drawing above the face (a sticker's thickness): coplanar faces would flicker
in the depth buffer."""
TEXTURE_PX = 400
"""Texture pixels across the whole face: 10 per millimetre of a 4 cm marker's cells is
far finer than any camera pixel on it."""
# MuJoCo cameras look along their -z with y up; the optical frame looks along +z with y down.
_MUJOCO_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0])


class MarkedCamera:
    """Pictures of `scene` (a Scene with an MJCF `description()`, e.g. the Jaco's JacoScene)
    from a camera at `pose` (optical frame, world), `width` x `height` px, `fovy` degrees
    vertical field of view, with marker `marker_id` of dictionary `dictionary` (side `side` m)
    on the top face of the box geom named `object_name` (its body's name too).

    `render()` copies the scene's state in and returns the RGB picture and the camera's
    intrinsics (camera.py `camera_info_fields` turns them into a CameraInfo's fields); `pose`
    is the camera's optical frame in the world (the ArUco node's extrinsic). The default size,
    960 x 720 px, is the one test_aruco.py measures (block position within 2.2 mm, orientation
    within 0.5 degrees; 640 x 480: 10 mm, 1.7 degrees); a frame takes 20-50 ms on a busy
    2-core CPU. Render and close (or use `with`) in the thread that made it: an OpenGL context
    belongs to its thread."""

    def __init__(
        self,
        scene: Scene,
        width: int = 960,
        height: int = 720,
        fovy: float = 45.0,
        pose: Pose = DEFAULT_POSE,
        dictionary: str = "DICT_4X4_50",
        marker_id: int = 0,
        side: float = 0.04,
        object_name: str = "block",
    ):
        self.scene = scene
        spec = mujoco.MjSpec.from_string(scene.description())
        half = _top_half(scene.model, object_name)
        if not 0 < side < 2 * half:
            raise ValueError(f"a {side} m marker does not fit on the {2 * half} m face")
        self.depth = half
        """m: from the marker's face to the object's centre (the box's half height)."""
        offset = _top_centre(scene.model, object_name, half)
        _add_marker(
            spec, object_name, offset, _face_texture(dictionary, marker_id, half, side), half
        )
        _add_camera(spec, pose, fovy)
        self.model = spec.compile()
        # Sites are markings of the simulation (the goal's translucent sphere), not things a
        # camera over a real bench sees: drawn, the goal's tint hid the marker's white margin.
        self.model.site_rgba[:, 3] = 0.0
        self.data = mujoco.MjData(self.model)
        self.pose: Pose = (np.asarray(pose[0], np.float64), np.asarray(pose[1], np.float64))
        self.intrinsics: CameraIntrinsics = from_fovy(width, height, fovy)
        self._renderer = SceneRenderer(self.model, width, height, camera=CAMERA)

    def render(self) -> tuple[np.ndarray, CameraIntrinsics]:
        """The scene as it is now: RGB [height, width, 3] uint8 and the camera's intrinsics."""
        src_model, src = self.scene.model, self.scene.data
        model, data = self.model, self.data
        data.qpos[:] = src.qpos
        data.mocap_pos[:] = src.mocap_pos
        data.mocap_quat[:] = src.mocap_quat
        # A reset moves parts of the model itself (the rail, the spring's anchor).
        model.body_pos[:] = src_model.body_pos
        model.body_quat[:] = src_model.body_quat
        model.site_pos[: src_model.nsite] = src_model.site_pos
        mujoco.mj_forward(model, data)
        return self._renderer(data), self.intrinsics

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> MarkedCamera:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _top_half(model, name: str) -> float:
    """The half height (m) of box geom `name`, whose top face carries the marker."""
    try:
        geom = model.geom(name)
    except KeyError:
        raise ValueError(f"the scene has no geom {name!r} to put a marker on") from None
    if geom.type[0] != mujoco.mjtGeom.mjGEOM_BOX:
        raise ValueError(f"geom {name!r} is not a box: a marker needs a flat top face")
    return float(geom.size[2])


def _top_centre(model, name: str, half: float) -> np.ndarray:
    """The centre of box geom `name`'s top face in its body's frame (m); the box must be
    upright in its body (its top face is the body's +z face)."""
    geom = model.geom(name)
    if not np.allclose(geom.quat, (1, 0, 0, 0)):
        raise ValueError(f"geom {name!r} is turned in its body: its top face is not the body's")
    return geom.pos + np.array([0.0, 0.0, half])


def _add_marker(spec, body: str, centre: np.ndarray, texture: np.ndarray, half: float) -> None:
    """A square mesh (2 * half m across) textured with `texture`, lying on `centre` (m, in
    body `body`'s frame), facing +z; it has no mass and touches nothing."""
    height, width = texture.shape[:2]
    tex = spec.add_texture(
        name=MARKER, type=mujoco.mjtTexture.mjTEXTURE_2D, width=width, height=height, nchannel=3
    )
    tex.data = texture.tobytes()
    material = spec.add_material(name=MARKER, specular=0.0, shininess=0.0, rgba=[1, 1, 1, 1])
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = MARKER
    mesh = spec.add_mesh(name=MARKER)
    mesh.uservert = [-half, -half, 0, half, -half, 0, half, half, 0, -half, half, 0]
    mesh.userface = [0, 1, 2, 0, 2, 3]
    # Texture v = 0 is the image's first row (measured): the top row goes to the +y edge.
    mesh.usertexcoord = [0, 1, 1, 1, 1, 0, 0, 0]
    mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL  # flat: it has no volume
    spec.body(body).add_geom(
        name=MARKER,
        type=mujoco.mjtGeom.mjGEOM_MESH,
        meshname=MARKER,
        material=MARKER,
        pos=[float(v) for v in centre + np.array([0.0, 0.0, LIFT])],
        contype=0,
        conaffinity=0,
        density=0.0,
    )


def _face_texture(dictionary: str, marker_id: int, half: float, side: float) -> np.ndarray:
    """[TEXTURE_PX, TEXTURE_PX, 3] uint8: the marker (side m) centred on a white face (2 * half
    m across); row 0 is the marker image's top."""
    pixels = round(TEXTURE_PX * side / (2 * half))
    face = np.full((TEXTURE_PX, TEXTURE_PX), 255, np.uint8)
    start = (TEXTURE_PX - pixels) // 2
    face[start : start + pixels, start : start + pixels] = marker_image(
        dictionary, marker_id, pixels
    )
    return np.repeat(face[:, :, None], 3, axis=2)


def _add_camera(spec, pose: Pose, fovy: float) -> None:
    position, quat = pose
    rotation = quat2mat(np.asarray(quat, np.float64) / np.linalg.norm(quat))
    spec.worldbody.add_camera(
        name=CAMERA,
        pos=[float(v) for v in position],
        quat=[float(v) for v in mat2quat(rotation @ _MUJOCO_FROM_OPTICAL)],
        fovy=float(fovy),
    )
