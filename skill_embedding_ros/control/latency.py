"""realtime: whether the timing the safety gate's account rests on holds, from what it measures.

With a robot that holds the latest command on the wall clock, the account of where the joints
may be (control/reach.py) assumes that a joint state shows every motion up to `state_latency` s
before it arrives, that a command acts within `state_latency` s of being sent, and that the
gate's own watchdog runs on time. On an overloaded machine none of this need hold: a starved gate
took joint states 0.15-0.8 s old for fresh ones and let a joint 78 mm past its limit. `Timing`
measures what the gate can and reports each violation; the gate then sends only stops (mode
LATE) until timing has held again for RECOVERY_PERIODS control periods (control/safety_gate.py).

* State age. A state's stamp is on the robot's clock and its arrival on the gate's; if the two
  clocks run at one rate, arrival - stamp (the offset) is the state's latency plus a constant.
  The smallest offset over the last LATENCY_WINDOW s stands for the fastest state, and a state's
  excess over it is how much later than that one it came. The account takes each state as
  measured `state_latency + excess` before it arrived: right if the fastest state took up to
  `state_latency`, whatever the latency of the others. An excess beyond `state_latency` is a
  violation (that state was late, whatever the fastest one took). A robot clock that falls
  behind (a simulator that skipped steps) or steps back (a restarted robot) makes states look
  late until the window has passed: the gate stops meanwhile. One that jumps ahead (the sim
  bridge moves its clock one period on at a reset) lowers the minimum at once.
* The gate's own lateness. Watchdog ticks more than `tick_period + state_latency` apart mean the
  gate was not running: its stops, and the commands it would have limited, came late. A gate
  that did not run for a while may not run for as long again, and the robot holds the last
  command meanwhile: the account limits each command for a hold until the watchdog's stop lands,
  with the longest gap between ticks of the last LATENCY_WINDOW s (control/reach.py).
* Commands acting late (or lost) are what the gate cannot see coming: it sees them afterwards, in
  a state that shows a joint beyond where any command sent could have taken it
  (`Reach.beyond`, checked by the gate); more than REACH_SLACK s of motion at the speed limit
  beyond is a violation.

Pure logic: time is passed in (s, the gate's steady clock), so tests drive it step by step.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from skill_embedding_ros.control.reach import Reach
from skill_embedding_ros.settings.nodes import GateConfig

LATENCY_WINDOW = 10.0
"""Seconds of joint states whose fastest sets the baseline each state's latency is measured
against. Longer tolerates a longer overload before its late states pass for on time (they would
need to be late for the whole window); shorter recovers sooner from a robot clock that fell
behind (each skipped step of the sim bridge's timer puts it one period behind for good)."""

RECOVERY_PERIODS = 10
"""Control periods after the latest violation, with a state on time since, before the gate
forwards commands again: an overload comes in bursts, and a gate that resumed at the first state
on time would flap between stopping and forwarding through one."""

REACH_SLACK = 0.001
"""Seconds of motion at a joint's speed limit by which a state may lie beyond the account before
it counts as a violation: a margin for rounding and sensor noise, well under any late command."""


class Timing:
    """Measured timing of one robot's joint states and of the gate's own watchdog."""

    def __init__(self, config: GateConfig):
        self.config = config
        self._offsets: deque[tuple[float, float]] = deque()
        """(arrival, offset) of the states in the window that no later state undercuts: offsets
        increase along it, so the first is the window's smallest."""
        self._last_tick: float | None = None
        self._gaps: deque[tuple[float, float]] = deque()
        """(time, gap) of watchdog gaps in the window that no later one exceeds: gaps decrease
        along it, so the first is the window's longest."""
        self.late = False
        """Whether the gate must stop: a violation, not yet followed by recovery."""
        self.reason = ""
        """The latest violation, in words."""
        self._since = 0.0
        self._on_time = False
        self._stamp: int | None = None

    def state_age(self, stamp: int | None, now: float) -> float:
        """A joint state stamped `stamp` (ns, robot clock) arrived at `now` (s): returns at most
        how long before `now` it was measured (s), and flags it if it came late."""
        latency = self.config.state_latency
        if stamp is None:  # nothing to measure (the node always has a stamp): as assumed
            self._on_time = True
            return latency
        offset = now - stamp * 1e-9
        while self._offsets and self._offsets[-1][1] >= offset:
            self._offsets.pop()
        self._offsets.append((now, offset))
        while self._offsets[0][0] < now - LATENCY_WINDOW:
            self._offsets.popleft()
        excess = offset - self._offsets[0][1]
        repeated, self._stamp = stamp == self._stamp, stamp
        if excess > latency and repeated:  # a driver that does not stamp its states, say
            self.violated(now, f"joint states keep the stamp {stamp} ns: their age is unknown")
        elif excess > latency:
            self.violated(
                now,
                f"a joint state came {excess * 1e3:.0f} ms later than the fastest of the last "
                f"{LATENCY_WINDOW:g} s (state_latency {latency:g} s)",
            )
        else:
            self._on_time = True
        self.check(now)  # so that the gate's mode says at once whether timing holds again
        return latency + excess

    def tick(self, now: float) -> float:
        """The watchdog ticked at `now`: a gap beyond the latency budget is a violation. Returns
        the longest gap between ticks of the window (at least `tick_period`)."""
        last, self._last_tick = self._last_tick, now
        gap = 0.0 if last is None else now - last
        allowed = self.config.tick_period + self.config.state_latency
        # An infinite gap is the node's last stop at shutdown (tick(inf)), not lateness.
        if not math.isfinite(gap):
            return self._gaps[0][1] if self._gaps else self.config.tick_period
        if gap > allowed:
            self.violated(
                now,
                f"the gate's watchdog ran {gap * 1e3:.0f} ms after its previous tick "
                f"(at most {allowed * 1e3:.0f} ms)",
            )
        while self._gaps and self._gaps[-1][1] <= gap:
            self._gaps.pop()
        self._gaps.append((now, gap))
        while self._gaps[0][0] < now - LATENCY_WINDOW:
            self._gaps.popleft()
        return max(self._gaps[0][1], self.config.tick_period)

    def check_reach(self, reach: Reach, joints, positions, velocities, now: float) -> None:
        """A new joint state (before `reach` observes it): beyond where the commands sent could
        have taken the joints, by more than REACH_SLACK, is a violation (a command acted late)."""
        if not reach.known:
            return
        over = reach.beyond(positions, velocities, now) - reach.speed * REACH_SLACK
        if np.any(over > 0):
            j = int(np.argmax(over))
            self.violated(
                now,
                f"joint {joints[j]!r} was {over[j] + reach.speed[j] * REACH_SLACK:.3g} beyond "
                "where the commands sent could have taken it (one acted late, or was lost)",
            )

    def violated(self, now: float, reason: str) -> None:
        self.late, self.reason, self._since, self._on_time = True, reason, now, False

    def check(self, now: float) -> bool:
        """Whether the gate must stop at `now`: recovery needs RECOVERY_PERIODS control periods
        since the latest violation and a state on time after it (the account rests on it)."""
        quiet = now - self._since >= RECOVERY_PERIODS * self.config.control_period
        if self.late and self._on_time and quiet:
            self.late = False
        return self.late
