"""The safety gate's pure logic: limits, refusal, watchdog timing in control periods, e-stop."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.settings.nodes import GateConfig

PERIOD = 0.1  # s


def _make_gate(
    positions=(0.0, 0.0),
    max_velocity=1.0,
    position_min=-1.0,
    position_max=1.0,
    velocity_lag=0.0,
    **overrides,
) -> Gate:
    """A gate in front of a lockstep robot with ideal velocity tracking (unless overridden),
    joints j0, j1, ... all with the same limits, at `positions`."""
    config = GateConfig(control_period=PERIOD, **{"stepping": "lockstep", **overrides})
    gate = Gate(config, now=0.0)
    limit = JointLimit(position_min, position_max, max_velocity, lag=velocity_lag)
    gate.set_limits(_names(len(positions)), [limit] * len(positions))
    _state(gate, positions, now=0.0)
    return gate


def _names(n: int) -> list[str]:
    return [f"j{i}" for i in range(n)]


def _state(gate: Gate, positions, now: float, velocities=(), stamp=None) -> None:
    """A joint state of the gate's joints, in their order."""
    gate.joint_state(gate.joints, positions, now, velocities, stamp)


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
        _state(gate, [states[-2] if late[i] else states[-1]], now=0.1 * i)


def test_every_command_since_the_latest_state_counts_toward_the_limit():
    gate = _make_gate(positions=[0.85], max_velocity=1.0)
    np.testing.assert_allclose(gate.command([1.0], now=0.0), [1.0])  # reaches 0.95
    # The state after that command has not arrived: the joint may already be at 0.95.
    np.testing.assert_allclose(gate.command([1.0], now=0.01), [(1.0 - 0.95) / PERIOD])
    # A zero in between does not give a fresh allowance (it did once: the bypass this fixes).
    np.testing.assert_allclose(gate.command([0.0], now=0.02), [0.0])
    np.testing.assert_allclose(gate.command([1.0], now=0.03), [0.0])
    # The state of the first command: the second (0.05) may not show yet, nor the first.
    _state(gate, [0.95], now=0.04)
    np.testing.assert_allclose(gate.command([1.0], now=0.05), [0.0])
    # Every command shown: the joint is at 1.0, the limit.
    for now in (0.06, 0.07, 0.08, 0.09):
        _state(gate, [1.0], now=now)
    assert gate.reach.unconfirmed == 0
    np.testing.assert_allclose(gate.command([1.0], now=0.1), [0.0])
    np.testing.assert_allclose(gate.command([-1.0], now=0.11), [-1.0])  # away: never limited


def test_a_burst_without_states_never_adds_up_past_the_limit():
    """Ten +1 commands from 0.95 with no new state (two publishers, or a burst): the old gate
    sent 0.5, 0, 0.5, 0, ... and the joint ended at 1.20; now their sum stays within 0.05."""
    gate = _make_gate(positions=[0.95], max_velocity=1.0)
    sent = [gate.command([1.0], now=0.001 * k) for k in range(10)]
    moved = sum(0.0 if out is None else out[0] * PERIOD for out in sent)
    assert moved <= 0.05 + 1e-12


def test_lockstep_drops_commands_beyond_the_in_flight_limit():
    from skill_embedding_ros.control.safety_gate import MAX_IN_FLIGHT

    gate = _make_gate(positions=[0.0])
    outs = [gate.command([0.1], now=0.001 * k) for k in range(MAX_IN_FLIGHT + 3)]
    assert all(out is not None for out in outs[:MAX_IN_FLIGHT])
    assert all(out is None for out in outs[MAX_IN_FLIGHT:])
    assert gate.state().dropped == 3
    _state(gate, [0.01], now=0.1)  # one answered: one more may go
    assert gate.command([0.1], now=0.11) is not None


def test_a_coasting_joint_keeps_its_coasting_distance_in_reserve():
    """Moving at 1 m/s under a 0.05 s velocity lag, a joint coasts 0.05 m after a stop: at 0.95
    it is already as close to the limit as it may get."""
    gate = _make_gate(positions=[0.0], velocity_lag=0.05)
    _state(gate, [0.95], now=0.0, velocities=[1.0])
    np.testing.assert_allclose(gate.command([1.0], now=0.01), [0.0])
    _state(gate, [0.90], now=0.1, velocities=[0.0])
    np.testing.assert_allclose(gate.command([1.0], now=0.11), [(1.0 - 0.90) / PERIOD])


