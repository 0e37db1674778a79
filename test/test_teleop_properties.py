"""Hostile policies and hostile operators together, through the safety gate with teleop
(control/teleop_gate.py), against the real MuJoCo robot of test_safety_gate_properties.py (a
horizontal slide, a vertical slide and a hinge, without the simulator's own clamps): no joint
passes its position, velocity or effort limit at any physics step. The operator's Joys have
flickering buttons (e-stops among them), axes out of range, NaN, inf, +-1e30 and sign flips, and
go stale; the policy's commands are test_safety_gate_properties.hostile."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from skill_embedding_ros.control.safety_gate import Gate
from skill_embedding_ros.control.teleop import Source, Teleop, parse_mapping
from skill_embedding_ros.control.teleop_gate import TeleopGate
from skill_embedding_ros.settings.nodes import GateConfig
from test.test_safety_gate_properties import (
    LATENCY,
    PERIOD,
    PastPosition,
    PastVelocity,
    Robot,
    hostile,
    limits,
)

BUTTONS = {"deadman": 0, "intervene": 1, "estop": 2}
PROPERTY_MAPPING = {
    "x": {"axis": 0, "scale": 1.0},
    "z": {"axis": 1, "scale": -1.0},
    "h": [{"axis": 2, "scale": 0.5, "rest": 1.0}, {"axis": 3, "scale": 1.0}],
}


def _hostile_joy(rng: np.random.Generator, flip: int) -> tuple[list[int], list[float]]:
    """Buttons that flicker (the e-stop rarely), axes hostile: out of range, NaN, inf, flips."""
    buttons = [int(rng.random() < p) for p in (0.7, 0.6, 0.003)]
    kind = rng.integers(5)
    if kind == 0:
        axes = rng.uniform(-1, 1, 4)
    elif kind == 1:
        axes = rng.choice([-1e30, -1.0, 1.0, 1e30, math.inf, -math.inf, math.nan], 4)
    elif kind == 2:
        axes = np.full(4, (-1.0) ** flip)  # full deflection, flipping every message
    else:
        axes = np.sign(rng.uniform(-1, 1, 4))  # held at full deflection
    return buttons, list(axes[: rng.integers(0, 5)] if rng.random() < 0.1 else axes)


def _control(interface: str, stepping: str, deadman: bool, overrides: str = "") -> TeleopGate:
    config = dict(control_period=PERIOD, stepping=stepping, state_latency=LATENCY)
    gate = Gate(GateConfig(**config, command_interface=interface), now=0.0)
    control = TeleopGate(gate, Teleop(parse_mapping({"axes": PROPERTY_MAPPING} | {
        "buttons": BUTTONS, "timeout": 0.3}), deadman))  # fmt: skip
    control.set_limits(*limits(interface, overrides))
    return control


def run_realtime(interface: str, seed: int, commands: int, deadman: bool, overrides: str = ""):
    """test_safety_gate_properties.run_realtime with an operator: Joys every 20-100 ms, or none
    for up to 0.6 s (stale), hostile; the operator's commands at every watchdog tick. Returns the
    robot, the gate and the operator's commands sent."""
    rng = np.random.default_rng(seed)
    control, robot = _control(interface, "realtime", deadman, overrides), Robot(interface, "off")
    gate = control.gate
    dt = robot.model.opt.timestep
    tick, latency, step_ns = round(gate.tick_period / dt), round(LATENCY / dt), round(dt * 1e9)
    robot.teleport(rng)
    events: dict[int, list] = {}
    last = {"land": 0, "state": 0}

    def deliver(kind: str, step: int, payload) -> None:
        if payload is None:
            return
        last[kind] = max(last[kind], step + int(rng.integers(1, latency + 1)))  # in order
        events.setdefault(last[kind], []).append((kind, payload))

    step, sent, operator, policy_at, joy_at, flip = 0, 0, 0, 0, 0, 0
    while sent + operator < commands:
        now = step * dt
        for kind, payload in events.pop(step, []):
            if kind == "land":
                robot.hold(payload)
            else:
                gate.joint_state(*payload[:2], now, *payload[2:])
        if step % 4 == 0 and rng.random() > 0.05:
            deliver("state", step, robot.state(stamp=step * step_ns))
        if step % tick == 0:
            out, own = control.tick(now)
            operator += out is not None and not own
            deliver("land", step, out)
        if step == joy_at:
            flip += 1
            stop, _ = control.joy(*_hostile_joy(rng, flip), now)
            deliver("land", step, stop)
            gap = rng.choice([0.02, 0.05, 0.1, 0.6], p=[0.4, 0.3, 0.2, 0.1])
            joy_at = step + round(gap / dt)
        if step == policy_at:
            for _ in range(rng.integers(1, 5)):
                deliver("land", step, control.command(hostile(rng, robot, sent), now))
                sent += 1
            if rng.random() < 0.02:
                gate.release_estop()
            gap = rng.choice([PERIOD, dt, PERIOD / 2, 0.5], p=[0.6, 0.2, 0.15, 0.05])
            policy_at = step + round(gap / dt)
        robot.step(1)
        step += 1
    return robot, control, operator


