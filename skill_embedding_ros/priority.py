"""Lowering CPU scheduling priority, so that work which can wait (training, rendering) yields
to work with deadlines (a robot's driver, gate and policy; joint states) on a shared machine.

On Linux a nice value belongs to each thread, not to the process: os.nice changes only the
calling thread's (and those it starts later). Elsewhere, or where it is not allowed, nothing
changes beyond what os.nice does."""

from __future__ import annotations

import contextlib
import os
import threading

MAX_NICE = 19


def lower_thread(niceness: int, tid: int | None = None) -> None:
    """Add `niceness` to one thread's nice value (default: the calling thread's)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, not allowed, or gone
        tid = threading.get_native_id() if tid is None else tid
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, now + niceness))


def lower_process(niceness: int) -> None:
    """Add `niceness` to every thread of this process: threads started at import (rclpy's,
    torch's) would otherwise keep competing at full priority."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # no /proc (not Linux): the process's value is the threads'
        os.nice(niceness)
        return
    for tid in threads:
        lower_thread(niceness, tid)
