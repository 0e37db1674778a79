"""What data may enter training: episodes read from a store or a bag, and tensors (weights,
checkpoints). Pure, ROS-free checks that return what is wrong instead of raising, so a reader can
quarantine one bad episode (log it, count it, go on) rather than die on it.

Why here and not in the recorder: a per-step record is self-describing (its field sizes travel
with it), so a record of the wrong size, a task id no network has, or a value of 1e30 decodes
and assembles into a well-formed `Episode`. Only a reader that knows the run (the networks'
sizes, the task count) can tell it apart, and a restarted learner re-reads what is stored, so
every reader must apply the same rule: `episode_problem`.

Bounds (documented in docs/ros_graph.md, "Learner"):
* observations, rewards, z and behaviour log-probabilities: finite and |value| <= VALUE_BOUND
  (1e6). Real observations are metres, radians and their rates; rewards are per step. A value
  beyond 1e6 is a unit error or poison, and squared in a critic loss it overflows float32.
* actions: within the suite's normalised command range [-1, 1] (every suite, the policy's tanh,
  the gate and bag alignment use it) plus ACTION_TOLERANCE for float rounding.
* log b(a|s,z), log b(z|t): NaN is allowed (it means "unknown" and cuts the Retrace trace).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

VALUE_BOUND = 1e6
"""Largest |value| accepted in observations, rewards, z, log-probabilities and weights."""
ACTION_BOUND = 1.0
"""Actions are normalised commands in [-ACTION_BOUND, ACTION_BOUND]."""
ACTION_TOLERANCE = 1e-3
"""Slack on ACTION_BOUND for float rounding (float64 commands stored as float32)."""


@dataclass(frozen=True)
class EpisodeSpec:
    """The shapes and ranges one run's networks and replay accept."""

    obs_dim: int
    action_dim: int
    z_dim: int
    num_tasks: int
    max_steps: int | None = None
    """Longest episode the replay can hold (its capacity); None: no limit."""


def _out_of_bounds(name: str, values: np.ndarray, bound: float, nan_ok: bool = False):
    """A one-line problem for values that are non-finite (NaN allowed if nan_ok) or beyond
    +-bound, else None."""
    v = np.asarray(values, np.float64)
    if nan_ok:
        v = v[~np.isnan(v)]
    if not np.all(np.isfinite(v)):
        return f"{name} holds non-finite values"
    if v.size and np.max(np.abs(v)) > bound:
        return f"{name} reaches {np.max(np.abs(v)):.3g}, beyond the bound {bound:g}"
    return None


def episode_problem(episode, spec: EpisodeSpec) -> str | None:
    """What makes `episode` unfit for this run's replay, in one line; None if it is fit.

    Checks, in order: array ranks, the episode's own consistency (`Episode.validate`: rows,
    finite obs/action/reward/z, z drawn at step 0), the sizes against `spec`, the length against
    the replay, the task id against the task count, then the value bounds of the module
    docstring. Once this returns None, `ReplayBuffer.add` and the learner's per-task statistics
    cannot fail on the episode, and no value in it can overflow a loss.
    """
    ranks = {"obs": 2, "action": 2, "z": 2, "reward": 1, "terminal": 1, "log_b_z": 1}
    ranks |= {"log_b_a": 1, "z_drawn": 1, "intervention": 1}
    for name, rank in ranks.items():
        ndim = np.ndim(getattr(episode, name))
        if ndim != rank:
            return f"{name} has {ndim} dimensions, expected {rank}"
    try:
        episode.validate()
    except (ValueError, IndexError, TypeError) as err:
        return str(err)
    sizes = {
        "observation": (episode.obs.shape[1], spec.obs_dim),
        "action": (episode.action.shape[1], spec.action_dim),
        "z": (episode.z.shape[1], spec.z_dim),
    }
    for name, (got, want) in sizes.items():
        if got != want:
            return f"{name} has {got} values, the run's networks take {want}"
    if spec.max_steps is not None and len(episode) > spec.max_steps:
        return f"{len(episode)} steps exceed the replay capacity {spec.max_steps}"
    task = episode.task
    if not isinstance(task, int | np.integer) or not 0 <= task < spec.num_tasks:
        return f"task id {task!r} is not one of the run's {spec.num_tasks} task(s)"
    return (
        _out_of_bounds("observation", episode.obs, VALUE_BOUND)
        or _out_of_bounds("action", episode.action, ACTION_BOUND + ACTION_TOLERANCE)
        or _out_of_bounds("reward", episode.reward, VALUE_BOUND)
        or _out_of_bounds("z", episode.z, VALUE_BOUND)
        or _out_of_bounds("log_b_z", episode.log_b_z, VALUE_BOUND, nan_ok=True)
        or _out_of_bounds("log_b_a", episode.log_b_a, VALUE_BOUND, nan_ok=True)
    )


def nonfinite_tensors(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity (sorted).

    One pass per tensor; the learner runs it before every checkpoint and weights broadcast, not
    per update, so its cost (about 1 ms for the default networks and their optimizer state) is
    negligible.
    """
    return sorted(
        name
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    )


def tensors_problem(
    expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    got: Mapping[str, torch.Tensor],
    bound: float = VALUE_BOUND,
) -> str | None:
    """What makes `got` unfit to load where `expected` (name -> (shape, dtype)) lives, in one
    line; None if it fits. Names, shapes and dtypes must match exactly, and every value must be
    finite and within +-bound: a finite 1e30 weight turns the next layer's sums into inf - inf.
    """
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        return f"tensor names differ: missing {missing[:3]}, unexpected {extra[:3]}"
    for name, (shape, dtype) in expected.items():
        t = got[name]
        if tuple(t.shape) != tuple(shape) or t.dtype != dtype:
            return (
                f"{name} is {tuple(t.shape)} {t.dtype}, expected {tuple(shape)} {dtype} "
                "(another suite, task count, z size or width?)"
            )
    bad = nonfinite_tensors(got)
    if bad:
        return f"non-finite values in {bad[:3]}"
    for name, t in got.items():
        if t.numel() and float(t.abs().max()) > bound:
            return f"{name} reaches {float(t.abs().max()):.3g}, beyond the bound {bound:g}"
    return None
