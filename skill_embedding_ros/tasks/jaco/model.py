"""The Jaco scene's MJCF: dm_control's Kinova Jaco arm and 3-finger hand, as installed, on a table
with a block, a goal marker and every task's scene elements (props.py) (ROS-free).

The robot is dm_control's own `JacoArm` and `JacoHand` entities (their MJCF under
`dm_control/third_party/kinova/` with its meshes, their actuators carrying the datasheet limits),
composed with `dm_control.mjcf` the way dm_control composes them (`arm.attach(hand)` at the
arm's wrist site). Nothing of dm_control's model is copied into this repository: the limits are
read off the entities' actuators, the meshes stay in the installed package.

Two things `dm_control.mjcf` cannot express are finished with MuJoCo's `MjSpec`:
* names: mjcf prefixes every attached model's names ("jaco_arm/jaco_hand/finger_1"), while the
  robot's `joint_states` name its joints plainly; the joints and their actuators get their plain
  names (MjSpec does not follow a rename into references, so each actuator's target is renamed
  with its joint);
* a self-contained description: mjcf hands meshes over in memory, but the gate compiles the
  description text alone (control/joint_limits.py), so the text points `meshdir` at the installed
  package's mesh folder. The text is therefore valid where that dm_control is installed (every
  process of a graph on one machine; a remote gate needs the same install).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from skill_embedding_ros.tasks.jaco.props import (  # noqa: F401 (the model's sizes, re-exported)
    BLOCK_HALF,
    BLOCK_MASS,
    GOAL_RADIUS,
    add_props,
)

ARM = tuple(f"joint_{i}" for i in range(1, 7))
FINGERS = tuple(f"finger_{i}" for i in range(1, 4))
JOINTS = ARM + FINGERS
"""The commanded joints, in command order: the arm from base to wrist, then the fingers."""
ACTUATORS = ("torque", "velocity")
ROBOT = "jaco_arm"
"""The arm's namescope in the scene (dm_control's model name): every robot body's name prefix."""
GRIP_SITE = f"{ROBOT}/jaco_hand/gripsite"
"""The end effector: the hand's grip site (dm_control's default tool centre point), between the
fingertips."""
_DM_CONTROL = importlib.util.find_spec("dm_control")
if _DM_CONTROL is None:
    raise ImportError("the Jaco suite needs dm-control (requirements.txt: dm-control==1.0.50)")
KINOVA = Path(_DM_CONTROL.origin).parent / "third_party" / "kinova"
"""Where the installed dm_control keeps the Kinova model (found without importing dm_control)."""
MESHES = KINOVA / "meshes_decimated"

TIMESTEP = 0.002
"""Physics step (s): MuJoCo's default, which dm_control's Jaco tasks use as well."""
VELOCITY_NUMERIC = "velocity:{joint}"
"""Name of the custom numeric that states a joint's speed limit (rad/s) in the description
(control/joint_limits.py reads it): MJCF has no joint velocity limit, and the torque interface
has no velocity servo whose command range would give it."""


@contextlib.contextmanager
def _headless():
    """While dm_control is imported without a display and without MUJOCO_GL, say "no renderer":
    it would pick GLFW, which cannot open a window here and complains at every process exit. Only
    the MJCF composition is used; nothing renders."""
    unset = "MUJOCO_GL" not in os.environ
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if unset and headless:
        os.environ["MUJOCO_GL"] = "disable"
    try:
        yield
    finally:
        if unset and headless:
            del os.environ["MUJOCO_GL"]


def _limits(arm, hand) -> dict[str, tuple[float, float]]:
    """(peak torque N·m, speed limit rad/s) by joint name, as dm_control's velocity servos on
    `arm` and `hand` carry them (force range, command range): the arm's Kinova datasheet values
    (30.5 N·m and 36 °/s large, 6.8 N·m and 48 °/s small joints) and the hand's (1 N·m, 5 rad/s
    "based on Kinova's URDF")."""
    return {
        joint.name: (float(act.forcerange[1]), float(act.ctrlrange[1]))
        for entity in (arm, hand)
        for joint, act in zip(entity.joints, entity.actuators, strict=True)
    }


