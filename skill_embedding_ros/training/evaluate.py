"""Evaluation: per task, strict success and the old touched rate, the distinct solutions the
sampled z cover, how consistently each z reaches its region, the return and its spread; for an
embedding also the KL divergence between the embeddings of every pair of tasks.

The rules are tasks/scoring.py (one episode) and training/scoring.py (many); docs/measuring.md
("How a skill is scored") says what they mean and why.
"""

from __future__ import annotations

import numpy as np
import torch

from skill_embedding_ros.agent.actor import EmbeddingZ
from skill_embedding_ros.tasks.scoring import STAY_SHARE
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.training import scoring
from skill_embedding_ros.training.rollout import (
    EVAL_SEED,
    MakeAgent,
    RepeatedZ,
    Rollouts,
    nets_agent,
    rollout_agent,
    rollout_task,
)

__all__ = ["Rollouts", "evaluate", "evaluate_agent", "kl_matrix", "rollout_task"]

Z_REPEATS = 5
"""Starts each z runs from when z is continuous (every sampled z is then unique, so consistency
needs the same z run again): the task's episodes split into episodes / Z_REPEATS z's."""


def task_report(
    r: Rollouts,
    task_id: int,
    solutions: tuple[int, ...],
    min_share: float,
    min_episodes: int,
    per_z_rollouts: Rollouts | None = None,
) -> dict:
    """One task's row of the report (JSON-ready) from its rollouts. Per-z consistency comes from
    `per_z_rollouts` when given (continuous z, each run from several starts), else from `r`."""
    n = len(r.outcome)
    strict = scoring.outcome_counts(r.outcome, solutions)
    touched = scoring.outcome_counts(r.touched, solutions)
    spread = scoring.returns_summary(r.returns)
    z_source = per_z_rollouts if per_z_rollouts is not None else r
    labels, index = scoring.z_groups(z_source.z)
    per_z = scoring.per_z(labels, index, z_source.outcome)
    if per_z_rollouts is None and len(labels) > n // 2:
        per_z = None  # continuous z, each seen once: one episode per z says nothing
    return {
        "task_id": task_id,
        "task": r.task,
        "success_rate": float((r.outcome >= 0).mean()),
        "touched_rate": float((r.touched >= 0).mean()),
        "distinct_solutions": scoring.solutions_reached(
            strict, scoring.episodes_needed(min_share, n)
        ),
        "touched_solutions": scoring.solutions_reached(touched, min_episodes),
        "episodes_per_outcome": strict,
        "touched_outcomes": touched,
        "mean_return": spread["mean"],
        "return_std": spread["std"],
        "returns": spread,
        "per_z": per_z,
        "per_z_from": "sampled z" if per_z_rollouts is None else "each z from several starts",
        "z_consistency": scoring.consistency(per_z) if per_z is not None else None,
        "reliable_solutions": scoring.reliable_solutions(per_z) if per_z is not None else None,
    }


def evaluate_agent(
    make_agent: MakeAgent,
    suite: TaskSuite,
    tasks: list[str],
    episodes: int = 50,
    seed: int = EVAL_SEED,
    min_episodes: int = 2,
    *,
    stay_share: float = STAY_SHARE,
    min_share: float = scoring.MIN_SHARE,
    kl: np.ndarray | None = None,
    make_repeated: MakeAgent | None = None,
    z_repeats: int = Z_REPEATS,
):
    """Report dict (JSON-ready) and the rollouts behind it, for any agent (rollout.py).

    `make_agent(slots, seed)` builds the agent for each task's `episodes` (seeded `seed + 1000
    t` for task t, its env i `seed + 1000 t + i`). `kl` [T, T]: the embeddings' divergences,
    when the agent has an embedding. `make_repeated(slots, seed)`: an agent that runs each z
    from `z_repeats` starts, for continuous z (see `Z_REPEATS`).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    per_task, rollouts = [], []
    for t, name in enumerate(tasks):
        task_seed = seed + 1000 * t
        agent = make_agent(episodes, task_seed)
        r = rollout_agent(agent, suite, tasks, t, episodes, task_seed, stay_share)
        repeated = None
        continuous = len(scoring.z_groups(r.z)[0]) > episodes // 2
        if continuous and make_repeated is not None and episodes >= 2 * z_repeats:
            slots = episodes // z_repeats * z_repeats
            agent = make_repeated(slots, task_seed + 500)
            repeated = rollout_agent(agent, suite, tasks, t, slots, task_seed + 500, stay_share)
        row = task_report(r, t, suite.solutions(name), min_share, min_episodes, repeated)
        per_task.append(row)
        rollouts.append(r)
    report = {
        "suite": suite.name,
        "tasks": list(tasks),
        "episodes_per_task": episodes,
        "scoring": {
            "success": "strict: ends in a solution, in it for at least stay_share of the steps",
            "stay_share": stay_share,
            "solution": "at least min_share of the episodes strictly solve it",
            "min_share": min_share,
            "touched": "the old rule: the solution most steps were in, entered at least once",
            "min_episodes_touched": min_episodes,
            "reliable_share": scoring.RELIABLE_SHARE,
        },
        # The old key: the episodes a touched solution needed (touched_solutions).
        "min_episodes_per_solution": min_episodes,
        "per_task": per_task,
    }
    if kl is not None:
        report["kl"] = np.asarray(kl).round(4).tolist()
    return report, rollouts


@torch.no_grad()
def kl_matrix(nets) -> np.ndarray:
    """KL(p(z|t_i) || p(z|t_j)) for every pair of task ids: [T, T] (nats)."""
    params = nets.embedding(torch.arange(nets.num_tasks))
    return nets.latent.kl(params[:, None], params[None, :]).numpy()


def kl_extremes(kl: np.ndarray) -> tuple[float, float] | None:
    """(max, min) of the off-diagonal KL entries; None with one task."""
    kl = np.asarray(kl)
    if len(kl) < 2:
        return None
    off = kl[~np.eye(len(kl), dtype=bool)]
    return float(off.max()), float(off.min())


def evaluate(
    nets,
    suite: TaskSuite,
    tasks: list[str],
    episodes: int = 50,
    seed: int = EVAL_SEED,
    min_episodes: int = 2,
    z_hold: int = 0,
    stay_share: float = STAY_SHARE,
    min_share: float = scoring.MIN_SHARE,
):
    """`evaluate_agent` for a run's networks: mean actions, z ~ p(z|t) per episode (redrawn
    every `z_hold` steps when set, as in training), and the KL between the task embeddings."""

    def make(slots: int, seed: int):
        return nets_agent(nets, slots, seed, z_hold)

    def make_repeated(slots: int, seed: int):
        return nets_agent(nets, slots, seed, 0, RepeatedZ(EmbeddingZ(nets.embedding), Z_REPEATS))

    return evaluate_agent(
        make,
        suite,
        tasks,
        episodes,
        seed,
        min_episodes,
        stay_share=stay_share,
        min_share=min_share,
        kl=kl_matrix(nets),
        make_repeated=make_repeated,
    )
