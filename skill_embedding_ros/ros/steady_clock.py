"""Reading the steady clock, the one the nodes' watchdog and pacing timers run on (rcl's
STEADY_TIME, never sim time, which stands still in lockstep until someone acts)."""

from __future__ import annotations

import time


def steady_s() -> float:
    """Now on the steady clock, in seconds. rcl reads CLOCK_MONOTONIC, as `time.monotonic`
    does, so this is `Clock(clock_type=STEADY_TIME).now()` without an rclpy Time built per
    reading (the safety gate reads it several times a step: 4.4 % of a composed actor's samples
    at 17f5d18, benchmarks/profile_actor.py). test_safety_gate_ros checks the two agree."""
    return time.monotonic()
