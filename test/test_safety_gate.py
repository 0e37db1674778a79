"""The safety gate's pure logic: limits, refusal, watchdog timing in control periods, e-stop."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill_embedding_ros.core.config import GateConfig
from skill_embedding_ros.core.safety_gate import Gate, Mode

PERIOD = 0.1  # s


def _make_gate(positions=(0.0, 0.0), **overrides) -> Gate:
    config = GateConfig(control_period=PERIOD, **overrides)
    gate = Gate(config, now=0.0)
    gate.set_positions(positions)
    return gate


def _first_stop_time(gate: Gate, last_command: float, until: float) -> float:
    """Tick as the node does (every tick_period) from `last_command`; time of the first stop."""
    now = last_command
    while now < until:
        now += gate.tick_period
        out = gate.tick(now)
        if out is not None:
            np.testing.assert_array_equal(out, 0.0)
            return now
    raise AssertionError("no stop")


def test_clips_each_joint_to_max_velocity():
    gate = _make_gate(max_velocity=1.0)
    out = gate.command([3.0, -0.5], now=0.0)
    np.testing.assert_allclose(out, [1.0, -0.5])
    out = gate.command([-2.0, 0.2], now=0.05)
    np.testing.assert_allclose(out, [-1.0, 0.2])
    state = gate.state()
    assert (state.mode, state.forwarded, state.clipped, state.stops) == (Mode.OK, 2, 2, 0)


def test_unchanged_command_is_not_counted_as_clipped():
    gate = _make_gate()
    np.testing.assert_allclose(gate.command([0.3, -0.3], now=0.0), [0.3, -0.3])
    assert gate.state().clipped == 0


def test_zeroes_components_that_push_past_position_limits():
    gate = _make_gate(positions=[1.0, -1.0, 1.2, 0.0], position_min=-1.0, position_max=1.0)
    out = gate.command([0.5, -0.5, 0.1, 0.5], now=0.0)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.0, 0.5])
    # away from the limit (back inside) stays allowed
    out = gate.command([-0.5, 0.5, -0.1, -0.5], now=0.05)
    np.testing.assert_allclose(out, [-0.5, 0.5, -0.1, -0.5])


def test_slows_a_joint_to_reach_its_limit_within_one_period():
    gate = _make_gate(positions=[0.95, -0.98], max_velocity=1.0)
    out = gate.command([1.0, -1.0], now=0.0)
    np.testing.assert_allclose(out, [0.05 / PERIOD, -0.02 / PERIOD])


@given(
    positions=st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3),
    command=st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3),
)
def test_output_respects_velocity_and_position_limits(positions, command):
    gate = _make_gate(positions=positions, max_velocity=0.5)
    out = gate.command(command, now=0.0)
    assert np.all(np.abs(out) <= 0.5)
    reached = np.asarray(positions) + out * PERIOD
    assert np.all(reached <= 1.0 + 1e-9) and np.all(reached >= -1.0 - 1e-9)


@given(
    commands=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
    late=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_a_late_joint_state_never_lets_a_joint_pass_its_limit(commands, late):
    """A command can overtake the joint state the previous command caused (lockstep over DDS):
    a joint that the gate drives must stay inside its limits all the same. After each command
    the gate learns the state it caused, or (late) only the state before it."""
    gate = _make_gate(positions=[0.9], max_velocity=1.0)
    states = [0.9]
    for i, command in enumerate(commands):
        out = gate.command([command], now=0.1 * i)
        states.append(states[-1] + out[0] * PERIOD)
        assert -1.0 - 1e-9 <= states[-1] <= 1.0 + 1e-9
        gate.set_positions([states[-2] if late[i] else states[-1]])


def test_motion_commanded_since_the_latest_state_counts_toward_the_limit():
    gate = _make_gate(positions=[0.85], max_velocity=1.0)
    np.testing.assert_allclose(gate.command([1.0], now=0.0), [1.0])  # reaches 0.95
    # The state after that command has not arrived: the joint may already be at 0.95.
    np.testing.assert_allclose(gate.command([1.0], now=0.1), [(1.0 - 0.95) / PERIOD])
    # The state says 0.95, but may not show the last command's 0.05 yet: the limit may be there.
    gate.set_positions([0.95])
    np.testing.assert_allclose(gate.command([1.0], now=0.2), [0.0])
    # That command moved nothing, so 0.95 is where the joint is.
    np.testing.assert_allclose(gate.command([1.0], now=0.3), [(1.0 - 0.95) / PERIOD])


@pytest.mark.parametrize(
    "command", [[np.nan, 0.0], [0.0, np.inf], [-np.inf, 0.0], [0.1], [0.1, 0.1, 0.1]]
)
def test_refuses_non_finite_or_wrong_length_with_a_stop(command):
    gate = _make_gate()
    out = gate.command(command, now=0.0)
    np.testing.assert_array_equal(out, [0.0, 0.0])
    state = gate.state()
    assert (state.mode, state.refused, state.stops, state.forwarded) == (Mode.REFUSED, 1, 1, 0)
    # the next valid command is forwarded again
    np.testing.assert_allclose(gate.command([0.1, 0.2], now=0.01), [0.1, 0.2])
    assert gate.state().mode == Mode.OK


def test_refuses_until_a_finite_joint_state_is_known():
    gate = Gate(GateConfig(control_period=PERIOD), now=0.0)
    assert gate.command([0.1, 0.1], now=0.0) is None  # nothing known to stop yet
    assert gate.state().refused == 1
    gate.set_positions([0.0, np.nan])
    np.testing.assert_array_equal(gate.command([0.1, 0.1], now=0.01), [0.0, 0.0])
    assert "not finite" in gate.state().reason


def test_refused_commands_do_not_feed_the_watchdog():
    gate = _make_gate()
    gate.command([0.1, 0.1], now=0.0)
    now = 0.0
    for _ in range(8):
        now += gate.tick_period
        gate.command([np.nan, 0.0], now)
        gate.tick(now)
    assert gate.state().mode == Mode.STALE


@pytest.mark.parametrize("stale_periods", [1.5, 1.25, 1.75])
def test_watchdog_stops_within_two_periods_of_the_last_command(stale_periods):
    gate = _make_gate(stale_periods=stale_periods)
    now = 0.0
    for _ in range(20):  # a policy on time, with ticks in between, never turns stale
        assert gate.command([0.1, 0.1], now) is not None
        for k in range(1, 5):
            assert gate.tick(now + k * gate.tick_period) is None
        assert gate.state().mode == Mode.OK
        now += PERIOD
    last = now
    gate.command([0.1, 0.1], last)
    stopped = _first_stop_time(gate, last, until=last + 10 * PERIOD)
    assert stale_periods * PERIOD < stopped - last <= 2 * PERIOD + 1e-9
    assert gate.state().mode == Mode.STALE


def test_stale_gate_keeps_sending_stops_every_tick_until_a_command():
    gate = _make_gate()
    gate.command([0.1, 0.1], now=0.0)
    stopped = _first_stop_time(gate, 0.0, until=1.0)
    outs = [gate.tick(stopped + (i + 1) * gate.tick_period) for i in range(8)]
    assert all(out is not None and not out.any() for out in outs)
    np.testing.assert_allclose(gate.command([0.1, 0.1], now=stopped + 1.0), [0.1, 0.1])
    assert gate.state().mode == Mode.OK


def test_watchdog_counts_from_start_when_no_command_ever_came():
    gate = _make_gate()
    stopped = _first_stop_time(gate, 0.0, until=1.0)
    assert stopped <= 2 * PERIOD + 1e-9


def test_estop_latch_survives_new_commands_and_releases_only_explicitly():
    gate = _make_gate()
    gate.command([0.1, 0.1], now=0.0)
    np.testing.assert_array_equal(gate.latch_estop(), [0.0, 0.0])
    for i in range(10):
        now = 0.01 * (i + 1)
        np.testing.assert_array_equal(gate.command([0.1, 0.1], now), [0.0, 0.0])
        np.testing.assert_array_equal(gate.tick(now), [0.0, 0.0])
        assert gate.state().mode == Mode.ESTOP and gate.state().estop
    assert gate.release_estop()
    assert not gate.release_estop()  # releasing twice says it was not latched
    np.testing.assert_allclose(gate.command([0.1, 0.1], now=0.2), [0.1, 0.1])
    assert gate.state().mode == Mode.OK


def test_estop_takes_precedence_over_stale_and_refused():
    gate = _make_gate()
    gate.latch_estop()
    gate.command([np.nan, 0.0], now=0.0)
    gate.tick(10.0)
    assert gate.state().mode == Mode.ESTOP


def test_forwarded_plus_stops_is_everything_sent():
    gate = _make_gate()
    sent = 0
    now = 0.0
    for command in ([0.1, 0.1], [np.nan, 0.0], [5.0, 0.0], [0.1]):
        now += 0.01
        sent += gate.command(command, now) is not None
    for _ in range(12):
        now += gate.tick_period
        sent += gate.tick(now) is not None
    state = gate.state()
    assert state.forwarded + state.stops == sent
    assert (state.forwarded, state.refused, state.clipped) == (2, 2, 1)


@pytest.mark.parametrize(
    "overrides",
    [
        {"control_period": 0.0},
        {"stale_periods": 1.0},
        {"max_velocity": -1.0},
        {"position_min": 1.0, "position_max": 1.0},
    ],
)
def test_config_rejects_values_that_break_the_guarantees(overrides):
    with pytest.raises(ValueError):
        GateConfig(**overrides)
