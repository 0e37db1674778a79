"""Rules over many episodes (pure functions): which solutions a task's sampled z cover, how
consistently each z reaches its region, return spread, intervals over seeds, and when a run first
reached a number of solutions. What one episode did is tasks/scoring.py's."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

MIN_SHARE = 0.1
"""Share of a task's sampled z (evaluation episodes) that must strictly solve a solution for it to
count. A tenth: 5 of 50 episodes. Under half the 25 % a region gets when four are covered evenly,
so a real but less used skill counts; well above what a few lucky episodes make (the rule
before counted 2 of 50)."""

RELIABLE_SHARE = 0.8
"""Share of one z's episodes that must strictly end in its region for that region to count as
one the embedding *controls* (a z that reliably produces it), the measure that separates an
embedding from a plain stochastic policy whose single z covers regions by chance."""

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (standard tables); more
# degrees of freedom use the Cornish-Fisher expansion below (error under 1e-4 beyond 30).
_T95 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959964


def episodes_needed(share: float, episodes: int) -> int:
    """The least whole number of `episodes` that is at least `share` of them (at least 1)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share must be in [0, 1], got {share}")
    return max(1, math.ceil(share * episodes - 1e-9))


def outcome_counts(outcomes: np.ndarray, solutions: Sequence[int]) -> dict[int, int]:
    """outcomes [N] (-1: none) -> {solution: episodes with that outcome}, every solution listed."""
    outcomes = np.asarray(outcomes)
    return {int(g): int((outcomes == g).sum()) for g in solutions}


def solutions_reached(counts: dict[int, int], least: int) -> int:
    """How many solutions at least `least` episodes reached (counts from `outcome_counts`)."""
    return sum(n >= least for n in counts.values())


def z_groups(z: np.ndarray) -> tuple[list, np.ndarray]:
    """Episodes grouped by their z: z [N, Z] -> (labels [G], group of each episode [N]).

    Binary z (Bernoulli codes) are labelled as in the evaluation plot: bit i has weight 2**i,
    written most significant bit first ("01" is bit 0 set). Other z are labelled by their
    values; continuous z then make one group per episode."""
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    if np.isin(z, (0.0, 1.0)).all():
        width = z.shape[1]
        codes, index = np.unique((z * 2 ** np.arange(width)).sum(1), return_inverse=True)
        labels = [format(int(c), f"0{width}b") if width else "" for c in codes]
    else:
        rows, index = np.unique(z, axis=0, return_inverse=True)
        labels = [[round(float(v), 3) for v in row] for row in rows]
    return labels, np.asarray(index).reshape(-1)


def per_z(labels: list, index: np.ndarray, outcomes: np.ndarray) -> list[dict]:
    """For each z group: its episodes, its region (the solution its episodes most often end in
    strictly, the lowest id on a tie; -1 if none does) and its consistency (the share of its
    episodes that end strictly in that region). index [N] from `z_groups`, outcomes [N]."""
    index, outcomes = np.asarray(index), np.asarray(outcomes)
    rows = []
    for g, label in enumerate(labels):
        mine = outcomes[index == g]
        solved = mine[mine >= 0]
        region = int(np.bincount(solved).argmax()) if len(solved) else -1
        share = float((mine == region).mean()) if region >= 0 else 0.0
        rows.append({"z": label, "episodes": len(mine), "region": region, "consistency": share})
    return rows


def consistency(rows: list[dict]) -> float:
    """Share of all episodes that end strictly in their z's region (rows from `per_z`)."""
    total = sum(r["episodes"] for r in rows)
    return sum(r["consistency"] * r["episodes"] for r in rows) / total if total else 0.0


def reliable_solutions(rows: list[dict], share: float = RELIABLE_SHARE, least: int = 2) -> int:
    """Distinct regions some z (with at least `least` episodes: one episode is always
    consistent) strictly reaches in at least `share` of its episodes."""
    return len(
        {
            r["region"]
            for r in rows
            if r["region"] >= 0 and r["episodes"] >= least and r["consistency"] >= share
        }
    )


def returns_summary(returns: np.ndarray) -> dict[str, float]:
    """Spread of per-episode returns [N]: mean, standard deviation (ddof 0: the spread of these
    episodes, not an estimate) and quantiles."""
    r = np.asarray(returns, np.float64)
    q = [float(v) for v in np.quantile(r, [0.0, 0.25, 0.5, 0.75, 1.0])]
    keys = ("min", "p25", "median", "p75", "max")
    return {"mean": float(r.mean()), "std": float(r.std()), **dict(zip(keys, q, strict=True))}


def t_quantile95(df: int) -> float:
    """Two-sided 95 % quantile of Student's t with `df` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T95):
        return _T95[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def mean_ci95(values: Iterable[float]) -> tuple[float, float | None]:
    """(mean, half-width of its 95 % Student-t interval) of independent values, e.g. one per
    seed: mean ± t(n-1) s / sqrt(n), s the sample standard deviation. None with one value."""
    v = np.asarray(list(values), np.float64)
    if len(v) == 0:
        raise ValueError("no values")
    if len(v) == 1:
        return float(v[0]), None
    half = t_quantile95(len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def first_reached(points: Iterable[tuple[int, int]], target: int) -> int | None:
    """The env steps of the first (env_steps, count) point whose count is at least `target`, or
    None if none is."""
    return next((steps for steps, count in points if count >= target), None)
