"""The realtime gate when its timing assumption breaks (control/latency.py), ROS-free.

On a loaded machine the realtime ROS adversarial test once let a joint reach 1.14 m against a
1.0 m limit: a starved gate took joint states 0.15-0.8 s old for fresh ones. The rules one by
one, then such overloads simulated event by event, deterministically, on the MuJoCo point mass:
joint states that lag on their way, a gate (or bridge) process that falls behind and stalls.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import pytest

from skill_embedding_ros.control.joint_limits import JointLimit
from skill_embedding_ros.control.latency import LATENCY_WINDOW, RECOVERY_PERIODS
from skill_embedding_ros.control.safety_gate import Gate, Mode
from skill_embedding_ros.settings.nodes import GateConfig
from test.test_safety_gate_adversarial import LIMIT, NAMES, Robot, hostile, make_gate

PERIOD, LATENCY = 0.1, 0.05  # s
MS = 1_000_000  # ns


def _gate(**overrides) -> Gate:
    """A realtime gate of one joint in [-1, 1], at most 1 m/s, no coasting lag."""
    config = {"control_period": PERIOD, "stepping": "realtime", "state_latency": LATENCY}
    gate = Gate(GateConfig(**{**config, **overrides}), now=0.0)
    gate.set_limits(["j"], [JointLimit(-1.0, 1.0, 1.0)])
    return gate


def _on_time_states(gate: Gate, x: float, start: float, count: int) -> float:
    """`count` states at x, one a period, each arriving 1 ms after its stamp; returns the time."""
    now = start
    for _ in range(count):
        gate.joint_state(["j"], [x], now, [0.0], round((now - 0.001) * 1e9))
        now += PERIOD
    return now - PERIOD


def test_a_late_state_stops_the_gate_until_timing_holds_again():
    gate = _gate()
    now = _on_time_states(gate, 0.0, 1.0, 5)
    np.testing.assert_allclose(gate.command([0.5], now), [0.5])
    # The next state comes 200 ms after its stamp, 199 ms later than the others.
    now += PERIOD
    gate.joint_state(["j"], [0.05], now, [0.0], round((now - 0.2) * 1e9))
    state = gate.state()
    assert state.mode == Mode.LATE and "199 ms later than the fastest" in state.reason
    np.testing.assert_array_equal(gate.command([0.5], now + 0.01), [0.0])
    np.testing.assert_array_equal(gate.tick(now + 0.02), [0.0])  # the watchdog stops it too
    # States on time again: the gate resumes RECOVERY_PERIODS periods after the late one.
    for k in range(1, RECOVERY_PERIODS):
        t = _on_time_states(gate, 0.05, now + k * PERIOD, 1)
        assert gate.command([0.5], t + 0.001)[0] == 0.0 and gate.mode == Mode.LATE
    resume = _on_time_states(gate, 0.05, now + RECOVERY_PERIODS * PERIOD, 1)
    np.testing.assert_allclose(gate.command([0.5], resume + 0.001), [0.5])
    assert gate.mode == Mode.OK


def test_the_account_takes_a_state_as_old_as_its_stamp_says():
    """A state 40 ms later than the fastest (within the budget, so no stop) is taken as measured
    40 ms earlier: the joint may have moved that much more since."""
    gates = [_gate(), _gate()]
    for gate, late in zip(gates, (0.0, 0.04), strict=True):
        now = _on_time_states(gate, 0.8, 1.0, 3)
        stamp = round((now + PERIOD - 0.001 - late) * 1e9)  # 0.001: as the others came
        gate.joint_state(["j"], [0.8], now + PERIOD, [0.0], stamp)
    hold = gates[0].config.stale_after + gates[0].config.tick_period + LATENCY
    # Before its first command the gate assumes the robot holds up to 1 m/s.
    for gate, late in zip(gates, (0.0, 0.04), strict=True):
        expected = (1.0 - 0.8 - 1.0 * (2 * LATENCY + late)) / hold
        np.testing.assert_allclose(gate.command([1.0], now + PERIOD), [expected])
        assert gate.mode == Mode.OK


def test_a_robot_clock_that_falls_behind_stops_the_gate_for_the_window_one_ahead_does_not():
    gate = _gate()
    now = _on_time_states(gate, 0.0, 1.0, 3)
    # The robot's clock jumps a period ahead (the sim bridge's at a reset): nothing is late.
    for _ in range(3):
        now += PERIOD
        gate.joint_state(["j"], [0.0], now, [0.0], round((now + PERIOD) * 1e9))
        assert gate.mode == Mode.OK
    # It falls 0.3 s behind (a simulator that skipped steps): late until the window has passed
    # and timing has held for RECOVERY_PERIODS more.
    behind = now
    while now < behind + LATENCY_WINDOW + RECOVERY_PERIODS * PERIOD + 0.5:
        now += PERIOD
        gate.joint_state(["j"], [0.0], now, [0.0], round((now - 0.3) * 1e9))
        if now < behind + LATENCY_WINDOW:
            assert gate.mode == Mode.LATE
    assert gate.mode == Mode.OK


def test_unstamped_joint_states_stop_a_realtime_gate_saying_so():
    gate = _gate()
    for k in range(3):  # a driver that leaves header.stamp at 0
        gate.joint_state(["j"], [0.0], 1.0 + k * PERIOD, [0.0], 0)
    assert gate.mode == Mode.LATE and "keep the stamp 0 ns" in gate.state().reason


def test_the_gates_own_late_watchdog_stops_it():
    gate = _gate()
    now = _on_time_states(gate, 0.0, 1.0, 2)
    gate.command([0.0], now)  # not stale
    for k in range(4):
        assert gate.tick(now + k * gate.tick_period) is None
    now += 3 * gate.tick_period + 0.2  # the gate's process did not run for 200 ms
    assert gate.tick(now) is not None and gate.mode == Mode.LATE
    assert "watchdog ran 200 ms after its previous tick" in gate.state().reason
    assert gate.command([0.5], now)[0] == 0.0


def test_a_state_beyond_the_account_shows_a_command_that_acted_late():
    """The gate sent +1 then 0; the state shows the joint further than +1 could have taken it
    by then: the 0 landed late (or was lost)."""
    gate = _gate()
    now = _on_time_states(gate, 0.0, 1.0, 3)
    np.testing.assert_allclose(gate.command([1.0], now + 0.001), [1.0])
    np.testing.assert_allclose(gate.command([0.0], now + 0.002), [0.0])
    # Within the account (at most 1 m/s for 0.1 + 2 latency s): nothing to see.
    gate.joint_state(["j"], [0.15], now + 0.1, [0.0], round((now + 0.099) * 1e9))
    assert gate.mode == Mode.OK
    # Since that state, at most 1 m/s for 0.1 + 2 latency s: to 0.35 at most.
    gate.joint_state(["j"], [0.6], now + 0.2, [0.0], round((now + 0.199) * 1e9))
    assert gate.mode == Mode.LATE
    assert "joint 'j' was 0.25 beyond where the commands sent could" in gate.state().reason


def test_a_reset_waits_while_late():
    gate = _gate()
    now = _on_time_states(gate, 0.0, 1.0, 2)
    gate.begin_reset(now)
    gate.tick(now)
    gate.tick(now + 0.5)  # the gate did not run for 0.5 s
    assert not gate.ready_to_reset(now + 0.5)
    now = _on_time_states(gate, 0.0, now + 0.5, RECOVERY_PERIODS + 1)
    assert gate.ready_to_reset(now)


def test_lockstep_takes_no_account_of_timing():
    """A lockstep robot waits for each command: stamps are its steps, and time does not count."""
    gate = _gate(stepping="lockstep")
    gate.joint_state(["j"], [0.0], 1.0, [0.0], 0)
    gate.tick(50.0)
    gate.joint_state(["j"], [0.0], 100.0, [0.0], 100 * MS)
    assert gate.timing is None and gate.mode == Mode.STALE
    np.testing.assert_allclose(gate.command([0.5], 100.0), [0.5])


HOLD = 0.15 + 0.025  # s: stale_after + tick_period, for make_gate's 0.1 s periods


def _overloads(rng, duration: float) -> list[tuple[float, float]]:
    """Healthy phases of 2-4 s, then overloads of 1-3 s."""
    phases, t = [], 1.0
    while t < duration:
        t += rng.uniform(2.0, 4.0)
        phases.append((t, t + rng.uniform(1.0, 3.0)))
        t = phases[-1][1]
    return phases


class Process:
    """A node's process on an overloaded machine: in an overload each message or timer costs
    it 1-15 ms, and now and then it does not run at all for up to HOLD. (Longer, and the robot
    would hold the gate's last command for longer than its watchdog allows: nothing in a gate
    that does not run can stop that. It sees it afterwards, as a late watchdog, and stops.)"""

    def __init__(self, rng, overloads):
        self.rng, self.overloads, self.busy = rng, overloads, 0.0

    def start(self, t: float) -> float:
        """When a message (or timer) due at `t` is handled: at `t`, or later if the process is
        busy, which it then is until that later time (so it waits again, behind the timer)."""
        if t < self.busy:
            return self.busy
        if any(a <= t < b for a, b in self.overloads):
            stalled = self.rng.random() < 0.05
            self.busy = t + self.rng.uniform(0.05, HOLD) if stalled else t
            if stalled:
                return self.busy
            self.busy += self.rng.uniform(0.001, 0.015)  # handling this one
        return t


def run_overloaded(seed: int, lagging: str, duration: float = 30.0):
    """The reach point mass behind a realtime gate on an overloaded machine. The bridge steps
    every period on a timer and publishes a state stamped with its simulated time; a policy
    floods hostile commands, mostly toward the nearest limit, every 8 ms; each message takes up
    to 3 ms, each topic in order. In overloads what is `lagging` falls behind: "states" (their
    way to the gate takes up to 0.5 s), the "gate" or the "bridge" process (Process: its timer
    fires once when it gets to it, skipping what it missed, as rcl's does, and before the
    messages waiting, as rclpy's executor does)."""
    rng = np.random.default_rng(seed)
    gate, robot = make_gate("realtime"), Robot(seed)
    overloads = _overloads(rng, duration)
    process = {p: Process(rng, overloads if p in lagging else []) for p in ("gate", "bridge")}
    events: list = []
    order = itertools.count()
    arrive = dict.fromkeys(("state", "command", "land"), 0.0)  # each topic delivers in order

    def at(t: float, kind: str, payload=None, timer: bool = False) -> None:
        heapq.heappush(events, (t, 0 if timer else 1, next(order), kind, payload))

    def message(t: float, kind: str, payload) -> None:
        lag = rng.uniform(0.0, 0.003)
        if kind == "state" and "states" in lagging and any(a <= t < b for a, b in overloads):
            lag = rng.uniform(0.0, 0.5)
        arrive[kind] = max(arrive[kind], t + lag)
        at(arrive[kind], kind, payload)

    def next_tick(t: float, period: float) -> float:
        return (math.floor(t / period + 1e-9) + 1) * period

    at(0.0, "robot", timer=True)
    at(0.0, "watchdog", timer=True)
    at(0.0, "policy")
    modes = set()
    while events:
        now, timer, _, kind, payload = heapq.heappop(events)
        if now > duration:
            break
        if kind != "policy":
            start = process["bridge" if kind in ("robot", "land") else "gate"].start(now)
            if start > now:  # it waits: timers first, then messages in the order they came
                heapq.heappush(events, (start, timer, next(order), kind, payload))
                continue
        if kind == "robot":
            robot.step()
            x, v, stamp = robot.state()
            message(now, "state", (x, v, stamp))
            at(next_tick(now, gate.config.control_period), "robot", timer=True)
        elif kind == "land":
            robot.held = payload
        elif kind == "state":
            x, v, stamp = payload
            gate.joint_state(NAMES, x, now, v, stamp)
        elif kind == "watchdog":
            if (out := gate.tick(now)) is not None:
                message(now, "land", out)
            at(next_tick(now, gate.tick_period), "watchdog", timer=True)
        elif kind == "policy":
            for _ in range(rng.integers(2, 11)):
                x = robot.state()[0]
                push = rng.random() < 0.6  # flat out toward the nearest limit
                message(now, "command", list(np.sign(x) * 1e3) if push else hostile(rng, x))
            at(now + 0.008, "policy")
        elif kind == "command" and (out := gate.command(payload, now)) is not None:
            message(now, "land", out)
        modes.add(gate.mode)
        assert robot.peak <= LIMIT + 1e-9, f"a joint reached {robot.peak:.4f} m at {now:.2f} s"
    return robot, gate, modes


@pytest.mark.parametrize(
    "seed, lagging", [(0, "states"), (1, "states"), (0, "gate"), (1, "states and gate")]
)
def test_an_overloaded_machine_never_takes_a_joint_past_its_limit(seed, lagging):
    """The gate stops while the timing it assumes does not hold and forwards again once it
    does: no joint passes 1.0 m, and the flood still gets near it between overloads. (Before
    the gate measured its timing, lagging states took a joint past the limit in both seeds.)"""
    robot, gate, modes = run_overloaded(seed, lagging)
    assert Mode.LATE in modes  # the overload was seen
    assert gate.state().forwarded > 3_000
    assert robot.peak > 0.9 * LIMIT  # the adversary got close: the test could have failed


@pytest.mark.xfail(raises=AssertionError, strict=True)
def test_a_robot_that_falls_behind_on_its_commands_can_take_a_joint_past_its_limit():
    """What the gate cannot prevent: a robot that falls behind on its commands acts on ones
    sent long ago, which the gate cannot see until a state shows it (then it stops, but its
    stops wait in the same queue). Against that, the robot must keep up (docs/safety.md)."""
    run_overloaded(0, "bridge")
