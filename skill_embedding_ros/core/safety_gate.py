"""The safety gate's logic, free of ROS: every command to the robot passes through `Gate`.

Time is passed in (seconds on one steady clock), never read here, so tests drive the watchdog
period by period and the node decides which clock is safe to trust.

What goes out, in order of precedence:
* e-stop latched: a stop (zeros), for every command and every tick, until `release_estop()`;
* stale (no valid policy command for `stale_periods` control periods): a stop at every tick,
  so a robot driver that holds the last command it got stops too;
* refused (non-finite, wrong length, or no usable joint state to check it against): a stop in
  place of the command;
* otherwise the command, clipped to the velocity limit and kept from pushing any joint past its
  position limits.

The latest joint state may be one command behind: a command can overtake the state that the
command before it caused (in lockstep over DDS it does, now and then). So position limits are
checked against the latest state and against that state plus the last command's motion,
whichever lies nearer the limit.

Teleop takeover (a later issue) joins as a second source of commands: it goes through the same
`limit()` and the same e-stop and watchdog, and reports its own mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import Enum

import numpy as np

from skill_embedding_ros.core.config import GateConfig

TICKS_PER_PERIOD = 4
"""The watchdog is checked this often per control period, so a stop goes out at most a quarter
period after the command turned stale."""


def limit_command(command, positions, last_motion, config: GateConfig) -> np.ndarray:
    """A command (finite, one velocity per joint) within the velocity and position limits.

    A joint may move toward a position limit at most as fast as reaches it in one control
    period, and not at all once at or past it, so it never passes a limit even at full speed.
    Its position is the latest joint state's or, should that state not yet show the last
    command sent, that plus `last_motion` (the last command times the period): whichever is
    nearer the limit. command, positions, last_motion: [J] (last_motion may be 0) -> [J].
    """
    positions = np.asarray(positions, dtype=float)
    ahead = positions + last_motion
    upper = (config.position_max - np.maximum(positions, ahead)) / config.control_period
    lower = (config.position_min - np.minimum(positions, ahead)) / config.control_period
    limited = np.clip(command, -config.max_velocity, config.max_velocity)
    limited = np.minimum(limited, np.maximum(upper, 0.0))
    return np.maximum(limited, np.minimum(lower, 0.0))


class Mode(str, Enum):
    OK = "ok"
    """Policy commands are forwarded (perhaps limited)."""
    STALE = "stale"
    """No valid policy command for too long: stops go out at every tick."""
    ESTOP = "estop"
    """E-stop latched: only stops go out until it is released explicitly."""
    REFUSED = "refused"
    """The last policy command was refused and replaced by a stop."""


@dataclasses.dataclass(frozen=True)
class GateState:
    """What the gate reports: its mode and counters since it started."""

    mode: Mode
    estop: bool
    forwarded: int
    """Policy commands sent on to the robot (limited or not)."""
    clipped: int
    """Forwarded commands that the velocity or position limits changed."""
    refused: int
    """Policy commands refused (each answered by a stop)."""
    stops: int
    """Stop commands (zeros) sent; forwarded + stops is everything the robot got."""
    reason: str
    """Why the gate is not forwarding (empty when mode is ok)."""


class Gate:
    """Limits, watchdog and e-stop between the policy's commands and the robot.

    Methods that return an array return what must be sent to the robot now; None means nothing
    to send (no change needed, or the joint count is not known yet).
    """

    def __init__(self, config: GateConfig, now: float):
        """`now`: start time (s); with no command at all, the watchdog counts from here, so a
        restarted gate also stops a robot still holding a command from before. `config` is
        checked by GateConfig itself."""
        self.config = config
        self.stale_after = config.stale_periods * config.control_period
        """Seconds without a valid policy command after which the gate stops the robot."""
        self.tick_period = config.control_period / TICKS_PER_PERIOD
        """Seconds between `tick()` calls the watchdog timing assumes."""
        self._positions: np.ndarray | None = None
        self._last_motion: np.ndarray | float = 0.0
        """Displacement (m or rad per joint) the last command sent asks for in one period."""
        self._last_valid = now
        self._stale = False
        self._refusal = ""
        self._estop = False
        self._forwarded = self._clipped = self._refused = self._stops = 0

    # inputs

    def set_positions(self, positions: Sequence[float]) -> None:
        """Latest joint positions (m or rad), in the order of the command's components."""
        self._positions = np.asarray(positions, dtype=float)

    def command(self, command: Sequence[float], now: float) -> np.ndarray | None:
        """A policy command (joint velocities) arrives at `now` (s); returns what to send."""
        command = np.asarray(command, dtype=float)
        reason = self._refusal_reason(command)
        if reason:
            self._refused += 1
            self._refusal = reason
            return self._stop()
        self._refusal = ""
        self._last_valid = now
        self._stale = False
        if self._estop:
            return self._stop()
        limited = self.limit(command)
        self._last_motion = limited * self.config.control_period
        self._forwarded += 1
        self._clipped += int(not np.array_equal(limited, command))
        return limited

    def tick(self, now: float) -> np.ndarray | None:
        """Watchdog check, called every `tick_period` s: a stop while stale or e-stopped."""
        self._stale = now - self._last_valid > self.stale_after
        if self._estop or self._stale:
            return self._stop()
        return None

    def latch_estop(self) -> np.ndarray | None:
        """Latch the e-stop; returns the stop to send at once. Only `release_estop` undoes it."""
        self._estop = True
        return self._stop()

    def release_estop(self) -> bool:
        """Release the e-stop; returns whether it was latched. Commands flow again from the next
        valid policy command on (the watchdog still applies)."""
        was_latched = self._estop
        self._estop = False
        return was_latched

    # limits

    def limit(self, command: np.ndarray) -> np.ndarray:
        """`command` within the limits (see `limit_command`), from the latest joint state and the
        last command sent. Assumes `_refusal_reason(command)` is empty."""
        assert self._positions is not None
        return limit_command(command, self._positions, self._last_motion, self.config)

    def _refusal_reason(self, command: np.ndarray) -> str:
        if self._positions is None:
            return "no joint state received yet"
        if not np.all(np.isfinite(self._positions)):
            return "latest joint state is not finite"
        if command.shape != self._positions.shape:
            return f"{command.size} components for {self._positions.size} joints"
        if not np.all(np.isfinite(command)):
            return "command is not finite"
        return ""

    # output and state

    def _stop(self) -> np.ndarray | None:
        if self._positions is None:
            return None
        self._stops += 1
        self._last_motion = 0.0
        return np.zeros(self._positions.shape)

    @property
    def mode(self) -> Mode:
        if self._estop:
            return Mode.ESTOP
        if self._stale:
            return Mode.STALE
        if self._refusal:
            return Mode.REFUSED
        return Mode.OK

    def state(self) -> GateState:
        mode = self.mode
        reason = {
            Mode.OK: "",
            Mode.ESTOP: "e-stop latched",
            Mode.STALE: f"no valid policy command for over {self.stale_after:g} s",
            Mode.REFUSED: f"policy command refused: {self._refusal}",
        }[mode]
        return GateState(
            mode=mode,
            estop=self._estop,
            forwarded=self._forwarded,
            clipped=self._clipped,
            refused=self._refused,
            stops=self._stops,
            reason=reason,
        )
