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
from skill_embedding_ros.control.joint_states import JointPicker, passes
from skill_embedding_ros.paths import data_dir

URDF = """<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/><link name="tool"/>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="l1"/>
    <limit lower="-2.0" upper="2.5" velocity="0.63" effort="30.5"/></joint>
  <joint name="wrist" type="continuous"><parent link="l1"/><child link="l2"/>
    <limit velocity="0.84" effort="6.8"/><dynamics damping="0.7" friction="0.1"/></joint>
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
    assert (limits["wrist"].damping, limits["wrist"].inertia) == (0.7, 0.0)  # no inertia per joint


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
        inertia = model.dof_M0[joint.dofadr[0]]
        expected = JointLimit(*joint.range, velocity=1.0, lag=inertia / kv, inertia=inertia)
        assert limits[name] == expected
    assert limits["x"].lag == pytest.approx(1 / 30) and limits["x"].inertia == pytest.approx(1.0)


MOTORS = """<mujoco><option gravity="0 0 -9.81"/>
  <worldbody>
    <body><joint name="s" type="slide" axis="1 0 0" range="-1 1" damping="3" armature="0.5"/>
      <geom type="sphere" size="0.1" mass="2"/></body>
    <body pos="1 0 0"><joint name="h" type="hinge" axis="0 0 1" damping="0.2"
        actuatorfrcrange="-4 4"/><geom type="box" size="0.1 0.2 0.05" mass="1"/></body>
  </worldbody>
  <actuator><motor joint="s" gear="2" ctrlrange="-5 5" forcerange="-3 3"/>
    <motor joint="h" ctrlrange="-10 10"/></actuator>
</mujoco>"""


def test_an_mjcf_gives_the_inertia_damping_and_effort_at_each_joint():
    """What the torque interface needs: the inertia an effort moves (armature included), the
    joint's damping, and the largest effort at the joint, whichever clamp is tightest: the
    actuator's force range or command range times its gear, or the joint's own force range."""
    limits, order = limits_from_description(MOTORS)
    assert order == ["s", "h"]
    s, h = limits["s"], limits["h"]
    assert (s.inertia, s.damping, s.effort) == (pytest.approx(2.5), 3.0, 6.0)  # 3 N x gear 2
    box = 1.0 * (0.2**2 + 0.4**2) / 12  # a 0.2 x 0.4 m box of 1 kg about its z axis
    assert (h.inertia, h.damping, h.effort) == (pytest.approx(box), 0.2, 4.0)
    assert h.lower == -math.inf  # an unlimited hinge
    assert apply_overrides(limits, "{h: {inertia: 0.5, damping: 1.0}}")["h"].inertia == 0.5
    with pytest.raises(ValueError, match="lag, inertia and damping >= 0"):
        apply_overrides(limits, "{h: {damping: -1.0}}")


def test_an_mjcf_states_a_speed_limit_as_custom_data():
    """MJCF has no joint speed limit: a `velocity:JOINT` numeric gives one (a motor-driven joint
    needs it for the torque interface); beside a velocity servo the lower of the two holds."""
    speeds = '<custom><numeric name="velocity:s" data="0.4"/><numeric name="velocity:h" data="2"/>'
    limits, _ = limits_from_description(MOTORS.replace("</mujoco>", f"{speeds}</custom></mujoco>"))
    assert (limits["s"].velocity, limits["h"].velocity) == (0.4, 2.0)
    assert limits_from_description(MOTORS)[0]["s"].velocity == math.inf
    servo = (data_dir("urdf") / "point_mass.xml").read_text()  # servos of 1 m/s
    slower = '<custom><numeric name="velocity:x" data="0.5"/><numeric name="velocity:y" data="3"/>'
    limits, _ = limits_from_description(servo.replace("</mujoco>", f"{slower}</custom></mujoco>"))
    assert (limits["x"].velocity, limits["y"].velocity) == (0.5, 1.0)
    unknown = MOTORS.replace("</mujoco>", '<custom><numeric name="velocity:elbow" data="1"/>'
                             "</custom></mujoco>")  # fmt: skip
    with pytest.raises(ValueError, match="'velocity:elbow' gives a speed limit to no"):
        limits_from_description(unknown)


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


def test_thinning_a_joint_state_stream():
    """One state per period passes (the arm driver's state_rate, static_pose's `every`); a
    stamp that went back, as from a restarted robot, passes and restarts the count."""
    every, last, passed = 10, None, []
    for stamp in (0, 3, 9, 10, 14, 21, 5, 8, 15):
        if passes(stamp, last, every):
            passed.append(stamp)
            last = stamp
    assert passed == [0, 10, 21, 5, 15]
