"""The Jaco URDF (urdf/jaco.urdf, tasks/jaco/urdf.py) against the MJCF it is written from: read
by ROS's own Python URDF parser (urdf_parser_py), the same tree, the same forward kinematics at
random configurations, the same limits as the gate reads them, the same masses and inertias, and
each mesh placed where MuJoCo places it. The committed file is what the generator writes now."""

import contextlib
import io
from pathlib import Path

import mujoco
import numpy as np
import pytest
from transforms3d.axangles import axangle2mat
from transforms3d.euler import euler2mat
from transforms3d.quaternions import quat2mat
from urdf_parser_py.urdf import URDF

from skill_embedding_ros.control.joint_limits import commanded_limits
from skill_embedding_ros.robots.mjcf_to_urdf import link_names
from skill_embedding_ros.tasks.jaco.model import GRIP_SITE, JOINTS, MESHES, scene_xml
from skill_embedding_ros.tasks.jaco.urdf import COMMAND, PACKAGE_MESHES, ROOT, main, urdf

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "urdf" / "jaco.urdf"


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_string(scene_xml("velocity"))


@pytest.fixture(scope="module")
def robot():
    """The URDF as ROS's parser reads it; it warns on stderr of anything it does not know."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        parsed = URDF.from_xml_string(urdf())
    assert err.getvalue() == ""
    return parsed


def test_the_committed_file_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "jaco.urdf"
    assert main([str(out)]) == 0
    assert out.read_text() == COMMITTED.read_text(), f"regenerate it: {COMMAND}"
    # What a process of this machine uses differs only in where the meshes are.
    assert urdf() == urdf(PACKAGE_MESHES).replace(PACKAGE_MESHES, MESHES.as_uri())
    assert (
        f"{PACKAGE_MESHES}/" in COMMITTED.read_text() and str(MESHES) not in COMMITTED.read_text()
    )


def test_same_tree_joints_and_axes(model, robot):
    links = link_names(model, ROOT)
    assert robot.get_root() == "jaco_arm"
    assert {link.name for link in robot.links} == set(links.values()) | {"gripsite"}
    parents = {j.child: j.parent for j in robot.joints}
    for b, name in links.items():
        if b != model.body(ROOT).id:
            assert parents[name] == links[model.body_parentid[b]], name
    assert parents["gripsite"] == links[model.site_bodyid[model.site(GRIP_SITE).id]]
    movable = [j for j in robot.joints if j.type != "fixed"]
    assert [j.name for j in movable] == list(JOINTS)  # document order = command order
    for joint in movable:
        j = model.joint(joint.name)
        assert joint.child == links[j.bodyid[0]]
        np.testing.assert_allclose(joint.axis, j.axis, atol=1e-9)
        assert joint.type == ("revolute" if j.limited[0] else "continuous")


def _forward(robot, q: dict[str, float]) -> dict[str, np.ndarray]:
    """Each link's pose (4x4) in the root's frame: a small FK over the parsed tree."""
    poses = {robot.get_root(): np.eye(4)}
    pending = list(robot.joints)
    while pending:
        joint = next(j for j in pending if j.parent in poses)
        pending.remove(joint)
        origin = np.eye(4)
        origin[:3, :3] = euler2mat(*joint.origin.rpy, "sxyz")
        origin[:3, 3] = joint.origin.xyz
        motion = np.eye(4)
        if joint.type in ("revolute", "continuous"):
            motion[:3, :3] = axangle2mat(joint.axis, q[joint.name])
        poses[joint.child] = poses[joint.parent] @ origin @ motion
    return poses


def test_forward_kinematics_agree_at_random_configurations(model, robot):
    """Every link's frame and the grip site, in the arm's base frame, at configurations across
    the joints' ranges (continuous joints over a full turn and more)."""
    data = mujoco.MjData(model)
    links = link_names(model, ROOT)
    root = model.body(ROOT).id
    rng = np.random.default_rng(0)
    for _ in range(8):
        q = {}
        for name in JOINTS:
            j = model.joint(name)
            low, high = j.range if j.limited[0] else (-4.0, 4.0)
            q[name] = rng.uniform(low, high)
            data.qpos[j.qposadr[0]] = q[name]
        mujoco.mj_kinematics(model, data)
        base_r, base_p = data.xmat[root].reshape(3, 3), data.xpos[root]
        poses = _forward(robot, q)
        for b, name in links.items():
            np.testing.assert_allclose(
                poses[name][:3, 3], base_r.T @ (data.xpos[b] - base_p), atol=1e-7, err_msg=name
            )
            np.testing.assert_allclose(
                poses[name][:3, :3], base_r.T @ data.xmat[b].reshape(3, 3), atol=1e-7
            )
        site = model.site(GRIP_SITE).id
        grip = base_r.T @ (data.site_xpos[site] - base_p)
        np.testing.assert_allclose(poses["gripsite"][:3, 3], grip, atol=1e-7)
        np.testing.assert_allclose(
            poses["gripsite"][:3, :3], base_r.T @ data.site_xmat[site].reshape(3, 3), atol=1e-7
        )