def run_lockstep(interface: str, seed: int, commands: int, deadman: bool, overrides: str = ""):
    """test_safety_gate_properties.run_lockstep with an operator: commands reach the robot in
    order and each steps it a period, states come back in order (some lost), hostile Joys come
    between them (or none for a while: time moves on); the gate's own stops step nothing."""
    rng = np.random.default_rng(seed)
    control, robot = _control(interface, "lockstep", deadman, overrides), Robot(interface, "off")
    steps = round(PERIOD / robot.model.opt.timestep)
    robot.teleport(rng)
    to_robot, to_gate = deque(), deque([robot.state()])
    now, sent, operator = 0.0, 0, 0
    while sent < commands:
        now += rng.choice([0.001, 0.01, 0.4], p=[0.6, 0.35, 0.05])
        event = rng.random()
        if event < 0.3:  # a burst
            for _ in range(rng.integers(1, 4)):
                out = control.command(hostile(rng, robot, sent), now)
                operator += control.source(now) == Source.TELEOP and out is not None
                sent += 1
                if out is not None:
                    to_robot.append((out, True))
        elif event < 0.6:  # the robot takes the next commands
            for _ in range(min(len(to_robot), rng.integers(1, 5))):
                command, steps_robot = to_robot.popleft()
                robot.hold(command)
                if steps_robot:
                    robot.step(steps)
                    robot.ticks += 1
                    to_gate.append(robot.state())
        elif event < 0.85:  # states arrive; now and then one is lost
            for _ in range(min(len(to_gate), rng.integers(1, 4))):
                names, x, v, stamp = to_gate.popleft()
                if rng.random() > 0.03:
                    control.gate.joint_state(names, x, now, v, stamp)
        elif event < 0.97:
            stop, _ = control.joy(*_hostile_joy(rng, sent), now)
            if stop is not None:
                to_robot.append((stop, False))
        else:
            out, own = control.tick(now)
            if out is not None:
                to_robot.append((out, not own))
            if rng.random() < 0.3:
                control.gate.release_estop()
    return robot, control, operator


RUN = {"lockstep": run_lockstep, "realtime": run_realtime}
COMMANDS = 1500
"""Per simulation: policy commands (lockstep; a quarter or so answered with the operator's),
or policy commands and the operator's own at the ticks (realtime). Two simulations per interface
(velocity, position) and stepping: 12,000 in all, about 10 s."""


@pytest.mark.parametrize("stepping", ["lockstep", "realtime"])
@pytest.mark.parametrize("interface", ["velocity", "position"])
@given(seed=st.integers(2, 2**32 - 1), deadman=st.booleans())
@example(seed=0, deadman=True)
@settings(max_examples=1, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
def test_hostile_policy_and_operator_never_take_a_joint_past_a_limit(
    interface, stepping, seed, deadman
):
    """No shrinking: each example is a whole simulation, and its seed reproduces it. The robot
    checks every physics step (test_safety_gate_properties.Robot.step raises)."""
    robot, control, operator = RUN[stepping](interface, seed, COMMANDS, deadman)
    state = control.gate.state()
    # The operator drove, the policy got through, and the robot came near its limits.
    assert operator > COMMANDS // 10 and control.interventions > 50, (operator, state)
    assert state.forwarded > COMMANDS // 4 and state.estop is not None
    position, velocity, _ = robot.reached
    assert position > 0.9 and velocity > 0.5, robot.reached


@pytest.mark.parametrize(
    "interface, stepping, overrides, past",
    [
        ("velocity", "lockstep", "{x: {lag: 0.0}, z: {lag: 0.0}, h: {lag: 0.0}}", PastPosition),
        ("velocity", "realtime", "{x: {velocity: 8.0}}", PastVelocity),
        ("position", "realtime", "{h: {velocity: 4.0}}", PastVelocity),
    ],
)
def test_an_operator_through_a_gate_without_a_limit_takes_the_robot_past_it(
    interface, stepping, overrides, past
):
    """The same runs with one limit lifted or misjudged by the gate (the robot keeps its own):
    the checks can fail, so passing them means something."""
    with pytest.raises(past):
        RUN[stepping](interface, 0, COMMANDS, False, overrides)
