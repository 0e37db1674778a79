"""What the safety gate reports (control/safety_gate.py): its mode and its counters."""

from __future__ import annotations

import dataclasses
from enum import Enum


class Mode(str, Enum):
    OK = "ok"
    """Policy commands are forwarded (perhaps limited)."""
    STALE = "stale"
    """No valid policy command for too long: stops go out at every tick."""
    ESTOP = "estop"
    """E-stop latched: only stops go out until it is released explicitly."""
    REFUSED = "refused"
    """The last policy command was refused and replaced by a stop."""
    RESETTING = "resetting"
    """A reset is under way: commands go no further until the robot's new state arrives."""
    LATE = "late"
    """realtime: a state, a command or the gate itself was later than `state_latency` allows:
    stops go out until timing has held again for RECOVERY_PERIODS control periods."""


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
    dropped: int
    """lockstep: policy commands answered by nothing (MAX_IN_FLIGHT unanswered, or a reset)."""
    lost: int
    """lockstep: commands sent that the robot never showed (control/reach.py LOST_AFTER)."""
    reason: str
    """Why the gate is not forwarding (empty when mode is ok)."""