def test_realtime_counts_the_held_command_until_the_state_shows_it():
    """A realtime robot holds a command until the next one lands: from the latest state the joint
    moves at the fastest recent command for (now - state + 2 latency), and a new command may be
    held until the watchdog's stop lands (stale_after + tick + latency)."""
    gate = _make_gate(positions=[0.0], stepping="realtime", state_latency=0.01)
    cfg = gate.config
    hold = cfg.stale_after + cfg.tick_period + cfg.state_latency
    _state(gate, [0.85], now=1.0)
    # Before its first command the gate assumes the robot may hold anything up to 1 m/s.
    first = gate.command([1.0], now=1.0)
    np.testing.assert_allclose(first, [(1.0 - 0.85 - 1.0 * 0.02) / hold])
    # 0.05 s later, no new state: the first command may have acted for 0.05 + 0.02 s.
    second = gate.command([1.0], now=1.05)
    np.testing.assert_allclose(second, [(1.0 - 0.85 - first[0] * 0.07) / hold])


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
    assert gate.command([0.1, 0.1], now=0.0) is None  # no limits: nothing known to stop yet
    assert "robot description" in gate.state().reason
    gate.set_limits(_names(2), [JointLimit(-1.0, 1.0, 1.0)] * 2)
    np.testing.assert_array_equal(gate.command([0.1, 0.1], now=0.0), [0.0, 0.0])
    assert gate.state().refused == 2 and "no joint state" in gate.state().reason
    _state(gate, [0.0, np.nan], now=0.0)
    np.testing.assert_array_equal(gate.command([0.1, 0.1], now=0.01), [0.0, 0.0])
    assert "not finite" in gate.state().reason


def test_refused_commands_do_not_feed_the_watchdog():
    gate = _make_gate(stepping="realtime")
    gate.command([0.1, 0.1], now=0.0)
    now = 0.0
    for _ in range(8):
        now += gate.tick_period
        gate.command([np.nan, 0.0], now)
        gate.tick(now)
    assert gate.state().mode == Mode.STALE


@pytest.mark.parametrize("stale_periods", [1.5, 1.25, 1.75])
def test_watchdog_stops_within_two_periods_of_the_last_command(stale_periods):
    gate = _make_gate(stale_periods=stale_periods, stepping="realtime")
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
    gate = _make_gate(stepping="realtime")
    gate.command([0.1, 0.1], now=0.0)
    stopped = _first_stop_time(gate, 0.0, until=1.0)
    outs = [gate.tick(stopped + (i + 1) * gate.tick_period) for i in range(8)]
    assert all(out is not None and not out.any() for out in outs)
    np.testing.assert_allclose(gate.command([0.1, 0.1], now=stopped + 1.0), [0.1, 0.1])
    assert gate.state().mode == Mode.OK


def test_lockstep_watchdog_counts_from_the_state_that_showed_the_last_command():
    """A lockstep robot that has not stepped yet leaves the policy nothing to answer: no stop
    goes out before the robot's state shows the command (a stop slipped in between would read,
    in a bag, as that step's action), and the stale clock starts at that state."""
    gate = _make_gate()
    assert gate.command([0.1, 0.1], now=0.0) is not None
    for k in range(1, 40):  # a slow simulator: 1 s for one step
        assert gate.tick(k * gate.tick_period) is None
    assert gate.state().mode == Mode.OK
    shown = 40 * gate.tick_period
    _state(gate, [0.01, 0.01], now=shown, stamp=round(PERIOD * 1e9))
    stopped = _first_stop_time(gate, shown, until=shown + 1.0)
    assert gate.stale_after < stopped - shown <= gate.stale_after + gate.tick_period + 1e-9
    assert gate.state().mode == Mode.STALE


def test_lockstep_commands_a_repeated_state_never_shows_are_taken_as_lost():
    """A restarted simulator republishes its first state until its command subscription is
    matched: what the gate sent meanwhile never arrives. Once the same state still comes
    LOST_AFTER s after the newest command, those commands are lost and a reset can go ahead."""
    from skill_embedding_ros.control.reach import LOST_AFTER

    gate = _make_gate()
    _state(gate, [0.0, 0.0], now=0.0, stamp=0)
    gate.command([0.1, 0.1], now=0.1)
    gate.begin_reset(now=0.2)
    _state(gate, [0.0, 0.0], now=0.2 + LOST_AFTER / 2, stamp=0)  # soon after: maybe in flight
    assert not gate.ready_to_reset(0.2 + LOST_AFTER / 2) and gate.state().lost == 0
    _state(gate, [0.0, 0.0], now=0.2 + LOST_AFTER, stamp=0)
    assert gate.ready_to_reset(0.2 + LOST_AFTER) and gate.state().lost == 1
    assert gate.reach.unconfirmed == 0


def test_watchdog_counts_from_start_when_no_command_ever_came():
    gate = _make_gate()
    stopped = _first_stop_time(gate, 0.0, until=1.0)
    assert stopped <= 2 * PERIOD + 1e-9


