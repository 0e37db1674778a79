"""Teleop at the safety gate, ROS-free: mappings (control/teleop_mapping.py), who commands
(control/teleop.py), the gate with an operator (control/teleop_gate.py); hostile policies and
operators against the real robot: test_teleop_properties.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.control.teleop import Source, Teleop, load_mapping, parse_mapping
from skill_embedding_ros.control.teleop_gate import TeleopGate
from skill_embedding_ros.settings.nodes import GateConfig
from test.test_safety_gate_properties import PERIOD

JACO = [f"joint_{i}" for i in range(1, 7)] + [f"finger_{i}" for i in range(1, 4)]
BUTTONS = {"deadman": 0, "intervene": 1, "estop": 2}


def _mapping(axes=None, timeout=0.5, buttons=None):
    raw = {"buttons": buttons or BUTTONS, "axes": axes or {}, "timeout": timeout}
    return parse_mapping(raw, "test")


def _joy(deadman=0, intervene=0, estop=0):
    return [deadman, intervene, estop]


# mappings


def test_the_shipped_mappings_load_and_fit_the_jaco():
    for name in ("xbox", "keyboard"):
        mapping = load_mapping(name)
        mapping.check_joints(JACO)
        assert set(mapping.axes) == set(JACO)
        assert mapping.buttons == {
            "deadman": 4, "intervene": 5, "estop": 7,
            "confirm": 0, "success": 1, "failure": 2, "abort": 3,
        }  # fmt: skip
    load_mapping("keyboard_point_mass").check_joints(["x", "y"])


def test_a_mapping_by_path(tmp_path):
    path = tmp_path / "pad.yaml"
    path.write_text(
        yaml.safe_dump({"buttons": {"estop": 3}, "axes": {"x": {"axis": 1, "scale": -1}}})
    )
    mapping = load_mapping(str(path))
    assert mapping.buttons == {"estop": 3} and mapping.timeout == 0.5
    assert mapping.shares(["x", "y"], [0.0, 0.5]) == [-0.5, 0.0]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"buttons": {"dead_man": 4}}, "unknown button role 'dead_man'"),
        ({"buttons": {"deadman": -1}}, "buttons.deadman must be a button index >= 0"),
        ({"buttons": {"deadman": True}}, "buttons.deadman must be a button index >= 0"),
        ({"buttons": {"deadman": 1.5}}, "buttons.deadman must be a button index >= 0"),
        ({"buttons": {"deadman": 4, "estop": 4}}, "deadman and estop are both button 4"),
        ({"buttons": {"deadman": 4, "intervene": 4}}, "deadman and intervene are both button"),
        ({"buttons": {"success": 1, "failure": 1}}, "success and failure are both button 1"),
        ({"buttons": {"confirm": 0, "estop": 0}}, "confirm and estop are both button 0"),
        ({"axes": {"x": {"axis": -1, "scale": 0.5}}}, "axes.x: axis must be an axis index"),
        ({"axes": {"x": {"axis": 0, "scale": 0}}}, "scale must be a share"),
        ({"axes": {"x": {"axis": 0, "scale": 1.5}}}, "scale must be a share"),
        ({"axes": {"x": {"axis": 0, "scale": float("nan")}}}, "scale must be a share"),
        ({"axes": {"x": {"axis": 0}}}, "axes.x must be {axis: INDEX, scale: SHARE}"),
        ({"axes": {"x": {"axis": 0, "scale": 1, "gain": 2}}}, "unknown key(s) ['gain']"),
        ({"axes": {"x": {"axis": 0, "scale": 1, "rest": 3}}}, "rest must be an axis value"),
        ({"axes": [1, 2]}, "axes must be a mapping"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": "soon"}, "timeout must be a positive number"),
        ({"button": {}}, "unknown key(s) ['button']"),
        ([1, 2], "expected a mapping with buttons, axes, timeout"),
    ],
)
def test_a_bad_mapping_is_refused_saying_what_is_wrong(raw, message):
    with pytest.raises(ValueError) as err:
        parse_mapping(raw, "pad.yaml")
    assert message in str(err.value) and "pad.yaml" in str(err.value)


def test_the_deadman_may_double_as_confirm():
    assert parse_mapping({"buttons": {"deadman": 4, "confirm": 4}}).buttons["confirm"] == 4


def test_a_missing_mapping_names_the_shipped_ones():
    with pytest.raises(ValueError, match=r"no file .*nope.yaml .*'keyboard'.*'xbox'"):
        load_mapping("nope")


def test_a_joint_the_robot_lacks_is_refused_by_name():
    mapping = _mapping({"x": {"axis": 0, "scale": 1}, "elbow": {"axis": 1, "scale": 1}})
    with pytest.raises(ValueError, match=r"joint\(s\) \['elbow'\] that the robot does not"):
        mapping.check_joints(["x", "y"])
    gate = TeleopGate(Gate(GateConfig(), 0.0), Teleop(mapping, deadman=False))
    with pytest.raises(ValueError, match="elbow"):
        gate.set_limits(["x", "y"], [JointLimit(-1, 1, 1)] * 2)
    assert gate.gate.joints == ()  # the gate kept what it had


def test_pressed_is_false_beyond_the_buttons_and_for_a_role_without_one():
    mapping = _mapping(buttons={"deadman": 4, "estop": 0})
    assert mapping.pressed([0, 0, 0, 0, 1], "deadman")
    assert not mapping.pressed([0, 0, 1], "deadman")
    assert not mapping.pressed([1, 1, 1, 1, 1], "intervene")


def test_axes_scale_rest_and_clip():
    mapping = _mapping({
        "a": {"axis": 0, "scale": 0.5},
        "b": [{"axis": 1, "scale": -0.25, "rest": 1.0}, {"axis": 2, "scale": 0.25, "rest": 1.0}],
        "c": {"axis": 3, "scale": 1.0},
    })  # fmt: skip
    assert mapping.shares(["a", "b", "c", "d"], [1.0, 1.0, 1.0, 0.2]) == [0.5, 0.0, 0.2, 0.0]
    assert mapping.shares(["b"], [0.0, -1.0, 1.0]) == [0.5]  # right trigger pressed: +
    assert mapping.shares(["b"], [0.0, 1.0, -1.0]) == [-0.5]
    hostile = [math.nan, math.inf, -1e30, 7.0]
    assert mapping.shares(["a", "b", "c"], hostile) == [0.0, -0.5, 1.0]  # inf, -1e30: +-1
    assert mapping.shares(["a", "c"], []) == [0.0, 0.0]  # a short message: at rest


# who commands


@pytest.mark.parametrize(
    "fresh, intervene, deadman, required, source",
    [
        (False, 1, 1, True, Source.STOP),  # a stale Joy: every button released
        (False, 1, 1, False, Source.POLICY),
        (True, 1, 0, True, Source.TELEOP),  # holding intervene needs no deadman
        (True, 1, 1, False, Source.TELEOP),
        (True, 0, 1, True, Source.POLICY),
        (True, 0, 0, True, Source.STOP),
        (True, 0, 0, False, Source.POLICY),
    ],
)
def test_who_commands(fresh, intervene, deadman, required, source):
    teleop = Teleop(_mapping(), deadman=required)
    teleop.joy(_joy(deadman, intervene), [], now=0.0)
    assert teleop.source(0.4 if fresh else 0.6) == source


def test_before_any_joy_a_required_deadman_is_released():
    assert Teleop(_mapping(), deadman=True).source(0.0) == Source.STOP
    assert Teleop(_mapping(), deadman=False).source(0.0) == Source.POLICY


def test_a_deadman_needs_a_deadman_button():
    with pytest.raises(ValueError, match="no deadman button"):
        Teleop(_mapping(buttons={"estop": 1}), deadman=True)


def test_the_estop_button_fires_on_its_press_only():
    teleop = Teleop(_mapping(), deadman=False)
    presses = [teleop.joy(_joy(estop=e), [], k / 10) for k, e in enumerate([0, 1, 1, 0, 1])]
    assert presses == [False, True, False, False, True]
    assert not teleop.joy(_joy(estop=1), [], 0.5)  # held
    assert teleop.joy(_joy(estop=1), [], 1.5)  # after a dropout (0.5 s timeout): a press again


# the gate with an operator

SPEED = 0.8


def _gate(stepping="realtime", deadman=True, interface="velocity") -> TeleopGate:
    config = GateConfig(
        control_period=PERIOD, stepping=stepping, command_interface=interface, state_latency=0.01
    )
    mapping = _mapping({"j0": {"axis": 0, "scale": 0.5}})
    gate = TeleopGate(Gate(config, 0.0), Teleop(mapping, deadman))
    gate.set_limits(["j0", "j1"], [JointLimit(-1.0, 1.0, SPEED)] * 2)
    gate.gate.joint_state(["j0", "j1"], [0.0, 0.0], 0.0, [0.0, 0.0], 0)
    return gate


def test_takeover_answers_the_policy_with_the_operators_command():
    gate = _gate()
    gate.joy(_joy(intervene=1), [1.0], 0.0)
    out = gate.command([-0.3, 0.3], 0.01)
    np.testing.assert_allclose(out, [0.5 * SPEED, 0.0])
    assert gate.interventions == 1 and gate.gate.state().forwarded == 1
    out, own = gate.tick(0.02)  # and at every tick, the policy silent
    np.testing.assert_allclose(out, [0.5 * SPEED, 0.0])
    assert not own and gate.interventions == 1


def test_the_operator_can_take_over_from_a_policy_long_silent():
    gate = _gate()
    assert not gate.tick(1.0)[0].any()  # the policy never spoke: the watchdog stops
    gate.joy(_joy(intervene=1), [1.0], 1.0)
    out, own = gate.tick(1.01)
    np.testing.assert_allclose(out, [0.5 * SPEED, 0.0])
    assert not own
    gate.gate.latch_estop(1.02)  # but never past the e-stop
    assert not gate.tick(1.03)[0].any()


def test_deadman_release_stops_at_once_and_answers_with_stops():
    gate = _gate()
    gate.joy(_joy(deadman=1), [], 0.0)
    np.testing.assert_allclose(gate.command([0.3, -0.3], 0.01), [0.3, -0.3])
    stop, estop = gate.joy(_joy(deadman=0), [], 0.02)
    assert not estop and stop is not None and not stop.any()
    assert not gate.command([0.3, -0.3], 0.03).any()
    assert gate.reason(0.03) == "deadman released"
    assert gate.gate.state().mode == Mode.OK  # a held gate is not a broken one


def test_a_stale_joy_stops_at_the_next_tick():
    gate = _gate()
    gate.joy(_joy(deadman=1), [], 0.0)
    for k in range(1, 21):  # a policy on time, the watchdog ticking every tick_period
        now = k * gate.gate.tick_period
        assert k % 2 or gate.command([0.3, -0.3], now).any()
        assert gate.tick(now) == (None, True)
    out, own = gate.tick(0.51)  # 0.5 s timeout
    assert own and not out.any()
    assert "no Joy for over 0.5 s" in gate.reason(0.51)


def test_letting_go_of_intervene_stops_at_once():
    gate = _gate(deadman=False)
    gate.joy(_joy(intervene=1), [1.0], 0.0)
    assert gate.tick(0.01)[0].any()
    stop, _ = gate.joy(_joy(), [1.0], 0.02)
    assert stop is not None and not stop.any()
    np.testing.assert_allclose(gate.command([0.1, 0.1], 0.03), [0.1, 0.1])  # the policy's


def test_lockstep_sends_the_operators_command_only_in_answer():
    gate = _gate(stepping="lockstep")
    gate.joy(_joy(intervene=1), [1.0], 0.0)
    assert gate.tick(0.01) == (None, True)
    np.testing.assert_allclose(gate.command([0.0, 0.0], 0.02), [0.4, 0.0])


def test_the_estop_button_latches_the_gate_until_released():
    gate = _gate(deadman=False)
    stop, estop = gate.joy(_joy(estop=1), [], 0.0)
    assert estop and not stop.any() and gate.gate.state().estop
    gate.joy(_joy(intervene=1), [1.0], 0.01)
    assert not gate.command([0.3, 0.3], 0.02).any()
    assert not gate.tick(0.03)[0].any()
    assert gate.gate.release_estop()
    np.testing.assert_allclose(gate.command([0.3, 0.3], 0.04), [0.4, 0.0])


def test_position_takeover_moves_the_target_at_the_operators_speed():
    gate = _gate(interface="position", deadman=False)
    gate.joy(_joy(intervene=1), [1.0], 0.0)
    first = gate.tick(PERIOD / 4)[0]
    np.testing.assert_allclose(first, [0.4 * PERIOD / 4, 0.0])
    np.testing.assert_allclose(gate.tick(PERIOD / 2)[0], [0.4 * PERIOD / 2, 0.0])


def test_torque_takeover_is_the_effort_that_settles_at_the_operators_speed():
    config = GateConfig(control_period=PERIOD, command_interface="torque", stepping="lockstep")
    mapping = _mapping({"j0": {"axis": 0, "scale": 0.5}})
    gate = TeleopGate(Gate(config, 0.0), Teleop(mapping, deadman=False))
    joint = JointLimit(-1.0, 1.0, SPEED, effort=100.0, inertia=1.0, damping=10.0)
    gate.set_limits(["j0", "j1"], [joint] * 2)
    gate.gate.joint_state(["j0", "j1"], [0.0, 0.0], 0.0, [0.0, 0.0], 0)
    gate.joy(_joy(intervene=1), [-1.0], 0.0)
    np.testing.assert_allclose(gate.command([50.0, 50.0], 0.01), [-10.0 * 0.5 * SPEED, 0.0])


def test_without_teleop_the_gate_is_unchanged():
    config = GateConfig(control_period=PERIOD, stepping="realtime")
    plain, wrapped = Gate(config, 0.0), TeleopGate(Gate(config, 0.0), None)
    lims = [JointLimit(-1.0, 1.0, SPEED, lag=0.05)] * 2
    plain.set_limits(["a", "b"], lims)
    wrapped.set_limits(["a", "b"], lims)
    rng = np.random.default_rng(0)
    for k in range(300):
        now = 0.01 * k
        if k % 3 == 0:
            x = list(rng.uniform(-1, 1, 2))
            plain.joint_state(["a", "b"], x, now, [0.0, 0.0], k * 10**7)
            wrapped.gate.joint_state(["a", "b"], x, now, [0.0, 0.0], k * 10**7)
        command = list(rng.uniform(-3, 3, 2)) if k % 7 else [math.nan, 0.0]
        a, b = plain.command(command, now), wrapped.command(command, now)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))
        a, (b, own) = plain.tick(now), wrapped.tick(now)
        assert own and (a is None) == (b is None) and (a is None or np.array_equal(a, b))
        assert wrapped.joy([1, 1, 1], [1.0], now) == (None, False)
    assert plain.state() == wrapped.gate.state()


def test_the_gate_says_whose_command_answered_the_policy():
    # The policy records a step as an intervention only where someone else's command went out
    # (agent/actor.py settle): its own command clipped to the limits is still its own, recorded
    # as it proposed it (the limit is the environment's) with its log b.
    from skill_embedding_ros.agent.actor import settle

    gate = _gate(deadman=False)
    proposed = np.array([3.0, 0.1])  # j0 past its velocity limit
    out = gate.command(proposed, 0.01)
    assert out[0] == pytest.approx(SPEED) and gate.answered_by == Source.POLICY
    action, log_b, intervened = settle(
        proposed, -1.0, out, takeover=gate.answered_by != Source.POLICY
    )
    assert np.array_equal(action, proposed.astype(np.float32)) and log_b == -1.0
    assert not intervened, "a limited command is the policy's own"

    gate.joy(_joy(intervene=1), [1.0], 0.02)
    out = gate.command(proposed, 0.03)
    assert gate.answered_by == Source.TELEOP
    action, log_b, intervened = settle(proposed, -1.0, out, takeover=True)
    assert np.array_equal(action, out.astype(np.float32)) and np.isnan(log_b) and intervened

    gate.joy(_joy(estop=1), [0.0], 0.04)
    out = gate.command(proposed, 0.05)
    assert not out.any() and gate.answered_by == Source.STOP
    assert settle(proposed, -1.0, out, takeover=gate.answered_by != Source.POLICY)[2]
