"""One rule for "the state of a control step": joint states at any rate and object poses with
their own stamps -> at most one synchronised state per control period. The skill-policy node
(live) and bag ingestion (data/bags/align.py, messages in log-time order) both use `StateSync`,
so a bag and a live run of the same streams select the same states.

The rule, with T the control period and tol the tolerance (default T / 4), stamps in ns:

* The state of a period is the joint state nearest its target, within tol of it. The target is
  one period after the previous period's state; the first state after a start, a reset or a gap
  is taken as it comes and sets the grid. Of two as near, the earlier.
* Causally: a state at or after the target is taken at once, and so is one before it (within
  tol) when the stream is no faster than the control rate (the state came at least T - tol after
  the one before it: a nearer one cannot come in time). In a faster stream a state before the
  target waits for the next state, which either is nearer (and is taken) or is not. So the wait
  is at most one interval of the joint-state stream, and a lockstep stream (each state one
  period after the last) is taken state by state with no wait at all.
* A state too early for its period is skipped (`resampled`); none within tol of the target
  (the next one lies beyond it) is a gap: counted in `gaps`, and the next state starts anew.
* Each object's pose is the nearest of the poses received within tol of the state's stamp.
  The state is handed out once every object has one. It waits for a missing pose until a pose
  of that object stamped more than tol after it arrives, or until the next period's state is
  chosen (about a period), then is dropped (`states_unmatched`).
* A state handed out says whether it follows the previous one by one period (`continuous`):
  not after a start, a reset, a gap or a dropped state, where a trajectory must be cut.

Joint states are dicts by name (any order, extra joints: the caller picks what it needs), kept
as given, not copied: a caller hands over a fresh dict per message and does not change it. Stamps
that repeat or go backwards are dropped (`duplicates`, `out_of_order`; per object for poses:
`pose_duplicates`, `pose_out_of_order`), but a clock that goes back by more than the history is
a restarted robot (`clock_restarts`): everything before is forgotten and the new timeline is
followed. `reset(after)` starts a new episode: nothing stamped at or before `after` is used
(`stale`). Memory is bounded: `HISTORY_NS` of states and poses.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import NamedTuple

from skill_embedding_ros.tasks.suite import Pose

HISTORY_NS = 2_000_000_000  # how far back a reset looks for its first state, and poses are kept


class SyncedState(NamedTuple):
    """The state of one control period (a NamedTuple: one is made per period, and a frozen
    dataclass costs several times as much to build)."""

    stamp_ns: int
    """The joint state's stamp."""
    positions: dict[str, float]
    velocities: dict[str, float]
    poses: dict[str, Pose]
    """Each object's pose nearest the stamp, within the tolerance."""
    pose_stamps_ns: dict[str, int]
    continuous: bool
    """One period (within the tolerance) after the previous synchronised state, none lost in
    between: False for the first after a start, a reset, a gap or a state dropped unmatched."""
    tag: object = None
    """What the caller passed with the joint state (e.g. its bag log time)."""


class _Joint(NamedTuple):
    stamp: int
    positions: dict[str, float]
    velocities: dict[str, float]
    tag: object


class _Pick(NamedTuple):
    """The chosen state of a period, collecting its poses."""

    state: _Joint
    poses: dict[str, tuple[int, Pose]]