def test_estop_latch_survives_new_commands_and_releases_only_explicitly():
    gate = _make_gate(stepping="realtime")
    gate.command([0.1, 0.1], now=0.0)
    np.testing.assert_array_equal(gate.latch_estop(now=0.0), [0.0, 0.0])
    for i in range(10):
        now = 0.01 * (i + 1)
        np.testing.assert_array_equal(gate.command([0.1, 0.1], now), [0.0, 0.0])
        np.testing.assert_array_equal(gate.tick(now), [0.0, 0.0])
        assert gate.state().mode == Mode.ESTOP and gate.state().estop
    assert gate.release_estop()
    assert not gate.release_estop()  # releasing twice says it was not latched
    np.testing.assert_allclose(gate.command([0.1, 0.1], now=0.2), [0.1, 0.1])
    assert gate.state().mode == Mode.OK


def test_a_latched_estop_outlives_the_process_in_its_file(tmp_path):
    from skill_embedding_ros.control.estop_latch import EstopLatch, latch_path

    path = latch_path(str(tmp_path / "estop/{node}.latched"), "/actor_0/safety_gate")
    assert path == tmp_path / "estop/actor_0_safety_gate.latched"
    assert latch_path("", "/actor_0/safety_gate") is None
    latch = EstopLatch(path)
    assert not latch.is_latched()
    latch.latch("e-stop service")
    again = EstopLatch(path)  # a restarted gate
    assert again.is_latched() and "e-stop service" in again.reason()
    gate = Gate(GateConfig(), now=0.0, estop=again.is_latched())
    gate.set_limits(["j0"], [JointLimit(-1.0, 1.0, 1.0)])
    _state(gate, [0.0], now=0.0)
    np.testing.assert_array_equal(gate.command([0.5], now=0.01), [0.0])
    assert gate.state().mode == Mode.ESTOP
    again.release()
    assert not EstopLatch(path).is_latched()
    path.write_bytes(b"\xff\x00garbage")  # whatever sits there counts as latched
    assert EstopLatch(path).is_latched()


def test_a_reset_waits_for_the_robot_to_answer_every_command_and_holds_commands_until_done():
    gate = _make_gate(positions=[0.0])
    _state(gate, [0.0], now=0.0, stamp=0)
    np.testing.assert_allclose(gate.command([0.5], now=0.01), [0.5])
    gate.begin_reset(now=0.02)
    assert gate.state().mode == Mode.RESETTING and not gate.ready_to_reset(now=0.02)
    assert gate.command([0.5], now=0.03) is None  # lockstep: nothing goes out
    _state(gate, [0.05], now=0.04, stamp=100_000_000)  # the robot answered the command
    assert gate.ready_to_reset(now=0.04)
    gate.reset_sent(now=0.05)
    gate.reset_done(ok=True, stamp=200_000_000)  # the robot names its new state's stamp
    _state(gate, [0.05], now=0.05, stamp=100_000_000)  # a repeat: nothing new
    assert gate.command([0.5], now=0.06) is None
    _state(gate, [0.9], now=0.07, stamp=200_000_000)
    assert gate.state().mode == Mode.OK and gate.reach.unconfirmed == 0
    np.testing.assert_allclose(gate.command([0.5], now=0.08), [0.5])


def test_realtime_reset_sends_stops_and_waits_for_commands_in_flight_to_land():
    gate = _make_gate(positions=[0.0], stepping="realtime", state_latency=0.02)
    gate.begin_reset(now=1.0)
    np.testing.assert_array_equal(gate.command([0.5], now=1.01), [0.0])
    assert not gate.ready_to_reset(now=1.01) and gate.ready_to_reset(now=1.02)
    gate.reset_sent(now=1.02)
    _state(gate, [0.2], now=1.03, stamp=5)  # the new state came before the reply
    gate.reset_done(ok=True, stamp=5)
    assert gate.state().mode == Mode.OK


def test_a_state_whose_stamp_skips_periods_shows_as_many_lockstep_steps():
    gate = _make_gate(positions=[0.0])
    _state(gate, [0.0], now=0.0, stamp=0)
    for k in range(5):
        gate.command([0.1], now=0.01 * k)
    assert gate.reach.unconfirmed == 5
    _state(gate, [0.03], now=0.1, stamp=300_000_000)  # two states lost on the way
    assert gate.reach.unconfirmed == 2


def test_estop_takes_precedence_over_stale_and_refused():
    gate = _make_gate()
    gate.latch_estop(now=0.0)
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
        {"stepping": "sometimes"},
        {"state_latency": -0.1},
    ],
)
def test_config_rejects_values_that_break_the_guarantees(overrides):
    with pytest.raises(ValueError):
        GateConfig(**overrides)
