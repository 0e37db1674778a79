"""The link between a driver and an emulated arm (ROS-free): its imperfections (`Link`), the
timestamped queue that carries messages each way (`DelayLine`), and the seeded random streams
of one emulator (`stream`).

Every time (`now`, s) is a reading of one steady clock passed in; nothing sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SLACK = 1e-9
"""s: a message due at a physics step's time (up to float rounding) acts in that step."""

# The random streams of one seed, one per use, so that adding a use changes no other's draws
# (streams 0-3 are what `SeedSequence(seed).spawn(4)` gave the arm before the others existed).
START, INBOUND, OUTBOUND, NOISE, OBJECTS, SCENE_RESETS = range(6)


def stream(seed: int, use: int) -> np.random.Generator:
    """The random generator of `use` (one of the constants above) under `seed`."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(use,)))


@dataclass(frozen=True)
class Link:
    """The imperfections of the link between the driver and the arm."""

    latency: float = 0.0
    """s: inbound messages act, and states are delivered, this much after they are sent."""
    jitter: float = 0.0
    """s: a uniform extra delay in [0, jitter] per message."""
    noise_position: float = 0.0
    """rad: Gaussian noise (std) on reported positions."""
    noise_velocity: float = 0.0
    """rad/s: Gaussian noise (std) on reported velocities."""
    drop: float = 0.0
    """Probability a message is lost, each way, in [0, 1)."""

    def __post_init__(self):
        if min(self.latency, self.jitter, self.noise_position, self.noise_velocity) < 0 or not (
            0.0 <= self.drop < 1.0
        ):
            raise ValueError(f"need latency, jitter, noise >= 0 and drop in [0, 1): {self}")

    def line(self, rng: np.random.Generator) -> DelayLine:
        """A DelayLine with this link's latency, jitter and drop, drawing from `rng`."""
        return DelayLine(self.latency, self.jitter, self.drop, rng)


PERFECT = Link()
"""A link without imperfections: no delay, no noise, no loss."""


class DelayLine:
    """A timestamped queue: each item pushed at `now` comes out of `pop(t)` once t reaches
    now + latency + U(0, jitter), unless lost (probability `drop`). Items keep their order, as
    on a reliable link: one that drew a short delay waits for the one before it."""

    def __init__(self, latency: float, jitter: float, drop: float, rng: np.random.Generator):
        self.latency, self.jitter, self.drop, self.rng = latency, jitter, drop, rng
        self._queue: deque = deque()  # (due, item) in the order pushed
        self.sent = self.lost = 0

    def push(self, item, now: float) -> bool:
        """Send `item` at `now`; False if the link lost it."""
        if self.drop and self.rng.random() < self.drop:
            self.lost += 1
            return False
        due = now + self.latency + (self.rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
        self._queue.append((due, item))
        self.sent += 1
        return True

    def pop(self, now: float) -> list:
        """The items due by `now`, oldest first: one that drew a shorter delay than the one
        before it waits for it (head of line)."""
        out = []
        while self._queue and self._queue[0][0] <= now + SLACK:
            out.append(self._queue.popleft()[1])
        return out

    def __len__(self) -> int:
        return len(self._queue)
