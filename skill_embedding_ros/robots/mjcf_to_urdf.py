"""A compiled MuJoCo model's robot subtree as URDF text (ROS-free): what robot_state_publisher,
RViz and Foxglove draw from `joint_states`, and what a hardware graph's tools expect on
`robot_description`.

Written from the *compiled* model, so what MuJoCo simulates is what the URDF states: the body
tree (one link per body, named by the last part of its name), hinge and slide joints (one per
body at most; their frames, axes, position limits, damping and friction loss), each body's mass,
centre of mass and inertia (principal axes, as MuJoCo keeps them), its geoms as visuals (meshes
by a URI the caller chooses) and chosen sites as fixed frames. Speed and effort limits are not in
a MuJoCo joint: the caller passes them by joint name (control/joint_limits.py reads them from the
same MJCF).

What a URDF cannot say is left out: armature (rotor inertia), gravity compensation, contact
parameters, actuators. Link frames sit where MuJoCo puts each joint (a joint's `pos` moves its
link's frame), so a URDF joint rotates about its own origin as the standard asks.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence

import mujoco
import numpy as np
from transforms3d.euler import mat2euler
from transforms3d.quaternions import qinverse, qmult, quat2mat, rotate_vector

Frame = tuple[np.ndarray, np.ndarray]
"""A rigid transform: (translation (3,), unit quaternion (w, x, y, z))."""


def _compose(a: Frame, b: Frame) -> Frame:
    return a[0] + rotate_vector(b[0], a[1]), qmult(a[1], b[1])


def _inverse(a: Frame) -> Frame:
    q = qinverse(a[1])
    return -rotate_vector(a[0], q), q


def _shift(p) -> Frame:
    return np.asarray(p, float), np.array([1.0, 0, 0, 0])


def _num(v: float) -> str:
    """Nine significant digits: far below any tolerance that matters, and stable text."""
    return f"{float(v):.9g}"


def _pos(v: float) -> str:
    """A pose component: composing quaternions leaves ~1e-16 where the model has 0."""
    return _num(0.0 if abs(v) < 1e-12 else v)


def _origin(parent: ET.Element, frame: Frame) -> None:
    xyz, quat = frame
    rpy = mat2euler(quat2mat(quat), "sxyz")  # URDF rpy: fixed axes x, y, z (R = Rz Ry Rx)
    ET.SubElement(parent, "origin", xyz=" ".join(map(_pos, xyz)), rpy=" ".join(map(_pos, rpy)))


def link_names(model, root: str) -> dict[int, str]:
    """Body id -> link name for `root` and every body under it: the last non-empty part of the
    body's '/'-separated name (mjcf scopes attached models' names). A ValueError names clashes."""
    root_id = model.body(root).id
    names = {}
    for b in range(model.nbody):
        a = b
        while a not in (root_id, 0):
            a = model.body_parentid[a]
        if a == root_id:
            names[b] = [part for part in model.body(b).name.split("/") if part][-1]
    clashes = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if clashes:
        raise ValueError(f"bodies under {root!r} share the link names {clashes}")
    return names


def urdf_from_model(
    model,
    root: str,
    name: str,
    limits: Mapping[str, object],
    mesh_uri: Callable[[str], str],
    sites: Sequence[str] = (),
    header: str = "",
) -> str:
    """URDF text of body `root` and everything under it in `model` (a compiled mujoco.MjModel).

    limits: by joint name, objects with `velocity` and `effort` (control/joint_limits.JointLimit);
    an infinite one is left out. mesh_uri: a mesh's file path as the model compiled it -> the
    URI the URDF names (file://, package://). sites: site names to add as fixed frames (an end
    effector). header: a comment at the top (how the file was made).
    """
    links = link_names(model, root)
    robot = ET.Element("robot", name=name)
    if header:
        robot.append(ET.Comment(f" {header} "))
    materials: dict[tuple, str] = {}
    joint_at: dict[int, Frame] = {}  # body id -> its link frame in the body frame
    for b in links:
        kinds = [int(model.jnt_type[j]) for j in _joints(model, b)]
        if len(kinds) > 1:
            raise ValueError(f"body {model.body(b).name!r} has {len(kinds)} joints; URDF: 1")
        joint_at[b] = _shift(model.jnt_pos[_joints(model, b)[0]] if kinds else (0, 0, 0))
    for b, link_name in links.items():
        link = ET.SubElement(robot, "link", name=link_name)
        to_link = _inverse(joint_at[b])  # body frame -> link frame
        if model.body_mass[b] > 0:
            inertial = ET.SubElement(link, "inertial")
            _origin(inertial, _compose(to_link, (model.body_ipos[b], model.body_iquat[b])))
            ET.SubElement(inertial, "mass", value=_num(model.body_mass[b]))
            ixx, iyy, izz = model.body_inertia[b]
            zero = _num(0.0)
            ET.SubElement(
                inertial, "inertia", ixx=_num(ixx), ixy=zero, ixz=zero, iyy=_num(iyy),
                iyz=zero, izz=_num(izz),
            )  # fmt: skip
        for g in np.flatnonzero(model.geom_bodyid == b):
            _visual(model, int(g), link, to_link, mesh_uri, materials)
        if b != model.body(root).id:
            _joint(model, b, links, joint_at, limits, robot)
    for site in sites:
        s = model.site(site).id
        b = int(model.site_bodyid[s])
        frame = _compose(_inverse(joint_at[b]), (model.site_pos[s], model.site_quat[s]))
        child = [part for part in site.split("/") if part][-1]
        ET.SubElement(robot, "link", name=child)
        joint = ET.SubElement(robot, "joint", name=f"{links[b]}_to_{child}", type="fixed")
        _origin(joint, frame)
        ET.SubElement(joint, "parent", link=links[b])
        ET.SubElement(joint, "child", link=child)
    first = 1 if header else 0  # the materials, declared once, ahead of the links using them
    for i, (rgba, material) in enumerate(materials.items()):
        element = ET.Element("material", name=material)
        ET.SubElement(element, "color", rgba=" ".join(map(_num, rgba)))
        robot.insert(first + i, element)
    ET.indent(robot, space="  ")
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


def _joints(model, b: int) -> list[int]:
    return list(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]))


def _joint(model, b, links, joint_at, limits, robot) -> None:
    """The joint that places body `b`'s link in its parent's: fixed, or its hinge or slide."""
    parent = int(model.body_parentid[b])
    frame = _compose(
        _inverse(joint_at[parent]),
        _compose((model.body_pos[b], model.body_quat[b]), joint_at[b]),
    )
    joints = _joints(model, b)
    if not joints:
        element = ET.SubElement(robot, "joint", name=f"{links[parent]}_to_{links[b]}")
        element.set("type", "fixed")
        _origin(element, frame)
        ET.SubElement(element, "parent", link=links[parent])
        ET.SubElement(element, "child", link=links[b])
        return
    j = joints[0]
    jname, kind = model.joint(j).name, int(model.jnt_type[j])
    hinge, slide = int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)
    if kind not in (hinge, slide):
        raise ValueError(f"joint {jname!r} is neither a hinge nor a slide: no URDF joint")
    if model.qpos0[model.jnt_qposadr[j]] != 0:
        # URDF's zero is the link at its origin; a MuJoCo `ref` moves the zero elsewhere.
        raise ValueError(f"joint {jname!r} has a nonzero ref; not supported")
    limited = bool(model.jnt_limited[j])
    if kind == slide and not limited:
        raise ValueError(f"slide joint {jname!r} has no range; a URDF prismatic joint needs one")
    urdf_kind = "prismatic" if kind == slide else ("revolute" if limited else "continuous")
    element = ET.SubElement(robot, "joint", name=jname, type=urdf_kind)
    _origin(element, frame)
    ET.SubElement(element, "parent", link=links[parent])
    ET.SubElement(element, "child", link=links[b])
    ET.SubElement(element, "axis", xyz=" ".join(map(_pos, model.jnt_axis[j])))
    limit = ET.SubElement(element, "limit")
    if limited:
        limit.set("lower", _num(model.jnt_range[j][0]))
        limit.set("upper", _num(model.jnt_range[j][1]))
    for key in ("effort", "velocity"):
        value = getattr(limits[jname], key) if jname in limits else math.inf
        if math.isfinite(value):
            limit.set(key, _num(value))
    dof = model.jnt_dofadr[j]
    if model.dof_damping[dof] or model.dof_frictionloss[dof]:
        ET.SubElement(
            element,
            "dynamics",
            damping=_num(model.dof_damping[dof]),
            friction=_num(model.dof_frictionloss[dof]),
        )


def _visual(model, g: int, link, to_link: Frame, mesh_uri, materials) -> None:
    kind = int(model.geom_type[g])
    size = model.geom_size[g]
    frame = _compose(to_link, (model.geom_pos[g], model.geom_quat[g]))
    visual = ET.Element("visual")  # no name: ROS's parser (urdf_parser_py) warns of one
    geometry = ET.Element("geometry")
    t = mujoco.mjtGeom
    if kind == int(t.mjGEOM_MESH):
        m = int(model.geom_dataid[g])
        # MuJoCo moved the mesh to its inertial frame and the geom by the same amount:
        # the file's own frame is the geom frame with that move undone.
        frame = _compose(frame, _inverse((model.mesh_pos[m], model.mesh_quat[m])))
        path = model.paths[model.mesh_pathadr[m] :].split(b"\0", 1)[0].decode()
        scale = " ".join(map(_num, model.mesh_scale[m]))
        ET.SubElement(geometry, "mesh", filename=mesh_uri(path), scale=scale)
    elif kind == int(t.mjGEOM_BOX):
        ET.SubElement(geometry, "box", size=" ".join(_num(2 * s) for s in size))
    elif kind == int(t.mjGEOM_SPHERE):
        ET.SubElement(geometry, "sphere", radius=_num(size[0]))
    elif kind == int(t.mjGEOM_CYLINDER):
        ET.SubElement(geometry, "cylinder", radius=_num(size[0]), length=_num(2 * size[1]))
    else:
        raise ValueError(f"geom {model.geom(g).name!r}: type {kind} has no URDF visual")
    mat = int(model.geom_matid[g])
    rgba = tuple(float(c) for c in (model.mat_rgba[mat] if mat >= 0 else model.geom_rgba[g]))
    material = materials.setdefault(rgba, f"rgba_{len(materials)}")
    _origin(visual, frame)
    visual.append(geometry)
    ET.SubElement(visual, "material", name=material)
    link.append(visual)
