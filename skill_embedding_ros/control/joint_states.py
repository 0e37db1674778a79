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
