"""What a training run leaves in its directory for people and plots: the config it ran with
(config.yaml), one JSON row per log interval (progress.jsonl) and the same scalars for
TensorBoard (tb/). The in-process trainer and the learner node both write through this."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from skill_embedding_ros.settings.run import RunConfig, to_dict


class RunLog:
    def __init__(self, out: Path, cfg: RunConfig, append: bool = False):
        from torch.utils.tensorboard import SummaryWriter  # slow import: only where a run logs

        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.writer = SummaryWriter(str(out / "tb"))
        # A resumed learner appends: its curve continues where the checkpoint left it.
        self.rows = open(out / "progress.jsonl", "a" if append else "w")  # noqa: SIM115

    def write(self, row: dict, step: int) -> None:
        """One row; keys with a "/" (e.g. charts/episodic_return) also go to TensorBoard."""
        for key, value in row.items():
            if "/" in key:
                self.writer.add_scalar(key, value, step)
        self.rows.write(json.dumps(row) + "\n")
        self.rows.flush()

    def close(self) -> None:
        self.writer.close()
        self.rows.close()
