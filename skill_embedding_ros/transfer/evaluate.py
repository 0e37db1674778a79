"""Evaluating a transfer model with the project's evaluation (training/evaluate.py): the same
episodes, strict success and return spread as a pre-training run, the agent being
z ~ HL(.|s) every K steps (held) and the frozen skills' mean actions."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from skill_embedding_ros.settings.run import to_dict
from skill_embedding_ros.training.evaluate import evaluate_agent
from skill_embedding_ros.training.rollout import EVAL_SEED
from skill_embedding_ros.transfer.model import TransferModel, load_transfer, transfer_agent


def evaluate_transfer(model: TransferModel, episodes: int = 50, seed: int = EVAL_SEED):
    """(report, rollouts) of `evaluate_agent` on the model's one task. Its own generators:
    evaluating leaves the global random streams alone."""

    def make(slots: int, seed: int):
        return transfer_agent(model, slots, True, torch.Generator().manual_seed(seed))

    report, rollouts = evaluate_agent(make, model.suite, [model.task], episodes, seed)
    report["agent"] = (
        f"transfer ({model.cfg.method}): z ~ HL(.|s) every {model.cfg.hold} steps, held; the "
        "frozen skills' mean actions"
    )
    report["transfer"] = to_dict(model.cfg)
    return report, rollouts


def write_transfer_evaluation(checkpoint: Path, episodes: int, out_dir: Path) -> dict:
    """Evaluate a transfer checkpoint; write eval.json and eval.png into `out_dir`."""
    from skill_embedding_ros.training.eval_plot import plot_evaluation

    model, _, meta = load_transfer(checkpoint)
    report, rollouts = evaluate_transfer(model, episodes)
    report["checkpoint"] = str(checkpoint)
    report["env_steps"] = meta.get("env_steps")
    report["skills_from"] = meta.get("skills_from")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(report, indent=1))
    plot_evaluation(report, rollouts, model.suite, out_dir / "eval.png")
    return report