def _entities():
    with _headless():
        from dm_control.entities.manipulators.kinova import JacoArm, JacoHand
    return JacoArm(), JacoHand()


@functools.cache
def scene_xml(actuator: str) -> str:
    """The scene's MJCF text with "torque" (motors) or "velocity" (velocity servos) actuators.

    torque: one motor per joint whose command range is the joint's peak torque.
    velocity: dm_control's velocity servos, unchanged: command range = speed limit, force range
    = peak torque, kv = 500 N·m s/rad at the arm (dm_control: "a very rough estimate") and
    10 at the fingers (tuned by dm_control to the hand's datasheet: ~25 N grip, ~1.2 s to close).
    Both: each joint's speed limit as a custom numeric (VELOCITY_NUMERIC), and gravity
    compensated on the robot's bodies, as the Jaco's firmware does below both interfaces (and as
    the gate's torque model assumes, docs/safety.md).
    """
    if actuator not in ACTUATORS:
        raise ValueError(f"actuator must be one of {ACTUATORS}, got {actuator!r}")
    with _headless():
        from dm_control import mjcf
    arm, hand = _entities()
    limits = _limits(arm, hand)
    arm.attach(hand)  # at the arm's wrist site, as dm_control composes them
    if actuator == "torque":
        for entity in (arm, hand):
            for joint, act in zip(entity.joints, entity.actuators, strict=True):
                act.remove()
                entity.mjcf_model.actuator.add(
                    "motor",
                    name=joint.name,
                    joint=joint,
                    ctrllimited=True,
                    ctrlrange=(-limits[joint.name][0], limits[joint.name][0]),
                )
    root = mjcf.RootElement(model=f"jaco_{actuator}")
    root.compiler.angle = "radian"
    root.option.timestep = TIMESTEP
    # Implicit in the actuators' velocity terms: the stiff servos (kv 500 on a 2 kg·m^2 joint)
    # stay stable however the period is split.
    root.option.integrator = "implicitfast"
    # Elliptic friction cones with a high impedance ratio: a block held by three fingertips
    # does not creep out of the grip (pyramidal cones let it slip at a fraction of the force).
    root.option.cone = "elliptic"
    root.option.impratio = 10
    add_props(root)
    root.attach(arm.mjcf_model)
    for name, (_, speed) in limits.items():
        root.custom.add("numeric", name=VELOCITY_NUMERIC.format(joint=name), data=[speed])
    return _finish(root.to_xml_string())


def _finish(xml: str) -> str:
    """Plain joint names (references to them too; each actuator is named for its joint), the
    robot's gravity compensated, meshes by the installed files."""
    root = ET.fromstring(xml)
    plain = {}
    for joint in root.iter("joint"):
        name = joint.get("name", "").rsplit("/", 1)[-1]
        if name in JOINTS:
            plain[joint.get("name")] = name
            joint.set("name", name)
    for element in root.iter():
        for attribute in ("joint", "joint1", "joint2"):
            if element.get(attribute) in plain:
                element.set(attribute, plain[element.get(attribute)])
    for actuator in root.find("actuator"):
        actuator.set("name", actuator.get("joint"))
    if sorted(plain.values()) != sorted(JOINTS):
        raise RuntimeError(f"dm_control's Jaco model changed: joints {sorted(plain.values())}")
    for body in root.iter("body"):
        if body.get("name", "").startswith(f"{ROBOT}/"):
            body.set("gravcomp", "1")
    for mesh in root.iter("mesh"):
        mesh.set("file", _installed_mesh(mesh.get("file")))
    root.find("compiler").set("meshdir", str(MESHES))
    return ET.tostring(root, encoding="unicode")


def _installed_mesh(vfs_name: str) -> str:
    """The installed file mjcf read a mesh from ("wrist-<sha1>.stl" -> "wrist.stl"), checked by
    its hash so the description never names a different file."""
    stem, _, rest = vfs_name.rpartition("-")
    digest, ext = os.path.splitext(rest)
    path = MESHES / f"{stem}{ext}"
    if not path.is_file() or hashlib.sha1(path.read_bytes()).hexdigest() != digest:
        raise RuntimeError(f"mesh {vfs_name} is not the installed {path}")
    return path.name
