"""Evaluation during training (`train.eval_every` env steps): the strict evaluation on fewer
episodes with a fixed seed, one row per point in progress.jsonl and TensorBoard (`eval/*`), and
the env steps at which each task first reached its target number of solutions.

It runs on a copy of the learner's networks with its own envs and generators, so training with it
on or off is bit-identical (torch's and numpy's global streams are never drawn from here).
"""

from __future__ import annotations

import copy

from skill_embedding_ros.settings.run import RunConfig
from skill_embedding_ros.tasks.suite import TaskSuite
from skill_embedding_ros.training import scoring
from skill_embedding_ros.training.evaluate import evaluate, kl_extremes
from skill_embedding_ros.training.rollout import EVAL_SEED  # the weights alone move the curve


def solution_targets(suite: TaskSuite, tasks, target: int) -> list[int]:
    """Per task, the solutions whose first reaching is reported: `target`, at most the task's
    own number of solutions (0: all of them)."""
    counts = [len(suite.solutions(t)) for t in tasks]
    return [n if target <= 0 else min(target, n) for n in counts]


class PeriodicEval:
    """Decides when an evaluation is due and turns each into a progress row."""

    def __init__(self, cfg: RunConfig, suite: TaskSuite, env_steps: int = 0):
        """`env_steps`: where the run stands (resumed: its checkpoint's count); the first point
        is the next multiple of eval_every after it, as in an unbroken run."""
        self.every, self.episodes = cfg.train.eval_every, cfg.train.eval_episodes
        self.z_hold = cfg.train.z_hold
        self.suite, self.tasks = suite, list(cfg.train.tasks)
        self.targets = solution_targets(suite, self.tasks, cfg.train.solutions_target)
        self.next = (env_steps // self.every + 1) * self.every if self.every else 0
        self.points: list[tuple[int, list[int]]] = []  # (env steps, solutions per task)

    def due(self, env_steps: int) -> bool:
        """Whether an evaluation is due at `env_steps` (the first tick at or past each multiple
        of `every`; one evaluation even if a tick passes several)."""
        if self.every <= 0 or env_steps < self.next:
            return False
        self.next = (env_steps // self.every + 1) * self.every
        return True

    def __call__(self, nets, env_steps: int) -> dict:
        """Evaluate `nets` (left untouched: a CPU copy runs) -> the progress row."""
        nets = copy.deepcopy(nets).cpu()
        report, _ = evaluate(
            nets, self.suite, self.tasks, self.episodes, EVAL_SEED, z_hold=self.z_hold
        )
        row: dict = {"env_steps": env_steps}
        for t, task in enumerate(report["per_task"]):
            row[f"eval/success_task{t}"] = task["success_rate"]
            row[f"eval/touched_task{t}"] = task["touched_rate"]
            row[f"eval/solutions_task{t}"] = task["distinct_solutions"]
            row[f"eval/return_task{t}"] = task["mean_return"]
            row[f"eval/return_std_task{t}"] = task["return_std"]
            if task["z_consistency"] is not None:
                row[f"eval/z_consistency_task{t}"] = task["z_consistency"]
        extremes = kl_extremes(report["kl"])
        if extremes is not None:
            row["eval/kl_max"], row["eval/kl_min"] = extremes
        self.points.append((env_steps, [t["distinct_solutions"] for t in report["per_task"]]))
        return row

    def summary(self) -> dict:
        """For summary.json (and eval.json), keyed "t<id>_<task>": the targets and the env steps
        of the first point at which each task had them (None: never, or no evaluation ran)."""
        keys = [f"t{t}_{name}" for t, name in enumerate(self.tasks)]  # a task may repeat
        reached = {
            key: scoring.first_reached(((s, n[t]) for s, n in self.points), self.targets[t])
            for t, key in enumerate(keys)
        }
        return {
            "eval_every": self.every,
            "episodes": self.episodes,
            "points": len(self.points),
            "solutions_target": dict(zip(keys, self.targets, strict=True)),
            "env_steps_to_solutions": reached,
        }
