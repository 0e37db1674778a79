"""The safety gate reads joint states by name and limits each joint by its own limits."""

import numpy as np
import pytest
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


def _torque_gate(x: float, v: float, **limits) -> Gate:
    """A lockstep gate in front of one effort-driven joint: 1 kg against 2 N s/m (lag 0.5 s)."""
    config = GateConfig(control_period=PERIOD, stepping="lockstep", command_interface="torque")
    gate = Gate(config, now=0.0)
    values = {"lower": -10.0, "upper": 10.0, "velocity": 1.0, "effort": 20.0} | limits
    gate.set_limits(["j"], [JointLimit(**values, inertia=1.0, damping=2.0)])
    gate.joint_state(["j"], [x], now=0.0, velocities=[v])
    return gate


def test_torque_mode_refuses_to_start_naming_each_joint_and_what_it_lacks():
    """A URDF describes no inertia per joint and this one no damping: torque mode cannot bound
    what an effort does, so the gate keeps no limits and says what to set."""
    gate = Gate(GateConfig(command_interface="torque"), now=0.0)
    lacking = [JointLimit(-1.0, 1.0, 1.0, 5.0), JointLimit(-1.0, 1.0, inertia=1.0, damping=1.0)]
    with pytest.raises(ValueError) as err:
        gate.set_limits(["shoulder", "elbow"], lacking)
    message = str(err.value)
    assert "joint 'shoulder' lacks its inertia" in message and "its damping" in message
    assert "joint 'elbow' lacks its effort limit" in message and "its velocity limit" in message
    assert gate.reach is None and gate.command([0.0, 0.0], now=0.0) is None


def test_torque_is_held_to_the_effort_and_to_the_velocity_it_reaches_in_a_period():
    """From rest, the effort that reaches 1 m/s at the end of the period: v(T) = (1 - a) u / d
    with a = exp(-T d / m); and never more than the effort limit."""
    most = 2.0 * 1.0 / (1 - np.exp(-PERIOD * 2.0))  # 11.03 N
    np.testing.assert_allclose(_torque_gate(0.0, 0.0).command([1e9], 0.01), [most])
    np.testing.assert_allclose(_torque_gate(0.0, 0.0).command([-1e9], 0.01), [-most])
    np.testing.assert_allclose(_torque_gate(0.0, 0.0, effort=5.0).command([-1e9], 0.01), [-5.0])
    np.testing.assert_allclose(_torque_gate(0.0, 0.0).command([3.0], 0.01), [3.0])


def test_torque_lets_a_joint_brake_but_never_pushes_one_that_would_coast_past_its_limit():
    """At 0.9 m, 0.5 m/s toward a limit at 1.0 m, at zero effort it would coast to 0.9 + 0.5 s x
    0.5 m/s = 1.15 m (a start outside the limits). No push passes; a brake does, down to the
    effort that reaches -1 m/s by the period's end; the gate forces none (zero is always safe
    from inside the limits, and a forced brake on mere bounds drives joints the other way).
    Moving away, the account starts from the larger of position and coasting position."""
    gate = _torque_gate(0.9, 0.5, upper=1.0)
    np.testing.assert_array_equal(gate.command([1e9], 0.01), [0.0])
    left = np.exp(-PERIOD * 2.0)  # the velocity fraction left after a period: exp(-T d / m)
    brake = 2.0 * (-1.0 - left * 0.5) / (1 - left)
    np.testing.assert_allclose(_torque_gate(0.9, 0.5, upper=1.0).command([-1e9], 0.01), [brake])
    away = _torque_gate(0.9, -0.5, upper=1.0)
    np.testing.assert_allclose(away.command([1e9], 0.01), [2.0 * (1.0 - 0.9) / PERIOD])


def test_every_effort_since_the_latest_state_counts_and_a_state_needs_velocities():
    gate = _torque_gate(0.0, 0.0, upper=0.05)
    # The first effort may move the coasting position to the limit: u = d (0.05 m) / T.
    np.testing.assert_allclose(gate.command([1e9], 0.01), [1.0])
    np.testing.assert_allclose(gate.command([1e9], 0.02), [0.0])  # no room is left
    gate.joint_state(["j"], [0.0], now=0.03)
    np.testing.assert_array_equal(gate.command([1.0], 0.04), [0.0])  # a stop: zero effort
    assert "no velocity" in gate.state().reason