@pytest.mark.parametrize("actuator", ["torque", "velocity"])
def test_the_gate_reads_the_same_limits_from_either_description(actuator):
    """Position range, speed, effort and damping by name: what a URDF can state. Inertia and the
    velocity servo's lag it cannot (the MJCF's are > 0, the URDF's 0)."""
    joints, from_urdf = commanded_limits(urdf())
    mjcf_joints, from_mjcf = commanded_limits(scene_xml(actuator))
    assert joints == mjcf_joints == list(JOINTS)
    for name, u, m in zip(joints, from_urdf, from_mjcf, strict=True):
        for field in ("lower", "upper", "velocity", "effort", "damping"):
            assert getattr(u, field) == pytest.approx(getattr(m, field), rel=1e-8), (name, field)
        assert u.inertia == 0 < m.inertia and u.lag == 0
        assert m.lag > 0 if actuator == "velocity" else m.lag == 0


def test_same_masses_centres_of_mass_and_inertias(model, robot):
    links = link_names(model, ROOT)
    total = 0.0
    for b, name in links.items():
        link = robot.link_map[name]
        if model.body_mass[b] == 0:
            assert link.inertial is None
            continue
        inertial = link.inertial
        total += inertial.mass
        assert inertial.mass == pytest.approx(model.body_mass[b], rel=1e-8)
        np.testing.assert_allclose(inertial.origin.xyz, model.body_ipos[b], atol=1e-9)
        rot = euler2mat(*inertial.origin.rpy, "sxyz")
        principal = quat2mat(model.body_iquat[b])
        in_body = rot @ np.array(inertial.inertia.to_matrix()) @ rot.T
        expected = principal @ np.diag(model.body_inertia[b]) @ principal.T
        # the text's nine digits of rpy turn the tensor by ~1e-9 rad
        np.testing.assert_allclose(in_body, expected, atol=1e-8 * np.abs(expected).max())
    assert total == pytest.approx(sum(model.body_mass[b] for b in links), rel=1e-8)


def _stl_vertices(path: Path) -> np.ndarray:
    """Vertices of a binary STL (dm_control's meshes are binary STL, 50 bytes a triangle)."""
    raw = path.read_bytes()
    count = int(np.frombuffer(raw, "<u4", 1, 80)[0])
    rows = np.frombuffer(raw, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]),
                         count, 84)  # fmt: skip
    return rows["v"].reshape(-1, 3).astype(float)


def test_each_mesh_is_the_installed_file_placed_where_mujoco_places_it(model, robot):
    """The file's vertices through the visual's origin span the same box in the link's frame as
    MuJoCo's compiled mesh (moved to its inertial frame) through the geom's pose."""
    links = link_names(model, ROOT)
    meshes = [g for g in range(model.ngeom) if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
    checked = 0
    for b, name in links.items():
        visuals = [v for v in robot.link_map[name].visuals if hasattr(v.geometry, "filename")]
        geoms = [g for g in meshes if model.geom_bodyid[g] == b]
        assert len(visuals) == len(geoms), name
        for visual, g in zip(visuals, geoms, strict=True):
            uri = visual.geometry.filename
            assert uri.startswith("file://") and uri.endswith(".stl")
            path = Path(uri.removeprefix("file://"))
            assert path.parent == MESHES and path.is_file()
            vertices = _stl_vertices(path)
            rot = euler2mat(*visual.origin.rpy, "sxyz")
            ours = vertices @ rot.T + visual.origin.xyz
            m = model.geom_dataid[g]
            compiled = model.mesh_vert[
                model.mesh_vertadr[m] : model.mesh_vertadr[m] + model.mesh_vertnum[m]
            ]
            theirs = compiled @ quat2mat(model.geom_quat[g]).T + model.geom_pos[g]
            np.testing.assert_allclose(ours.min(0), theirs.min(0), atol=1e-6)
            np.testing.assert_allclose(ours.max(0), theirs.max(0), atol=1e-6)
            checked += 1
    assert checked == len(meshes) == 14  # 9 files: the wrist twice, each finger part thrice