class StateSync:
    """Joint states + object poses -> at most one `SyncedState` per control period.

    Feed messages as they arrive (live) or in log-time order (a bag); each call returns the
    states it completed, in stamp order. `counts` counts what was not used, by kind (the module
    docstring); pass a Counter to share one. `notes` holds the first example of a dropped state.
    """

    def __init__(
        self,
        period_ns: int,
        tolerance_ns: int | None = None,
        objects: Iterable[str] = (),
        *,
        counts: Counter | None = None,
    ):
        self.period = int(period_ns)
        self.tol = self.period // 4 if tolerance_ns is None else int(tolerance_ns)
        if self.period <= 0 or not 0 <= self.tol < self.period:
            raise ValueError(
                f"need period > 0 and 0 <= tolerance < period, got {period_ns}, {tolerance_ns}"
            )
        self.objects = tuple(objects)
        # A state waiting for its poses must still find them: keep at least a period's worth.
        self.history = max(HISTORY_NS, self.period + self.tol)
        self.counts: Counter[str] = Counter() if counts is None else counts
        self.notes: dict[str, str] = {}
        self._states: deque[_Joint] = deque()  # received, in stamp order: what a reset replays
        self._poses: dict[str, deque[tuple[int, Pose]]] = {o: deque() for o in self.objects}
        self._newest: int | None = None  # newest joint-state stamp
        self._newest_pose: dict[str, int] = {}
        self._floor: int | None = None  # the last reset's stamp
        self._restart()

    def _restart(self) -> None:
        self._target: int | None = None  # stamp the next period's state should have
        self._early: _Joint | None = None  # before the target: waits for a nearer one
        self._prev: int | None = None  # the previous state considered: how fast the stream is
        self._pick: _Pick | None = None  # the chosen state, waiting for a pose
        self._continuous = False  # whether the next state handed out follows the last

    # -- inputs -----------------------------------------------------------------------------

    def add_joint_state(
        self,
        stamp_ns: int,
        positions: dict[str, float],
        velocities: dict[str, float],
        tag: object = None,
    ) -> list[SyncedState]:
        stamp = int(stamp_ns)
        if self._newest is not None and stamp < self._newest - self.history:
            self.new_timeline(stamp)
        if self._newest is not None and stamp <= self._newest:
            self.counts["duplicates" if stamp == self._newest else "out_of_order"] += 1
            return []
        self._newest = stamp
        if self._floor is not None and stamp <= self._floor:
            self.counts["stale"] += 1
            return []
        state = _Joint(stamp, positions, velocities, tag)
        self._states.append(state)
        while self._states[0].stamp < stamp - self.history:
            self._states.popleft()
        return self._consider(state)

    def new_timeline(self, stamp: int = 0) -> None:
        """The robot's clock went back (a restarted driver or sim bridge counts from 0 again):
        what came before belongs to another timeline. Called on a joint state more than the
        history older than the newest, or by a caller that knows (a reset naming an older
        stamp than it had seen)."""
        self.counts["clock_restarts"] += 1
        self._newest = None
        self._states.clear()
        for name, window in self._poses.items():  # keep poses already on the new clock
            kept = [pose for pose in window if pose[0] <= stamp + self.tol]
            self._poses[name] = deque(kept)
            if kept:
                self._newest_pose[name] = kept[-1][0]
            else:
                self._newest_pose.pop(name, None)
        if self._floor is not None and self._floor >= stamp:
            self._floor = None
        self._restart()

    def add_pose(self, name: str, stamp_ns: int, pose: Pose) -> list[SyncedState]:
        """A pose of `name` (one of `objects`): (position [3], quaternion w, x, y, z)."""
        stamp, window = int(stamp_ns), self._poses[name]
        newest = self._newest_pose.get(name)
        if newest is not None and stamp < newest - self.history:
            self._newest_pose.pop(name)  # its clock restarted; the joint state will follow
            self._poses[name].clear()
            newest = None
        if newest is not None and stamp <= newest:
            self.counts["pose_duplicates" if stamp == newest else "pose_out_of_order"] += 1
            return []
        self._newest_pose[name] = stamp
        if self._floor is not None and stamp <= self._floor:
            self.counts["stale"] += 1
            return []
        window.append((stamp, pose))
        while window[0][0] < stamp - self.history:
            window.popleft()
        pick = self._pick
        if pick is None or name in pick.poses:
            return []
        if abs(stamp - pick.state.stamp) <= self.tol:
            pick.poses[name] = (stamp, pose)
            return self._hand_out()
        if stamp > pick.state.stamp + self.tol:  # poses come in order: none can match now
            self._drop_pick()
        return []

    def reset(self, after_stamp_ns: int) -> list[SyncedState]:
        """A new episode: nothing stamped at or before `after_stamp_ns` is used. States already
        received after it are considered again (the reset's first state may have arrived before
        the caller learned its stamp); they are not counted again."""
        self._floor = int(after_stamp_ns)
        for window in self._poses.values():
            while window and window[0][0] <= self._floor:
                window.popleft()
        self._restart()
        replay = [s for s in self._states if s.stamp > self._floor]
        self._states = deque(replay)
        counts, self.counts = self.counts, Counter()
        try:
            return [synced for state in replay for synced in self._consider(state)]
        finally:
            self.counts = counts

    def flush(self) -> list[SyncedState]:
        """The streams ended (a bag's end): a state waiting for a nearer one is taken, one still
        missing a pose is dropped. A later state starts anew."""
        out = [] if self._early is None else self._choose(self._early)
        if self._pick is not None:
            self._drop_pick()
        self._restart()
        return out

    # -- the rule ---------------------------------------------------------------------------

    def _consider(self, state: _Joint) -> list[SyncedState]:
        prev, self._prev = self._prev, state.stamp
        return self._place(state, prev)

    def _place(self, state: _Joint, prev: int | None) -> list[SyncedState]:
        """`state` against the current target; `prev`: the stamp of the state before it."""
        if self._target is None:
            return self._choose(state)
        t, q, early = self._target, state.stamp, self._early
        if q < t - self.tol:
            self.counts["resampled"] += 1  # faster than the control rate
            return []
        if q < t:
            if early is not None:
                self.counts["resampled"] += 1  # `state` is nearer the target
            if prev is not None and q - prev >= self.period - self.tol:
                return self._choose(state)  # no nearer state can come within the tolerance
            self._early = state
            return []
        if early is not None and (q > t + self.tol or t - early.stamp <= q - t):
            # The held state is the period's: `state` is weighed against the next target.
            return self._choose(early) + self._place(state, prev)
        if early is not None:
            self.counts["resampled"] += 1  # `state` is nearer the target
        if q > t + self.tol:
            self.counts["gaps"] += 1  # no state within the tolerance of the target
            self._continuous = False
        return self._choose(state)

    def _choose(self, state: _Joint) -> list[SyncedState]:
        """`state` is its period's: the grid moves on; it is handed out once it has its poses."""
        if self._pick is not None:
            self._drop_pick()  # the previous period's poses never came
        self._early = None
        self._target = state.stamp + self.period
        poses = {}
        for name, window in self._poses.items():
            near = _nearest(window, state.stamp, self.tol)
            if near is not None:
                poses[name] = near
        self._pick = _Pick(state, poses)
        return self._hand_out()

    def _hand_out(self) -> list[SyncedState]:
        pick = self._pick
        if len(pick.poses) < len(self.objects):
            return []
        self._pick = None
        continuous, self._continuous = self._continuous, True
        s, poses = pick.state, pick.poses
        stamps = {o: poses[o][0] for o in self.objects}
        synced = {o: poses[o][1] for o in self.objects}
        return [SyncedState(s.stamp, s.positions, s.velocities, synced, stamps, continuous, s.tag)]

    def _drop_pick(self) -> None:
        pick, self._pick = self._pick, None
        missing = next(o for o in self.objects if o not in pick.poses)
        self.counts["states_unmatched"] += 1
        self.notes.setdefault(
            "states_unmatched",
            f"no pose of {missing} within {self.tol / 1e9:g} s of the state at "
            f"{pick.state.stamp} ns",
        )
        self._continuous = False


def _nearest(window: deque[tuple[int, Pose]], stamp: int, tol: int) -> tuple[int, Pose] | None:
    """The pose of `window` (strictly increasing stamps) nearest `stamp`, within `tol`; of two
    as near, the earlier. Scanned from the newest, as a state's poses are the latest few: the
    window holds HISTORY_NS of them, and this runs once per control period per object."""
    best, best_distance = None, tol
    for pose in reversed(window):
        distance = pose[0] - stamp
        if distance < -tol:
            break  # older poses lie farther still
        if abs(distance) <= best_distance:  # <=: the earlier of two as near
            best, best_distance = pose, abs(distance)
    return best
