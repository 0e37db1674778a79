"""Joint states by name: a driver publishes its joints in its own order, often with extras (a
vendor's `joint_states` lists the fingers, alphabetically); whatever reads them picks the joints
it wants by name, never by position in the message."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class JointPicker:
    """Picks `joints`, in that order, out of joint-state arrays whose `name` may be in any order
    and hold extra joints. The index is cached per distinct name list (a driver sends the same
    one every time)."""

    def __init__(self, joints: Sequence[str]):
        self.joints = tuple(joints)
        self._names: tuple[str, ...] | None = None
        self._index: np.ndarray | None = None
        self._missing: list[str] = []

    def missing(self, names: Sequence[str]) -> list[str]:
        """The joints `names` lacks (empty when every one is there)."""
        self._learn(names)
        return self._missing

    def pick(self, names: Sequence[str], values: Sequence[float]) -> np.ndarray | None:
        """`values` (one per name) of `joints`, in their order; None when the message lacks a
        joint or `values` is not one per name (a JointState may leave `velocity` empty)."""
        self._learn(names)
        if self._missing or len(values) != len(names):
            return None
        return np.asarray(values, dtype=float)[self._index]

    def _learn(self, names: Sequence[str]) -> None:
        names = tuple(names)
        if names == self._names:
            return
        where = {n: i for i, n in enumerate(names)}
        self._names = names
        self._missing = [j for j in self.joints if j not in where]
        self._index = None if self._missing else np.array([where[j] for j in self.joints], int)


def passes(stamp_ns: int, last_ns: int | None, every_ns: int) -> bool:
    """Whether a state stamped `stamp_ns` passes a thinning of a stream to one per `every_ns`,
    the last one passed being stamped `last_ns` (None: none yet). A stamp that went back is a
    restarted robot: it passes, and the thinning follows its new clock."""
    return last_ns is None or not 0 <= stamp_ns - last_ns < every_ns
