"""Offscreen pictures of any scene: MuJoCo's renderer on OSMesa (software OpenGL, no display, no
GPU), and frames to mp4 with OpenCV.

MuJoCo picks its OpenGL backend once per process, when `mujoco` is first imported, from
MUJOCO_GL. A process that renders therefore needs MUJOCO_GL=osmesa before anything imports
mujoco or dm_control (a plug-in may import dm_control with MUJOCO_GL=disable when it is unset
and there is no display): `request_offscreen()` sets it when it is unset, and the CLI calls it
first thing when a video is asked for. A process that imported mujoco otherwise gets
`RenderingUnavailable` saying what to install and what to set, not an OpenGL traceback.

A suite may say how it wants to be seen, both optional (TaskSuite needs neither):
* `camera`: the name of a camera in its model, or a `FreeCamera`; default: `DEFAULT_CAMERA`,
  framing the robot and its tracked objects (`scene_focus`);
* `markers(task)`: `Marker`s to draw that are not bodies of the physics (e.g. goal regions a
  task defines only in its reward).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BACKEND = "osmesa"
INSTALL = "apt-get install -y libosmesa6"
HOW_TO = (
    f"install Debian's libosmesa6 ({INSTALL}) and set MUJOCO_GL={BACKEND} before Python starts "
    "(or before anything imports mujoco or dm_control)"
)


class RenderingUnavailable(RuntimeError):
    """Offscreen rendering cannot work in this process; the message says how to make it work."""


@dataclass(frozen=True)
class FreeCamera:
    """A camera orbiting a point; a field left None takes MuJoCo's default free camera's value
    (the model's centre, 1.5 times its extent away, azimuth 90, elevation -45 degrees), unless
    `SceneRenderer.aim` frames the robot and its objects (MuJoCo's default frames the whole
    model, whose floor can dwarf the robot)."""

    lookat: tuple[float, float, float] | None = None
    """m, world frame: the point looked at."""
    distance: float | None = None
    """m from `lookat`."""
    azimuth: float | None = None
    """degrees about the world z axis."""
    elevation: float | None = None
    """degrees; negative looks down."""


@dataclass(frozen=True)
class Marker:
    """A flat disc drawn into a picture only (not simulated): e.g. a goal region."""

    centre: tuple[float, float, float]
    """m, world frame."""
    radius: float
    """m."""
    rgba: tuple[float, float, float, float] = (0.2, 0.8, 0.2, 0.35)


def request_offscreen() -> None:
    """Ask for OSMesa if nothing chose a backend yet: set MUJOCO_GL=osmesa when it is unset and
    mujoco is not imported (afterwards it would change nothing)."""
    if "MUJOCO_GL" not in os.environ and "mujoco" not in sys.modules:
        os.environ["MUJOCO_GL"] = BACKEND


def _backend() -> str:
    """The MUJOCO_GL mujoco was imported with (it reads it once; a plug-in may have changed the
    variable since), else the variable's value now."""
    gl = sys.modules.get("mujoco.rendering.classic.gl_context")
    value = getattr(gl, "_MUJOCO_GL", None)
    return value if value is not None else os.environ.get("MUJOCO_GL", "")


def _unavailable(err: BaseException) -> RenderingUnavailable:
    return RenderingUnavailable(
        f"offscreen rendering is unavailable (MUJOCO_GL={_backend()!r} when mujoco was imported;"
        f" {type(err).__name__}: {str(err).strip()}): {HOW_TO}"
    )


def _renderer(model, width: int, height: int):
    """mujoco.Renderer, its OpenGL failures (no backend, no library, bad MUJOCO_GL) turned into
    `RenderingUnavailable`."""
    try:
        import mujoco

        return mujoco.Renderer(model, height, width)
    except ValueError:
        raise  # a picture larger than the model's framebuffer: the caller's mistake
    except Exception as err:  # each backend fails its own way: ImportError, FatalError, ...
        raise _unavailable(err) from err


def check_rendering() -> None:
    """Raise `RenderingUnavailable` unless a picture can be made in this process (call it before
    a long job that ends in one)."""
    try:
        import mujoco
    except RuntimeError as err:  # mujoco refuses an unknown MUJOCO_GL at import
        raise _unavailable(err) from err
    _renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8).close()


def scene_focus(scene) -> np.ndarray:
    """What a picture of `scene` should show, as points [K, 3] (m, world): the corners of the
    robot's geoms (every body moved by a commanded joint, and the bodies below it) and the
    tracked objects' positions. Read through the Scene interface, so any plug-in is framed
    alike; props parked out of the way are left out."""
    model, data = scene.model, scene.data
    moved = {int(model.jnt_bodyid[model.joint(j).id]) for j in scene.joints}
    robot = np.zeros(model.nbody, bool)
    for body in range(model.nbody):
        b = body
        while b > 0 and b not in moved:
            b = int(model.body_parentid[b])
        robot[body] = b > 0
    geoms = robot[model.geom_bodyid]
    radius = model.geom_rbound[geoms][:, None]
    corners = [data.geom_xpos[geoms] - radius, data.geom_xpos[geoms] + radius]
    objects = [np.asarray(pose[0], np.float64)[None] for pose in scene.object_poses().values()]
    return np.concatenate(corners + objects)


DEFAULT_CAMERA = FreeCamera(azimuth=135.0, elevation=-35.0)
"""A three-quarter view from above, framed by `SceneRenderer.aim` (a side view hides depth, a
top view hides height)."""


