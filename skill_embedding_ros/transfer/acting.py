"""A skill-policy node acting for transfer (agent/acting.py's `Acting`): z ~ HL(.|s) every K
steps, held, and the frozen skills' action; a transfer learner broadcasts the high-level policy
only (the skills never change)."""

from __future__ import annotations

import torch

from skill_embedding_ros.agent.acting import Acting
from skill_embedding_ros.settings.transfer import load_transfer_file
from skill_embedding_ros.transfer.model import (
    high_level_state,
    load_high_level,
    load_transfer,
    model_from_file,
    transfer_agent,
)


def transfer_acting(run_file: str, checkpoint: str, deterministic: bool, seed: int) -> Acting:
    """From a transfer checkpoint (its high-level policy as trained), else from the transfer
    run file `run_file` (a fresh high-level policy over its frozen skills, until a learner's
    weights arrive). ValueError/FileNotFoundError name what is wrong."""
    meta: dict = {}
    if checkpoint:
        model, _, meta = load_transfer(checkpoint)
    else:
        model = model_from_file(load_transfer_file(run_file))
    mean = deterministic or model.cfg.skill_actions == "mean"  # evaluating, or as trained
    core = transfer_agent(model, 1, mean, torch.Generator().manual_seed(seed), one_state=True)
    return Acting(
        model.suite,
        [model.task],
        core,
        high_level_state(model),
        lambda tensors: load_high_level(model, tensors),
        model.cfg,
        f"a high-level policy ({model.cfg.method}, z held {model.cfg.hold} steps) over frozen "
        "skills",
        meta,
    )
