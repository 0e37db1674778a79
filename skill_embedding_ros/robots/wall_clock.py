"""realtime: how many control periods a simulated robot owes the wall clock.

A physical robot does not pause when the computer beside it stalls: it holds its last command
and moves on. A simulator stepped by a timer does pause, and rcl does not call a missed timer
twice, so after a stall its simulated time would fall behind the wall clock for good: every later
state would look older than the ones before it, and the safety gate (control/latency.py) would
stop the robot until its window forgot the faster ones. So the sim bridge asks `WallClock` at
each tick how many periods are due and steps them all, holding the command, as the robot would
have. A stall longer than `max_catch_up` is not made up: the clock re-anchors (counted in
`skipped`), so a process stopped in a debugger does not replay minutes of motion at once.

Pure logic: time is passed in (s, one steady clock).
"""

from __future__ import annotations

import math

SLACK = 1e-3
"""Share of a period a tick may come early and still count (rounding of the clock's reads)."""


class WallClock:
    def __init__(self, period: float, start: float, max_catch_up: float = 1.0):
        """`period`: s per control step; `start`: when step 0 was (s); `max_catch_up`: the
        longest stall (s) made up by stepping."""
        if period <= 0 or max_catch_up < period:
            raise ValueError(
                f"need period > 0 and max_catch_up >= period, got {period}, {max_catch_up}"
            )
        self.period, self.max_steps = period, int(max_catch_up / period)
        self._anchor, self._done = start, 0
        self.skipped = 0.0
        """Seconds of stalls not made up (beyond `max_catch_up`)."""

    def due(self, now: float) -> int:
        """Control periods to step now (0 if the next is not due yet)."""
        owed = math.floor((now - self._anchor) / self.period + SLACK) - self._done
        if owed > self.max_steps:
            self.skipped += (owed - 1) * self.period
            self._anchor, self._done = now - self.period, 0
            owed = 1
        owed = max(owed, 0)
        self._done += owed
        return owed
