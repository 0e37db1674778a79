"""The camera over an emulated arm's bench (ROS-free): pictures of the scene with the ArUco
marker on the block (perception/marked_scene.py `MarkedCamera`), rendered in a thread of their
own.

A frame takes 40-130 ms of software OpenGL here; joint states come every 2 ms. So the caller's
thread only decides when a frame is due (`Cadence`) and copies the scene's state then
(`SceneCamera.capture`: positions, mocap bodies and the model fields a reset moves, a few
hundred numbers, between two physics steps); the render thread draws that copy into a shadow of
the scene (its own MjModel/MjData) while the physics goes on. MuJoCo's rendering releases the
GIL, so the caller's thread keeps its rhythm (measured on 2 cores: a 2 ms loop's gaps stayed
2.1 ms at the median, under 6 ms at the 99th percentile, while frames rendered), and the render
thread runs RENDER_NICE nicer, so that on a busy machine the frames wait, not the joint states
(measured at 500 Hz beside a process taking a whole core: 462-465 Hz with the camera at 2 Hz
and frames of 390-550 ms, against 437-444 Hz and 100-120 ms frames at equal priority). A frame
due while the previous one still renders is skipped (`skipped`), never queued: a late picture
would be a stale pose. The render thread owns the OpenGL context (it belongs to the thread that
made it) and closes it.

Rendering needs OSMesa (tasks/render.py: MUJOCO_GL=osmesa before mujoco is first imported);
otherwise building a SceneCamera raises `RenderingUnavailable`, saying what to install and set.
"""

from __future__ import annotations

import copy
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import mujoco
import numpy as np

from skill_embedding_ros.perception.camera import CameraIntrinsics
from skill_embedding_ros.perception.marked_scene import MarkedCamera
from skill_embedding_ros.priority import lower_thread
from skill_embedding_ros.tasks.suite import Scene

RENDER_NICE = 10
"""How much nicer (Linux scheduling priority, per thread) the render thread runs than the rest of
the process: on a busy machine the joint states' thread gets the CPU first; OpenGL's worker
threads (llvmpipe), started from the render thread, inherit it."""
START_TIMEOUT = 60.0
"""s: the longest wait for the render thread to build its camera (an MJCF compile and an OpenGL
context: under a second unloaded)."""


class Cadence:
    """When something at `rate` Hz is due, on the caller's clock (s): first at the first call,
    then on a grid `1 / rate` apart; a caller that fell a whole period behind starts a new grid
    at its next call (no burst to catch up)."""

    def __init__(self, rate: float):
        if not rate > 0:
            raise ValueError(f"a cadence needs a positive rate, got {rate} Hz")
        self.period = 1.0 / rate
        self._next: float | None = None

    def due(self, now: float) -> bool:
        if self._next is not None and now < self._next:
            return False
        behind = self._next is None or now >= self._next + self.period
        self._next = (now if behind else self._next) + self.period
        return True


@dataclass(frozen=True)
class Frame:
    """One rendered picture."""

    stamp: object
    """What the caller passed to `capture` (the sampling time of the state rendered)."""
    rgb: np.ndarray
    """[height, width, 3] uint8, rows top to bottom."""
    intrinsics: CameraIntrinsics


class _Shadow:
    """What MarkedCamera reads of a scene, in copies only the render thread touches."""

    FIELDS = (
        ("data", "qpos"),
        ("data", "mocap_pos"),
        ("data", "mocap_quat"),
        ("model", "body_pos"),
        ("model", "body_quat"),
        ("model", "site_pos"),
    )

    def __init__(self, scene: Scene):
        self.description = scene.description
        self.model = copy.copy(scene.model)  # MjModel's copy is a deep one (mj_copyModel)
        self.data = mujoco.MjData(self.model)

    @classmethod
    def state(cls, scene: Scene) -> list[np.ndarray]:
        return [getattr(getattr(scene, part), name).copy() for part, name in cls.FIELDS]

    def load(self, state: list[np.ndarray]) -> None:
        for (part, name), values in zip(self.FIELDS, state, strict=True):
            getattr(getattr(self, part), name)[:] = values


class SceneCamera:
    """Pictures of `scene` from MarkedCamera's default camera (its `camera_kwargs` otherwise),
    rendered in a thread of their own. Raises RenderingUnavailable (or ValueError for bad
    camera arguments) when the render thread cannot build its camera. Close it."""

    def __init__(self, scene: Scene, **camera_kwargs):
        self.scene = scene
        self.skipped = 0
        """Frames not rendered: due while the previous one was still rendering."""
        self.rendered = 0
        self.render_seconds = 0.0
        """s: the render thread's time spent rendering (`rendered` frames)."""
        self.failure: BaseException | None = None
        """What stopped the render thread, if anything did after its start."""
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: deque[Frame] = deque()
        self._idle = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(_Shadow(scene), camera_kwargs), name="scene_camera"
        )
        self._thread.daemon = True  # never keeps a stopping process alive
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the camera did not start within {START_TIMEOUT:g} s")
        if self.failure is not None:
            self._thread.join()
            raise self.failure
        self.intrinsics: CameraIntrinsics = self._intrinsics

    def capture(self, stamp: object) -> bool:
        """Copy the scene's state now and have it rendered, tagged `stamp`; False (counted in
        `skipped`) while the previous frame still renders or the render thread has stopped."""
        if not self._idle.is_set() or self.failure is not None:
            self.skipped += 1
            return False
        self._idle.clear()
        self._jobs.put((stamp, _Shadow.state(self.scene)))
        return True

    def frames(self) -> list[Frame]:
        """The frames rendered since the last call, oldest first."""
        out = []
        while self._done:
            out.append(self._done.popleft())
        return out

    @property
    def seconds_per_frame(self) -> float:
        """s: the mean render time so far (nan before the first frame)."""
        return self.render_seconds / self.rendered if self.rendered else math.nan

    def close(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout)

    def _run(self, shadow: _Shadow, camera_kwargs: dict) -> None:
        lower_thread(RENDER_NICE)  # the frames wait, not the joint states
        try:
            camera = MarkedCamera(shadow, **camera_kwargs)
        except Exception as err:  # RenderingUnavailable, ValueError: the caller raises it
            self.failure = err
            self._ready.set()
            return
        self._intrinsics = camera.intrinsics
        self._idle.set()
        self._ready.set()
        with camera:
            while (job := self._jobs.get()) is not None:
                stamp, state = job
                try:
                    start = time.perf_counter()
                    shadow.load(state)
                    rgb, intrinsics = camera.render()
                    self.render_seconds += time.perf_counter() - start
                except Exception as err:  # reported through `failure`; the thread stops
                    self.failure = err
                    return
                self.rendered += 1
                self._done.append(Frame(stamp, rgb, intrinsics))
                self._idle.set()
