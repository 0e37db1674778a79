"""The arm driver's decisions without ROS: the configure check's refusals, names and orders
between graph and vendor, the graph's description, the homing plan, homed, the hold rules."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from skill_embedding_ros.control.joint_limits import limits_from_description
from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.robots import arm_description as description
from skill_embedding_ros.robots import arm_link as link
from skill_embedding_ros.robots.ros2_control import ROBOT_DIR, load_robot, parse_robot

JACO = load_robot("jaco")
SUITE_JOINTS = tuple(JACO.joints)  # the jaco_velocity suite's, in its order
MODEL_URDF = (data_dir("urdf") / "jaco.urdf").read_text()


def _robot(edit=None):
    """The Jaco config, edited as raw YAML by `edit(raw)`."""
    raw = yaml.safe_load((ROBOT_DIR / "jaco.yaml").read_text())
    if edit:
        edit(raw)
    return parse_robot(raw, "test")


def _rename_vendor(raw, model: str, vendor: str):
    old = raw["joints"][model]
    raw["joints"][model] = vendor
    for names in (raw["broadcast_order"], *(c["joints"] for c in raw["controllers"].values())):
        names[names.index(old)] = vendor


def _vendor_urdf(robot=JACO, extra: str = "") -> str:
    """The model URDF with the vendor's joint names (what a vendor stack publishes), with an
    extra movable joint `extra` when given."""
    root = ET.fromstring(MODEL_URDF)
    for joint in root.iter("joint"):
        joint.set("name", robot.joints.get(joint.get("name"), joint.get("name")))
    if extra:
        joint = ET.SubElement(root, "joint", name=extra, type="prismatic")
        ET.SubElement(joint, "limit", lower="0", upper="1", effort="10", velocity="0.1")
    return ET.tostring(root, encoding="unicode")


VENDOR = list(JACO.joints.values())
DESCRIBED = list(description.described_limits(_vendor_urdf()))


def _check(robot=JACO, described=DESCRIBED, published=VENDOR, with_velocity=None, model=()):
    with_velocity = published if with_velocity is None else with_velocity
    link.check_joints(robot, described, published, with_velocity, model, "robot config 'x'")


def test_the_configured_arm_passes_and_extra_vendor_joints_are_ignored():
    _check(model=SUITE_JOINTS)
    _check(described=[*DESCRIBED, "rail"], published=["rail", *reversed(VENDOR)])


def test_an_unknown_vendor_name_in_the_config_is_named_with_the_likely_fix():
    robot = _robot(lambda raw: _rename_vendor(raw, "joint_2", "j2n6s300_joint_02"))
    with pytest.raises(link.LinkError) as err:
        _check(robot)
    text = str(err.value)
    assert "joint_2 -> 'j2n6s300_joint_02'" in text
    assert "did you mean 'j2n6s300_joint_2'" in text
    assert "fix `joints`" in text and "\n" not in text


def test_a_joint_missing_from_joint_states_is_named():
    published = [v for v in VENDOR if v != "j2n6s300_joint_3"]
    with pytest.raises(
        link.LinkError,
        match=r"/joint_states lacks vendor joint\(s\) "
        r"'j2n6s300_joint_3' \(model 'joint_3'\).*joint_state_broadcaster",
    ):
        _check(published=published)


def test_a_description_of_another_arm_is_a_name_mismatch():
    described = [v.replace("j2n6s300", "j2s7s300") for v in DESCRIBED]
    with pytest.raises(link.LinkError) as err:
        _check(described=described)
    text = str(err.value)
    assert "'j2n6s300_joint_1'" in text and "not in the vendor's robot_description" in text
    assert "publish the description" in text


def test_joint_states_without_velocities_are_refused():
    with pytest.raises(link.LinkError, match="no velocity for 'j2n6s300_joint_1'"):
        _check(with_velocity=VENDOR[1:])


def test_model_names_must_be_the_suites():
    def rename(raw):
        raw["joints"]["joint_9"] = raw["joints"].pop("joint_6")
        raw["home"]["joint_9"] = raw["home"].pop("joint_6")

    with pytest.raises(link.LinkError) as err:
        _check(_robot(rename), model=SUITE_JOINTS)
    text = str(err.value)
    assert "not the suite's: 'joint_9'; not mapped: 'joint_6'" in text
    assert "fix the keys of `joints` and their order" in text


def test_model_joints_must_come_in_the_suites_command_order():
    def fingers_first(raw):
        raw["joints"] = {m: raw["joints"][m] for m in [*SUITE_JOINTS[6:], *SUITE_JOINTS[:6]]}

    with pytest.raises(link.LinkError, match="not the suite's: none; not mapped: none"):
        _check(_robot(fingers_first), model=SUITE_JOINTS)


def test_home_outside_the_described_limits_is_refused():
    robot = _robot(lambda raw: raw["home"].update(joint_2=0.5))
    link.check_home(JACO, description.described_limits(_vendor_urdf()))
    with pytest.raises(link.LinkError, match=r"joint_2 at 0.5 rad, limits \[0.820305"):
        link.check_home(robot, description.described_limits(_vendor_urdf(robot)))


def _shuffled_velocity(raw):
    raw["controllers"]["velocity"]["joints"] = list(reversed(raw["broadcast_order"]))


def test_commands_go_to_the_velocity_controller_by_name_both_ways():
    robot = _robot(_shuffled_velocity)
    jmap = link.JointMap.of(robot)
    graph = [float(i) for i in range(len(jmap.model))]  # joint_1 -> 0.0, ..., finger_3 -> 8.0
    sent = jmap.velocity_command(graph)
    by_vendor = dict(zip(robot.velocity.joints, sent, strict=True))
    for model, value in zip(jmap.model, graph, strict=True):
        assert by_vendor[robot.joints[model]] == value
    assert robot.velocity.joints[0] == "j2n6s300_joint_6" and sent[0] == 5.0  # joint_6's
    assert jmap.to_vendor()["finger_1"] == "j2n6s300_joint_finger_1"


def test_joint_states_map_to_model_names_in_model_order():
    jmap = link.JointMap.of(JACO)
    names = ["rail", *reversed(VENDOR)]
    q = [float(i) for i in range(len(names))]
    out = jmap.model_state(names, q, [x / 10 for x in q], [])
    assert out[0] == list(SUITE_JOINTS)
    assert out[1][0] == q[names.index("j2n6s300_joint_1")]
    assert out[2][-1] == q[names.index("j2n6s300_joint_finger_3")] / 10
    assert out[3] == []  # no efforts on the wire: none made up


def test_the_graph_description_has_the_hardwares_limits_by_model_name():
    vendor = _vendor_urdf(extra="rail")
    graph = description.graph_description(vendor, JACO)
    by_vendor, by_model = limits_from_description(vendor)[0], limits_from_description(graph)[0]
    for m, v in JACO.joints.items():
        assert by_model[m] == by_vendor[v]
    # The rail is not the graph's to command: fixed, so the gate expects no value for it.
    assert "rail" not in by_model and not set(VENDOR) & set(by_model)


def _ros2_control_urdf() -> str:
    """What a real ros2_control robot_description looks like: the joints in another order than
    the config's, a <ros2_control> block and transmissions naming them again (no type, no
    limits), and a movable joint the graph does not command (a finger tip)."""
    root = ET.fromstring(_vendor_urdf(extra="j2n6s300_joint_finger_tip_1"))
    joints = root.findall("joint")
    for joint in joints:
        root.remove(joint)
    for joint in reversed(joints):
        root.append(joint)
    block = ET.SubElement(root, "ros2_control", name="jaco", type="system")
    for joint in joints:
        item = ET.SubElement(block, "joint", name=joint.get("name"))
        ET.SubElement(item, "command_interface", name="velocity")
        transmission = ET.SubElement(root, "transmission", name=f"{joint.get('name')}_trans")
        ET.SubElement(transmission, "joint", name=joint.get("name"))
    return ET.tostring(root, encoding="unicode")


def test_a_ros2_control_description_gives_the_graph_the_configs_joints_in_its_order():
    vendor = _ros2_control_urdf()
    limits, order = limits_from_description(vendor)
    assert len(order) == len(set(order)) == len(VENDOR) + 1  # each joint once, blocks ignored
    assert all(math.isfinite(limits[v].upper - limits[v].lower) for v in VENDOR if "finger" in v)
    graph = description.graph_description(vendor, JACO)
    by_model, commanded = limits_from_description(graph)
    assert commanded == list(JACO.joints)  # what the gate sends, in the order the driver reads
    for m, v in JACO.joints.items():
        assert by_model[m] == limits[v]
    assert 'name="joint_1"' in graph.split("<ros2_control")[1]  # renamed there too


def test_the_graph_description_refuses_a_name_clash_and_other_formats():
    with pytest.raises(link.LinkError, match="'joint_2' are also names of other vendor"):
        description.graph_description(_vendor_urdf(extra="joint_2"), JACO)
    with pytest.raises(link.LinkError, match="not a URDF"):
        description.graph_description("<mujoco/>", JACO)
    with pytest.raises(link.LinkError, match="not valid XML"):
        description.graph_description("<robot", JACO)


LIMITS = description.described_limits(_vendor_urdf())
HOME = {JACO.joints[m]: q for m, q in JACO.home.items()}


def test_a_known_state_is_fresh_and_within_the_limits():
    received = {v: 10.0 for v in VENDOR}
    assert link.known_state_problem(JACO, HOME, received, 10.05, 0.1, LIMITS) is None
    stale = {**received, "j2n6s300_joint_4": 9.8}
    why = link.known_state_problem(JACO, HOME, stale, 10.05, 0.1, LIMITS)
    assert "no fresh /joint_states (within 0.1 s) for 'j2n6s300_joint_4'" in why
    outside = {**HOME, "j2n6s300_joint_2": 0.5}
    why = link.known_state_problem(JACO, outside, received, 10.05, 0.1, LIMITS)
    assert "joint_2 at 0.5000 rad, limits [0.820305" in why


def _max_speed(plan: link.Plan, start: dict) -> float:
    q = np.array([[start[v] for v in plan.joints], *plan.positions])
    t = np.array([0.0, *plan.times])
    return float(np.max(np.abs(np.diff(q, axis=0)) / np.diff(t)[:, None]))


@given(
    offsets=st.lists(st.floats(-3.0, 3.0), min_size=9, max_size=9),
    ramp=st.floats(0.05, 2.0),
)
def test_a_homing_plan_ends_home_at_rest_and_no_joint_outruns_homing_speed(offsets, ramp):
    start = {v: HOME[v] + o for v, o in zip(VENDOR, offsets, strict=True)}
    plan = link.plan_homing(JACO, start, ramp)
    home = [HOME[v] for v in plan.joints]
    assert plan.joints == JACO.trajectory.joints
    assert plan.positions[-1] == pytest.approx(home) and plan.velocities[-1] == (0.0,) * 9
    assert all(b > a for a, b in zip((0.0, *plan.times), plan.times, strict=False))
    assert _max_speed(plan, start) <= JACO.homing_speed * (1 + 1e-9)
    assert np.max(np.abs(plan.velocities)) <= JACO.homing_speed * (1 + 1e-9)
    # it takes its time: the farthest joint at full speed plus a ramp
    far = max(abs(o) for o in offsets)
    assert plan.duration >= far / JACO.homing_speed - 1e-9


def test_a_homing_plan_ramps_up_and_down():
    start = {**HOME, "j2n6s300_joint_2": HOME["j2n6s300_joint_2"] - 1.0}
    plan = link.plan_homing(JACO, start, ramp=0.5, step=0.1)
    j2 = plan.joints.index("j2n6s300_joint_2")
    speeds = [v[j2] for v in plan.velocities]
    assert speeds[0] == pytest.approx(0.3 * 0.1 / 0.5)  # accelerating, not at full speed yet
    assert max(speeds) == pytest.approx(0.3)
    assert plan.duration == pytest.approx(1.0 / 0.3 + 0.5)
    assert plan.positions[0][j2] - start["j2n6s300_joint_2"] == pytest.approx(0.5 * 0.6 * 0.01)
    # the other joints are home already and stay there
    other = plan.joints.index("j2n6s300_joint_5")
    assert {p[other] for p in plan.positions} == {HOME["j2n6s300_joint_5"]}


def test_a_short_homing_plan_is_a_triangle_and_one_at_home_a_single_point():
    start = {**HOME, "j2n6s300_joint_1": HOME["j2n6s300_joint_1"] + 0.05}
    plan = link.plan_homing(JACO, start, ramp=0.5)
    accel = 0.3 / 0.5
    assert plan.duration == pytest.approx(2 * math.sqrt(0.05 / accel))
    at_home = link.plan_homing(JACO, HOME, ramp=0.5)
    assert len(at_home.times) == 1 and at_home.positions[0] == tuple(HOME[v] for v in VENDOR)


def test_homed_needs_every_joint_near_home_and_at_rest():
    still = {v: 0.0 for v in VENDOR}
    near = {v: q + 0.9 * JACO.home_tolerance for v, q in HOME.items()}
    assert link.not_homed(JACO, near, still, 0.02) == []
    off = {**near, "j2n6s300_joint_3": HOME["j2n6s300_joint_3"] + 0.05}
    late = link.not_homed(JACO, off, still, 0.02)
    assert len(late) == 1 and late[0].startswith("joint_3 (at 5.3252 rad")
    moving = {**still, "j2n6s300_joint_finger_2": 0.1}
    assert link.not_homed(JACO, HOME, moving, 0.02)[0].startswith("finger_2")
    assert "joint_3 (at" in link.homing_late(JACO, late, 8.0)


def test_a_bad_command_is_named():
    joints = SUITE_JOINTS
    assert link.check_command([0.0] * 9, joints) is None
    assert link.check_command([0.0] * 8, joints).startswith("8 values for the 9 joints")
    bad = [0.0] * 9
    bad[2], bad[7] = math.nan, math.inf
    assert link.check_command(bad, joints) == "non-finite value(s) for 'joint_3', 'finger_2'"


def _hold(now=10.0, **kw):
    args = dict(
        active=True,
        homing=False,
        state_at=9.99,
        command_at=9.99,
        command_error=None,
        state_timeout=0.1,
        command_timeout=0.1,
    )
    return link.hold_reason(now, **{**args, **kw})


def test_hold_rules_in_order():
    assert _hold() is None
    assert _hold(active=False, state_at=None).rule == link.INACTIVE
    assert _hold(state_at=9.89, homing=True).rule == link.STALE
    assert _hold(state_at=None).rule == link.STALE
    assert _hold(homing=True, command_error="x").rule == link.HOMING
    assert _hold(command_error="3 values").text == "refused command: 3 values"
    assert _hold(command_at=None).rule == link.NO_COMMAND
    assert "policy lost" in _hold(command_at=9.89).text
    assert _hold(command_at=9.91, state_at=9.91) is None  # within both timeouts


def test_a_hold_is_logged_once_per_change():
    log = link.HoldLog()
    stale = _hold(state_at=None)
    assert log.change(None) is None  # forwarding from the start: nothing to say
    assert log.change(stale).startswith("holding (zero velocity): no /joint_states")
    assert log.change(_hold(state_at=1.0)) is None  # same rule, another age
    assert log.change(None) == "forwarding commands again"


def test_a_missing_controller_says_how_to_start_it():
    text = link.controller_missing("velocity", "vc", "/vc/commands", can_switch=False)
    assert "no subscriber on /vc/commands" in text and "'vc' must be loaded and active" in text
    assert "spawner vc" in text and "no pip wheel" in text
    assert "no pip wheel" not in link.controller_missing("velocity", "vc", "/t", True)