def suite_camera(suite) -> str | FreeCamera:
    """The suite's `camera` if it names one, else `DEFAULT_CAMERA`."""
    return getattr(suite, "camera", None) or DEFAULT_CAMERA


def suite_markers(suite, task: str) -> tuple[Marker, ...]:
    """The suite's `markers(task)` if it has them, else none."""
    markers = getattr(suite, "markers", None)
    return tuple(markers(task)) if markers is not None else ()


class SceneRenderer:
    """Pictures of one MjModel's states, [height, width, 3] uint8 RGB, from one camera.

    `width` and `height` are pixels; the model's offscreen framebuffer grows to fit them (a
    visual setting only, the physics is untouched). `shadows` off by default: under software
    OpenGL they make a frame 10-20 times slower (4 -> 64 ms for the point mass, 12 -> 126 ms for
    the Jaco scene at 320 x 240 on 2 busy cores). Close it (or use `with`) in the thread that
    made it: an OpenGL context belongs to its thread.
    """

    def __init__(
        self,
        model,
        width: int = 320,
        height: int = 240,
        camera: str | FreeCamera = FreeCamera(),  # frozen: one default shared safely
        markers: Sequence[Marker] = (),
        shadows: bool = False,
    ):
        import mujoco

        if width < 1 or height < 1:
            raise ValueError(f"a picture needs a positive size, got {width} x {height} px")
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.model, self.markers = model, tuple(markers)
        self._renderer = _renderer(model, width, height)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
        if isinstance(camera, str):
            if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
                self.close()
                raise ValueError(f"the model has no camera {camera!r}")
            self.camera = camera
        else:
            self.camera = mujoco.MjvCamera()
            mujoco.mjv_defaultFreeCamera(model, self.camera)
            for field in ("lookat", "distance", "azimuth", "elevation"):
                value = getattr(camera, field)
                if value is not None:
                    setattr(self.camera, field, value)
        self._free = camera if isinstance(camera, FreeCamera) else None

    def aim(self, points: np.ndarray) -> None:
        """Frame `points` [K, 3] (m, world; e.g. `scene_focus`): the free camera's `lookat` and
        `distance`, where its `FreeCamera` leaves them None, become the centre of their bounding
        box and the distance at which its half-diagonal fills the view."""
        if self._free is None or len(points) == 0:
            return
        low, high = np.min(points, 0), np.max(points, 0)
        if self._free.lookat is None:
            self.camera.lookat[:] = (low + high) / 2
        if self._free.distance is None:
            # A sphere round the box fills the view's height at R / tan(fovy / 2); a margin of
            # 40 % keeps what sticks out of it (a long arm seen from the side) in the picture.
            half_view = np.radians(self.model.vis.global_.fovy) / 2
            radius = max(float(np.linalg.norm(high - low)) / 2, 0.05)
            self.camera.distance = 1.4 * radius / np.tan(half_view)

    def __call__(self, data) -> np.ndarray:
        """The picture of `data` (a state of this renderer's model)."""
        self._renderer.update_scene(data, self.camera)
        for marker in self.markers:
            self._add_disc(marker)
        return self._renderer.render()

    def _add_disc(self, marker: Marker) -> None:
        import mujoco

        scene = self._renderer.scene
        if scene.ngeom >= scene.maxgeom:
            return  # a full scene keeps its bodies; a marker is decoration
        mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom],
            mujoco.mjtGeom.mjGEOM_CYLINDER,
            np.array([marker.radius, 0.001, 0.0]),  # as a model geom: radius, half-height
            np.asarray(marker.centre, np.float64),
            np.eye(3).ravel(),
            np.asarray(marker.rgba, np.float32),
        )
        scene.ngeom += 1

    def close(self) -> None:
        # Freed now, not at interpreter exit, when PyOpenGL can no longer free an OSMesa context.
        if getattr(self, "_renderer", None) is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def caption(frame: np.ndarray, text: str, line: int = 0) -> np.ndarray:
    """`frame` with `text` written at its top left (line 0, 1, ... downwards), in place."""
    import cv2

    y = 14 + 14 * line
    for color, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined: any background
        cv2.putText(frame, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, thickness)
    return frame


def tile(frames: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Equal-sized frames in a grid of `columns`, row by row; missing cells black."""
    rows = -(-len(frames) // columns)
    blank = np.zeros_like(frames[0])
    cells = list(frames) + [blank] * (rows * columns - len(frames))
    return np.vstack([np.hstack(cells[r * columns : (r + 1) * columns]) for r in range(rows)])


class Mp4Writer:
    """Frames to an mp4 one at a time: RGB [H, W, 3] uint8, all one size, MPEG-4 part 2 ('mp4v',
    which opencv-python-headless writes without a system codec), `fps` frames per second of
    video. Use `with`; `count` is the number of frames written."""

    def __init__(self, path: str | Path, fps: float):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path, self.fps = Path(path), fps
        self.count, self._writer, self._shape = 0, None, None

    def write(self, frame: np.ndarray) -> None:
        import cv2

        frame = np.asarray(frame)
        if self._writer is None:
            if frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"a frame must be [H, W, 3] RGB, got {frame.shape}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = (frame.shape[1], frame.shape[0])
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size
            )
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write an mp4 to {self.path}")
            self._shape = frame.shape
        if frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {self.count} is {frame.shape} {frame.dtype}, not {self._shape} uint8"
            )
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float) -> int:
    """Write RGB frames to an mp4 (see `Mp4Writer`); the number written. ValueError for none."""
    with Mp4Writer(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    if writer.count == 0:
        raise ValueError(f"no frames to write to {path}")
    return writer.count
