"""The scene around an emulated arm (ROS-free): its objects' poses as a motion-capture system
reports them, and the operator's scene reset.

* Poses (`SceneObjects.sample`): every object of the scene (`Scene.object_poses`: the Jaco's
  block and goal), world frame, sampled at the very instant of a joint state (the caller samples
  both after one `advance`) and tagged with that state's stamp, so that a policy's state sync
  (control/state_sync.py: a pose within a quarter control period of the joint state) pairs them
  exactly. Every `every`-th joint state carries them (`stride`: at most the object rate). They
  travel a DelayLine of their own with the link's latency, jitter and drop: lost independently
  of the joint states, delivered in order.
* Reset (`SceneObjects.reset`): the objects re-drawn as the suite's scene reset draws them for a
  new episode, the arm left exactly as it is (its joints' positions and velocities, what its
  servos were told): on a real bench the operator puts the block back while the arm waits.

Every time (`now`, s) is a reading of one steady clock passed in. Randomness comes from the
emulator's seed (emulated_link.stream): the same seed draws the same resets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco

from skill_embedding_ros.robots import emulated_link as streams
from skill_embedding_ros.robots.emulated_link import PERFECT, Link
from skill_embedding_ros.tasks.suite import Pose, Scene


@dataclass(frozen=True)
class ObjectSample:
    """Every object's pose at one joint state's sampling instant."""

    stamp: object
    """The joint state's stamp (what the caller passed to `sample`)."""
    poses: dict[str, Pose]
    """Object name -> (position m, orientation quaternion w x y z), in the world frame."""


def stride(rate: float, object_rate: float) -> int:
    """How many joint states (`rate` Hz) apart object poses are sampled so that they come at
    most `object_rate` Hz: every joint state when `rate` <= `object_rate`."""
    if rate <= 0 or object_rate <= 0:
        raise ValueError(f"rates must be positive, got {rate} and {object_rate} Hz")
    return max(1, math.ceil(rate / object_rate - 1e-9))


def yaw(quat) -> float:
    """rad: the heading (rotation about the world z axis) of a quaternion w x y z."""
    w, x, y, z = (float(v) for v in quat)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def describe(poses: dict[str, Pose]) -> str:
    """Where each object is, for people: `block at (0.512, -0.103, 0.025) m, yaw 37 deg; ...`."""
    return "; ".join(
        f"{name} at ({', '.join(f'{float(v):.3f}' for v in position)}) m, "
        f"yaw {math.degrees(yaw(quat)):.0f} deg"
        for name, (position, quat) in poses.items()
    )


class SceneObjects:
    """The objects of `scene` (the emulated arm's: the same MjModel/MjData), around the arm
    whose model joints are `keep`; poses every `every`-th `sample`, over a link like `link`."""

    def __init__(
        self,
        scene: Scene,
        keep: Sequence[str],
        link: Link = PERFECT,
        seed: int = 0,
        every: int = 1,
    ):
        if every < 1:
            raise ValueError(f"every must be >= 1 (every joint state), got {every}")
        self.scene, self.every = scene, every
        m = scene.model
        ids = [m.joint(j).id for j in keep]
        self._qadr, self._vadr = m.jnt_qposadr[ids], m.jnt_dofadr[ids]
        self.names = tuple(scene.object_poses())
        self.outbound = link.line(streams.stream(seed, streams.OBJECTS))
        self._rng = streams.stream(seed, streams.SCENE_RESETS)
        self._count = 0
        self.resets = 0

    def sample(self, now: float, stamp: object) -> bool:
        """At a joint state's sampling (`now`, the scene advanced to it; `stamp`: that state's):
        every object's pose into the outbound link, tagged `stamp`, on every `every`-th call
        (the first included). True when this call sampled them, whether or not the link then
        lost them (`outbound.lost` counts those)."""
        due = self._count % self.every == 0
        self._count += 1
        if due:
            self.outbound.push(ObjectSample(stamp, self.scene.object_poses()), now)
        return due

    def samples(self, now: float) -> list[ObjectSample]:
        """The sampled poses that reach the driver's side by `now`, oldest first."""
        return self.outbound.pop(now)

    def reset(self) -> dict[str, Pose]:
        """Re-draw the objects (and the task's scene elements) as the suite's reset does for a
        new episode of its default task; the arm keeps its joints' positions and velocities,
        its servos' commands and activations. Advance the arm to now before calling: what
        happened until now happened with the objects where they were. Returns the new poses."""
        m, d = self.scene.model, self.scene.data
        qpos, qvel = d.qpos[self._qadr].copy(), d.qvel[self._vadr].copy()
        ctrl, act, time = d.ctrl.copy(), d.act.copy(), d.time
        self.scene.reset(self._rng)
        d.qpos[self._qadr], d.qvel[self._vadr] = qpos, qvel
        d.ctrl[:], d.act[:], d.time = ctrl, act, time
        mujoco.mj_forward(m, d)
        self.resets += 1
        return self.scene.object_poses()
