"""What one episode did, from the suite's per-step visits (`TaskSuite.visits`): the one
definition of success every suite, evaluation and node shares.

A *visit* is which of the task's solutions (e.g. goal regions) the state after a step lies in, or
-1. From the visits of an episode:

* strict outcome (success): the episode *ends* in a solution and spent at least `stay_share` of
  its steps in that same solution. A skill that does the task gets there and stays; a path that
  crosses a region on its way elsewhere, or arrives at the very end, did not do the task.
* touched outcome (the rule before strict scoring, kept as a labelled extra): the solution the
  episode spent the most steps in, -1 if it never entered one. It counts a pass-through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STAY_SHARE = 0.5
"""Share of an episode's steps a strict success spends in the solution it ends in. One half: the
skill spends most of the episode doing the task. A direct skill arrives early and may be several
times slower than the fastest path and still pass, while a pass-through (a few steps inside) or
an arrival near the end stays far below it; docs/measuring.md ("How a skill is scored") gives
the numbers for the didactic suite."""


def strict_outcomes(visits: np.ndarray, stay_share: float = STAY_SHARE) -> np.ndarray:
    """visits [N, L] (solution id of each step's state, -1: none) -> [N] int: the solution the
    episode ends in when it spent at least `stay_share` of its L steps there, else -1."""
    visits = np.asarray(visits)
    if visits.ndim != 2 or visits.shape[1] == 0:
        raise ValueError(f"visits must be [episodes, steps >= 1], got shape {visits.shape}")
    if not 0.0 <= stay_share <= 1.0:
        raise ValueError(f"stay_share must be in [0, 1], got {stay_share}")
    final = visits[:, -1]
    stays = (visits == final[:, None]).sum(1)
    # ceil with a hair of slack: 0.5 of 50 steps is 25 steps, not 25.000000001.
    needed = max(1, int(np.ceil(stay_share * visits.shape[1] - 1e-9)))
    return np.where((final >= 0) & (stays >= needed), final, -1)


def touched_outcomes(visits: np.ndarray, solutions: Sequence[int]) -> np.ndarray:
    """visits [N, L] -> [N] int: the solution (of `solutions`) the episode spent the most steps
    in, the first of `solutions` on a tie; -1 where it never entered one. The rule before
    strict scoring: an episode that touches a region once counts."""
    visits = np.asarray(visits)
    if not solutions:
        return np.full(len(visits), -1)
    counts = np.stack([(visits == g).sum(1) for g in solutions], 1)  # [N, G]
    best = np.asarray(solutions)[counts.argmax(1)]
    return np.where(counts.max(1) > 0, best, -1)
