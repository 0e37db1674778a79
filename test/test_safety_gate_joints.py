"""The safety gate reads joint states by name and limits each joint by its own limits."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.settings.nodes import GateConfig

PERIOD = 0.1  # s


@given(
    order=st.permutations(["a", "b", "c", "finger_1", "finger_2"]),
    positions=st.lists(st.floats(-1.2, 1.2), min_size=3, max_size=3),
    command=st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3),
)
def test_joint_states_in_any_order_with_extra_joints_limit_the_same(order, positions, command):
    """A vendor driver publishes its joints in its own order, fingers included: the gate reads
    them by name, so the limited command is the one an ordered message gives."""
    joints = ["a", "b", "c"]
    limits = [JointLimit(-1.0, 1.0, 0.5), JointLimit(-0.3, 0.7, 2.0), JointLimit(-1.0, 0.2, 1.0)]
    outs = []
    for names in (joints, list(order)):
        gate = Gate(GateConfig(control_period=PERIOD, stepping="lockstep"), now=0.0)
        gate.set_limits(joints, limits)
        by_name = dict(zip(joints, positions, strict=True)) | {"finger_1": 9.0, "finger_2": -9.0}
        gate.joint_state(names, [by_name[n] for n in names], now=0.0)
        outs.append(gate.command(command, now=0.01))
    np.testing.assert_array_equal(outs[0], outs[1])
    reached = np.asarray(positions) + outs[0] * PERIOD
    for x, x0, lim in zip(reached, positions, limits, strict=True):
        assert x <= max(lim.upper, x0) + 1e-9 and x >= min(lim.lower, x0) - 1e-9


def test_a_joint_state_lacking_a_joint_is_refused_with_its_name():
    gate = Gate(GateConfig(control_period=PERIOD, stepping="lockstep"), now=0.0)
    gate.set_limits(["shoulder", "elbow"], [JointLimit(-1.0, 1.0, 1.0)] * 2)
    gate.joint_state(["elbow", "wrist"], [0.0, 0.0], now=0.0)
    np.testing.assert_array_equal(gate.command([0.1, 0.1], now=0.01), [0.0, 0.0])
    assert gate.state().mode == Mode.REFUSED
    assert "['shoulder']" in gate.state().reason and "wrist" in gate.state().reason
    gate.joint_state(["wrist", "elbow", "shoulder"], [5.0, 0.0, 0.0], now=0.02)
    np.testing.assert_allclose(gate.command([0.1, 0.1], now=0.03), [0.1, 0.1])


def test_each_joint_has_its_own_limits():
    gate = Gate(GateConfig(control_period=PERIOD, stepping="lockstep"), now=0.0)
    gate.set_limits(["a", "b"], [JointLimit(-1.0, 0.5, 2.0), JointLimit(-0.2, 1.0, 0.3)])
    gate.joint_state(["a", "b"], [0.45, -0.19], now=0.0)
    np.testing.assert_allclose(gate.command([5.0, -5.0], now=0.01), [0.5, -0.1])
