"""Where a velocity-commanded joint may be by the time the gate's next command takes over.

The safety gate must never let a joint pass a position limit, yet it sees the joint only through
`joint_states`, which lag the commands it has sent. `Reach` keeps the account: the latest joint
state, and every command sent that the state may not show yet. From these it bounds, per joint,
the joint's *coasting position* when the next command lands.

Coasting position. A velocity servo does not stop on the spot: a joint moving at v under a first
order velocity loop of time constant tau (its `lag`, control/joint_limits.py) coasts tau * v
after its command drops to zero. Its coasting position c = x + tau * v obeys dc/dt = u exactly
(u: the commanded velocity; for MuJoCo's implicit damping it holds step by step too), so c
moves only by the commands, and x never exceeds c's maximum (at x's peak v = 0, so x = c). Keeping
c inside the limits keeps the joint inside them. With tau = 0 it is the position itself.

What a joint state shows, by how the robot steps (`GateConfig.stepping`):
* lockstep (a simulator that advances one control period per command it receives, and per
  reset, and stamps each state with its simulated time): states come back in the order of the
  robot's steps, so a state whose stamp is k control periods newer than the last one shows the
  k oldest commands not yet shown (a FIFO); a repeated stamp shows nothing new, unless it comes
  LOST_AFTER s after the newest command sent: a robot that still publishes the state it had
  then never got what was sent (a simulator just restarted, whose command subscription DDS has
  not matched yet, republishes its first state), so those commands are taken as lost (`lost`),
  or a reset would wait for them for ever. Every command
  that steps the robot counts, zeros included (the gate's own watchdog and e-stop stops,
  labelled SAFETY_STOP, do not step a lockstep robot). Resets go through the gate, which lets
  the FIFO drain before it asks for one (control/safety_gate.py). As a margin for the unforeseen,
  the command the FIFO took off last still counts once more.
* realtime (hardware, or a simulator on the wall clock): the robot holds the latest command until
  the next one lands. A state shows every motion up to its age before it arrives (`state_latency`
  plus how much later it came than the fastest recent state: control/latency.py measures it from
  the stamps), and a command lands within `state_latency` s of being sent. So since the state,
  the joint has moved at most the fastest command that was active since then, for
  (now - arrival + age + latency) s. Whether these timings held shows afterwards: `beyond`.

Velocities (the torque interface, control/torque.py): a joint whose velocity approaches a target w
at rate 1/tau (dv/dt = (w - v) / tau) is a velocity servo, and a joint driven by an effort u
against damping d is one too, with w = u / d and tau = m / d. `velocity_bounds` bounds v when the
next command lands from the same account: after s seconds a fraction of the velocity between
exp(-s / tau) (the joint itself) and 1 / (1 + s / tau) (an implicit integration step of any size,
as MuJoCo damps) is left, the rest went to the target; the bounds take whichever is worse.

Pure logic: time is passed in (s, one steady clock), so tests drive it step by step.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from skill_embedding_ros.settings.nodes import GateConfig

LOST_AFTER = 2.0
"""lockstep: seconds after the newest command sent beyond which a repeated state shows it was
lost. A lockstep robot steps as soon as it takes a command, in milliseconds."""


class Reach:
    """The account of one robot's joints: the latest state and the commands it may not show."""

    def __init__(self, config: GateConfig, speed_limits, lags):
        """`speed_limits`: each joint's largest commanded speed; `lags`: each joint's velocity
        loop time constant (s). Both [J], from control/joint_limits.py (torque interface: the
        largest effort / damping, and inertia / damping)."""
        self.config = config
        self.speed = np.asarray(speed_limits, dtype=float)
        self.lag = np.asarray(lags, dtype=float)
        self._coast_lo: np.ndarray | None = None
        self._coast_hi: np.ndarray | None = None
        self._v_lo = self._v_hi = np.zeros_like(self.speed)
        """The latest state's velocity (or +-speed when it carries none)."""
        self._state_time = 0.0
        self._measured = 0.0
        """realtime: the earliest the latest state may have been measured (s, the gate's clock)."""
        self.watchdog_gap = config.tick_period
        """realtime: the longest the gate's watchdog ticks were lately apart (control/latency.py).
        A command may be held until the watchdog's stop lands: a gate that did not run for a
        while may not run for as long again."""
        # lockstep: unconfirmed commands, oldest first, as [velocity, count] runs (a flood of
        # identical commands, e.g. stops, costs one entry). realtime: (time sent, velocity) of
        # every command that may have been active since the latest state was measured, a run of
        # identical ones as its first (the robot holds it from then until another lands): the
        # older the states, the more there are, and a gate that stops sends a flood of stops.
        self._pending: deque = deque()
        self._unconfirmed = 0
        self._last_sent = 0.0
        self.lost = 0
        """lockstep: commands taken as lost (LOST_AFTER)."""
        self._margin: np.ndarray | float = 0.0
        """lockstep: the command the FIFO took off last (a state may not show it yet)."""
        self._taken = False
        """lockstep: whether the FIFO took off any command yet (else the margin is none)."""
        self._stamp: int | None = None

    @property
    def known(self) -> bool:
        return self._coast_lo is not None

    @property
    def unconfirmed(self) -> int:
        """lockstep: commands sent that no joint state has shown yet (0 in realtime)."""
        return self._unconfirmed

    def observe(
        self, positions, velocities, now: float, stamp: int | None = None, age: float | None = None
    ) -> None:
        """A joint state arrived at `now`: positions (m or rad); velocities (m/s or rad/s), or
        None when the state carries none (then the joint may move at up to its speed limit);
        `stamp`: its header stamp (ns), which tells a lockstep robot's steps apart; `age`
        (realtime): at most how long before `now` it was measured (s; default state_latency)."""
        x = np.asarray(positions, dtype=float)
        if velocities is None:
            spread = self.lag * self.speed
            self._coast_lo, self._coast_hi = x - spread, x + spread
            self._v_lo, self._v_hi = -self.speed, self.speed
        else:
            v = np.asarray(velocities, dtype=float)
            c = x + self.lag * v
            self._coast_lo, self._coast_hi = np.minimum(x, c), np.maximum(x, c)
            self._v_lo = self._v_hi = v
        self._state_time = now
        if self.config.stepping == "lockstep":
            self._confirm(self._steps_shown(stamp, now))
        else:
            self._measured = now - (self.config.state_latency if age is None else age)
            # Commands sent up to a latency before the measurement may still have been acting.
            self._forget_before(self._measured - self.config.state_latency)

    def _steps_shown(self, stamp: int | None, now: float) -> int:
        """How many robot steps a lockstep state shows beyond the last one: one per control
        period its stamp advanced (a state lost on the way is made up for), none for a repeat."""
        last, self._stamp = self._stamp, stamp if stamp is not None else self._stamp
        if stamp is None or last is None:
            return 1
        if stamp < last:  # a restarted robot: what was in flight went to the one before
            return self._unconfirmed
        if stamp == last:  # a repeat: the robot has not stepped since
            if self._unconfirmed and now - self._last_sent > LOST_AFTER:
                self.lost += self._unconfirmed
                return self._unconfirmed
            return 0
        return max(1, round((stamp - last) / (self.config.control_period * 1e9)))

    def _confirm(self, steps: int) -> None:
        while steps > 0 and self._pending:
            run = self._pending[0]
            taken = min(steps, run[1])
            self._margin, self._taken = run[0], True
            run[1] -= taken
            self._unconfirmed -= taken
            steps -= taken
            if run[1] == 0:
                self._pending.popleft()

    def sent(self, velocity, now: float) -> None:
        """A command went to the robot at `now` (velocities per joint; zeros for a stop)."""
        velocity = np.asarray(velocity, dtype=float)
        if self.config.stepping == "lockstep":
            if self._pending and np.array_equal(self._pending[-1][0], velocity):
                self._pending[-1][1] += 1
            else:
                self._pending.append([velocity, 1])
            self._unconfirmed += 1
            self._last_sent = now
        elif not (self._pending and np.array_equal(self._pending[-1][1], velocity)):
            self._pending.append((now, velocity))

    def bounds(self, now: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(lowest, highest) coasting position per joint when a command sent now takes over,
        and for how long (s) that command may then act before the gate can replace it."""
        assert self._coast_lo is not None and self._coast_hi is not None
        cfg = self.config
        if cfg.stepping == "lockstep":
            up = np.maximum(self._margin, 0.0)
            down = np.minimum(self._margin, 0.0)
            for velocity, count in self._pending:
                up = up + count * np.maximum(velocity, 0.0)
                down = down + count * np.minimum(velocity, 0.0)
            period = cfg.control_period
            return self._coast_lo + down * period, self._coast_hi + up * period, period
        seconds = now - self._measured + cfg.state_latency
        slowest, fastest = self._held_since_state()
        # Held until replaced, or until the watchdog's stop lands.
        hold = cfg.stale_after + self.watchdog_gap + cfg.state_latency
        return self._coast_lo + slowest * seconds, self._coast_hi + fastest * seconds, hold

    def _held_since_state(self) -> tuple[np.ndarray, np.ndarray]:
        """realtime: (slowest, fastest) command the robot may have held since the latest state."""
        # Before its first command the gate cannot know what the robot holds (a command of a
        # gate before a restart, say): anything up to the speed limit.
        if not self._pending:
            return -self.speed, self.speed
        held = np.array([velocity for _, velocity in self._pending])
        return np.minimum(held.min(axis=0), 0.0), np.maximum(held.max(axis=0), 0.0)

    def velocity_bounds(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(slowest, fastest) velocity per joint when a command sent now takes over, each joint
        approaching its commands at rate 1 / lag (needs lag > 0: the torque interface)."""
        cfg = self.config
        low, high = self._v_lo, self._v_hi
        if cfg.stepping == "realtime":
            # Whatever the robot held since the state, for between `since` and its age plus a
            # command's latency more: no worse than the extremes held all along (a first-order
            # approach never passes its target).
            since = max(now - self._state_time, 0.0)
            until = now - self._measured + cfg.state_latency
            slowest, fastest = self._held_since_state()
            return toward(low, high, slowest, fastest, since, until, self.lag)
        period = cfg.control_period
        if self._taken:  # the command the FIFO took off last may not show yet: either way
            margin = self._margin
            shown_lo, shown_hi = toward(low, high, margin, margin, period, period, self.lag)
            low, high = np.minimum(low, shown_lo), np.maximum(high, shown_hi)
        for velocity, count in self._pending:
            low, high = toward(
                low, high, velocity, velocity, count * period, count * period, self.lag
            )
        return low, high

    def beyond(self, positions, velocities, now: float) -> np.ndarray:
        """realtime: how far (m or rad, per joint; 0 inside) a new joint state lies beyond the
        coasting positions the account allows by `now`. Under its premises never above 0: a joint
        further out than any command sent could have taken it means a command acted later than
        assumed, or was lost (control/latency.py). Call it before `observe`-ing that state."""
        lowest, highest, _ = self.bounds(now)
        x = np.asarray(positions, dtype=float)
        over = np.maximum(x - highest, lowest - x)
        if velocities is not None:  # the coasting position too (without velocities: unknown)
            c = x + self.lag * np.asarray(velocities, dtype=float)
            over = np.maximum(over, np.maximum(c - highest, lowest - c))
        return np.maximum(over, 0.0)

    def _forget_before(self, cutoff: float) -> None:
        """Drop commands sent before `cutoff`, but the last of them: it may still be active."""
        while len(self._pending) > 1 and self._pending[1][0] <= cutoff:
            self._pending.popleft()


def decay(shortest, longest, lag) -> tuple[np.ndarray, np.ndarray]:
    """(least, most) fraction of a joint's velocity left, relative to its target, after between
    `shortest` and `longest` s of approach at rate 1 / lag (lag > 0, [J]): exp(-t / lag) for the
    joint itself, 1 / (1 + t / lag) for implicit steps of any size (MuJoCo's damping); any split
    of t into implicit steps, (1 + h / lag) ** (-t / h), lies between the two."""
    return np.exp(-longest / lag), 1.0 / (1.0 + shortest / lag)


def toward(low, high, target_low, target_high, shortest, longest, lag):
    """(low, high) bounds on the velocity of joints that start in [low, high] and approach
    targets in [target_low, target_high] at rate 1 / lag for between `shortest` and `longest` s.
    The velocity is a blend a * v + (1 - a) * target, linear in a, so the ends of `decay` bound
    it. All arrays [J] (or scalars)."""
    least, most = decay(shortest, longest, lag)
    high = np.maximum(
        least * high + (1 - least) * target_high, most * high + (1 - most) * target_high
    )
    low = np.minimum(least * low + (1 - least) * target_low, most * low + (1 - most) * target_low)
    return low, high


def limit_velocity(command, lowest, highest, horizon: float, lower, upper, speed) -> np.ndarray:
    """`command` (finite joint velocities [J]) within each joint's speed limit, and slowed toward
    its position limits (lower, upper) so that acting for `horizon` s from coasting positions in
    [lowest, highest] it reaches a limit at most; zero toward a limit once there. Motion away
    from a limit is never restricted (beyond the speed limit). All arrays [J]."""
    up = (np.asarray(upper) - np.asarray(highest)) / horizon
    down = (np.asarray(lower) - np.asarray(lowest)) / horizon
    limited = np.clip(command, -np.asarray(speed), speed)
    limited = np.minimum(limited, np.maximum(up, 0.0))
    return np.maximum(limited, np.minimum(down, 0.0))


def limit_position(command, start, step, lower, upper) -> np.ndarray:
    """A position target (finite [J]) within `step` of `start` (the last target, or the joint's
    position) and inside [lower, upper]. A position servo that does not overshoot stays between
    its start and its targets, so targets inside the limits keep the joint inside them; the
    step bounds the target's speed. All arrays [J]."""
    start = np.asarray(start, dtype=float)
    target = np.clip(command, start - step, start + step)
    return np.clip(target, lower, upper)
