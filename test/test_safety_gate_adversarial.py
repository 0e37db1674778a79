"""The safety gate against adversaries, ROS-free, on the real MuJoCo point mass.

Several publishers and bursts send hostile commands (huge, toward the nearest limit, sign
flips, zeros, NaN); joint states come late, out of step with the commands, or not at all for a
while; episode resets race the commands; the e-stop latches and releases. The scene's own joint
range (1.5 m) lies outside the gate's limits (1.0 m), so only the gate can keep the mass inside,
and the mass is checked at every physics step (not only at control steps: a velocity servo
coasts). Over 10,000 adversarial commands per stepping mode, no joint may pass a limit.
"""

from __future__ import annotations

import heapq
import itertools

import mujoco
import numpy as np
import pytest

from skill_embedding_ros.core.config import GateConfig
from skill_embedding_ros.core.safety_gate import Gate
from skill_embedding_ros.envs import get_suite
from skill_embedding_ros.envs.point_mass import PointMassScene

LIMIT = 1.0  # m, the gate's; the scene's own range is 1.5 m
LAG = 0.034  # s, >= mass / kv of the scene's servos (test_graph.py checks the graphs' value)
COMMANDS = 10_000


class Robot:
    """The reach scene, stepped physics step by physics step so every position is checked."""

    def __init__(self, seed: int):
        self.scene = PointMassScene(get_suite("reach"))
        self.scene.reset(np.random.default_rng(seed))
        self.held = np.zeros(2)
        self.ticks = 0
        self.peak = 0.0

    def step(self) -> None:
        model, data = self.scene.model, self.scene.data
        data.ctrl[:] = np.clip(self.held, -1.0, 1.0)
        for _ in range(self.scene.substeps):
            mujoco.mj_step(model, data)
            self.peak = max(self.peak, float(np.max(np.abs(data.qpos[:2]))))
        self.ticks += 1

    def teleport(self, rng: np.random.Generator) -> None:
        """An episode reset: anywhere inside the limits, at rest."""
        self.scene.data.qpos[:2] = rng.uniform(-LIMIT, LIMIT, 2)
        self.scene.data.qvel[:] = 0.0
        self.held = np.zeros(2)
        mujoco.mj_forward(self.scene.model, self.scene.data)
        self.ticks += 1

    def state(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Positions, velocities and the stamp (ns): simulated time, one period per tick."""
        data = self.scene.data
        return data.qpos[:2].copy(), data.qvel[:2].copy(), self.ticks * 100_000_000


def hostile(rng: np.random.Generator, positions: np.ndarray) -> list[float]:
    """One adversarial command for two joints."""
    kind = rng.integers(6)
    if kind == 0:  # flat out toward the nearest limit
        return list(np.sign(positions + 1e-9) * rng.choice([1.0, 1e3, 1e30]))
    if kind == 1:
        return list(rng.uniform(-5.0, 5.0, 2))
    if kind == 2:
        return [0.0, 0.0]
    if kind == 3:  # sign flips
        return list(rng.choice([-1.0, 1.0], 2) * 10.0)
    if kind == 4:
        return [float("nan"), 1.0] if rng.random() < 0.5 else [1.0]  # refused
    return list(rng.choice([-1.0, 1.0], 2))


def gate_config(stepping: str) -> GateConfig:
    return GateConfig(
        control_period=0.1,
        max_velocity=1.0,
        position_min=-LIMIT,
        position_max=LIMIT,
        stepping=stepping,
        velocity_lag=LAG,
        state_latency=0.03,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_lockstep_bursts_publishers_and_racing_resets_never_pass_a_limit(seed):
    """Commands reach the robot in order and each steps it once (as over a reliable topic);
    states come back in order but whenever the event draw says; resets travel on their own
    channel and may overtake or trail the commands."""
    rng = np.random.default_rng(seed)
    robot = Robot(seed)
    gate = Gate(gate_config("lockstep"), now=0.0)
    to_robot: list[tuple[np.ndarray, bool]] = []  # (command, steps)
    to_gate: list[tuple[np.ndarray, np.ndarray, int]] = []
    resetting, reset_stamp = False, None
    now, sent = 0.0, 0
    to_gate.append(robot.state())
    while sent < COMMANDS:
        now += 0.001
        event = rng.random()
        if event < 0.3:  # a burst from one or more publishers
            for _ in range(rng.integers(1, 5)):
                out = gate.command(hostile(rng, robot.state()[0]), now)
                sent += 1
                if out is not None:
                    to_robot.append((out, True))
        elif event < 0.65:  # the robot takes the next commands
            for _ in range(min(len(to_robot), rng.integers(1, 4))):
                command, steps = to_robot.pop(0)
                robot.held = command
                if steps:
                    robot.step()
                    to_gate.append(robot.state())
                if rng.random() < 0.05:  # the same state again (a startup repeat)
                    to_gate.append(robot.state())
        elif event < 0.9:  # states arrive, one or several, now and then one is lost
            for _ in range(rng.integers(1, 4)):
                if to_gate:
                    x, v, stamp = to_gate.pop(0)
                    if rng.random() > 0.02:
                        gate.set_positions(x, now, v, stamp=stamp)
        elif event < 0.91 and not resetting:
            gate.begin_reset(now)  # a reset, as the gate's node asks for one
            resetting = True
        elif event < 0.96 and resetting and reset_stamp is None and gate.ready_to_reset(now):
            gate.reset_sent(now)
            robot.teleport(rng)  # jumps, whatever commands are still queued
            to_gate.append(robot.state())
            reset_stamp = robot.ticks * 100_000_000
        elif event < 0.98 and reset_stamp is not None:
            gate.reset_done(ok=True, stamp=reset_stamp)
            resetting, reset_stamp = False, None
        elif event < 0.99:
            out = gate.tick(now + 1.0)  # the watchdog's own stop: no step in lockstep
            if out is not None:
                to_robot.append((out, False))
        assert robot.peak <= LIMIT + 1e-9, f"a joint reached {robot.peak:.4f} m"
    print(gate.state())
    assert gate.state().forwarded > COMMANDS // 5  # the gate was not simply shut
    assert robot.peak > 0.9 * LIMIT  # the adversary got close: the test could have failed


@pytest.mark.parametrize("seed", [0, 1])
def test_realtime_bursts_latency_and_silence_never_pass_a_limit(seed):
    """The robot steps on its own clock holding the latest command that landed; commands land
    and states arrive after up to state_latency; the adversary bursts, goes silent (the
    watchdog stops it), and the e-stop comes and goes."""
    rng = np.random.default_rng(seed)
    config = gate_config("realtime")
    robot = Robot(seed)
    gate = Gate(config, now=0.0)
    events: list = []  # (time, order, kind, payload)
    order = itertools.count()

    def at(t: float, kind: str, payload=None) -> None:
        heapq.heappush(events, (t, next(order), kind, payload))

    def send(t: float, out) -> None:
        if out is not None:
            at(t + rng.uniform(0, config.state_latency), "land", out)

    at(0.0, "robot", None)
    at(0.0, "policy", None)
    at(0.0, "tick", None)
    sent = 0
    while sent < COMMANDS:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "robot":
            robot.step()
            at(now + rng.uniform(0, config.state_latency), "state", robot.state())
            at(now + config.control_period, "robot", None)
        elif kind == "land":
            robot.held = payload
        elif kind == "state":
            x, v, ticks = payload
            gate.set_positions(x, now, v, stamp=ticks)
        elif kind == "tick":
            send(now, gate.tick(now))
            at(now + config.tick_period, "tick", None)
        elif kind == "policy":
            for _ in range(rng.integers(1, 8)):
                send(now, gate.command(hostile(rng, robot.state()[0]), now))
                sent += 1
            if rng.random() < 0.01:
                send(now, gate.latch_estop(now))
            elif rng.random() < 0.02:
                gate.release_estop()
            # Mostly at the control rate, sometimes a flood, sometimes silence.
            gap = rng.choice([0.1, 0.001, 0.05, 0.5], p=[0.6, 0.2, 0.15, 0.05])
            at(now + gap, "policy", None)
        assert robot.peak <= LIMIT + 1e-9, f"a joint reached {robot.peak:.4f} m"
    print(gate.state())
    assert gate.state().forwarded > COMMANDS // 5
    assert robot.peak > 0.9 * LIMIT
