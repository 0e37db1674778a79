"""Joint limits by name from robot descriptions (URDF, MJCF) and overrides by name."""

import math

import numpy as np
import pytest

from skill_embedding_ros.control.joint_limits import (
    JointLimit,
    apply_overrides,
    commanded_limits,
    limits_from_description,
)
from skill_embedding_ros.control.joint_states import JointPicker
from skill_embedding_ros.paths import data_dir

URDF = """<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/><link name="tool"/>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="l1"/>
    <limit lower="-2.0" upper="2.5" velocity="0.63" effort="30.5"/></joint>
  <joint name="wrist" type="continuous"><parent link="l1"/><child link="l2"/>
    <limit velocity="0.84" effort="6.8"/></joint>
  <joint name="mimic" type="revolute"><parent link="l2"/><child link="l3"/>
    <mimic joint="wrist"/><limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
  <joint name="flange" type="fixed"><parent link="l3"/><child link="tool"/></joint>
</robot>"""


def test_a_urdf_gives_each_movable_joint_its_limits_by_name():
    limits, order = limits_from_description(URDF)
    assert order == ["shoulder", "wrist"]  # fixed and mimic joints are not commanded
    assert limits["shoulder"] == JointLimit(-2.0, 2.5, 0.63, 30.5)
    assert limits["wrist"].lower == -math.inf and limits["wrist"].upper == math.inf
    assert (limits["wrist"].velocity, limits["wrist"].effort) == (0.84, 6.8)


@pytest.mark.parametrize("scene", ["point_mass.xml", "point_mass_push.xml"])
def test_an_mjcf_gives_range_servo_speed_and_the_servos_lag(scene):
    """The lag of a velocity servo is the joint's inertia over its gain: 1 kg / 30 N s/m."""
    import mujoco

    text = (data_dir("urdf") / scene).read_text()
    limits, order = limits_from_description(text)
    model = mujoco.MjModel.from_xml_string(text)
    assert order == ["x", "y"]  # the actuated joints, in actuator order
    for name in order:
        joint = model.joint(name)
        kv = -model.actuator(name).biasprm[2]
        expected = JointLimit(*joint.range, velocity=1.0, lag=model.dof_M0[joint.dofadr[0]] / kv)
        assert limits[name] == expected
    assert limits["x"].lag == pytest.approx(1 / 30)


def test_overrides_tighten_by_name_and_refuse_unknown_joints():
    limits, _ = limits_from_description(URDF)
    tight = apply_overrides(limits, "{shoulder: {upper: 1.0, velocity: 0.1}}")
    assert tight["shoulder"] == JointLimit(-2.0, 1.0, 0.1, 30.5)
    assert tight["wrist"] == limits["wrist"]
    with pytest.raises(ValueError, match=r"unknown joints \['elbow'\]; joints: \['shoulder'"):
        apply_overrides(limits, "{elbow: {upper: 1.0}}")
    with pytest.raises(ValueError, match="must set only"):
        apply_overrides(limits, "{shoulder: {uper: 1.0}}")
    with pytest.raises(ValueError, match=r"lower .* must be < upper"):
        apply_overrides(limits, "{shoulder: {upper: -3.0}}")
    with pytest.raises(ValueError, match="not valid YAML"):
        apply_overrides(limits, "{shoulder: [")


def test_commanded_joints_default_to_the_description_and_must_exist():
    joints, limits = commanded_limits(URDF, ("wrist",))
    assert joints == ["wrist"] and limits[0].velocity == 0.84
    with pytest.raises(ValueError, match=r"joints \['elbow'\] are not in the robot description"):
        commanded_limits(URDF, ("shoulder", "elbow"))
    with pytest.raises(ValueError, match="neither a URDF"):
        commanded_limits("<sdf/>")


def test_the_picker_reads_joint_states_by_name():
    picker = JointPicker(["b", "a"])
    np.testing.assert_array_equal(picker.pick(["a", "x", "b"], [1.0, 9.0, 2.0]), [2.0, 1.0])
    assert picker.pick(["a", "x", "b"], []) is None  # a state without velocities
    assert picker.missing(["a", "x"]) == ["b"] and picker.pick(["a", "x"], [1.0, 2.0]) is None
