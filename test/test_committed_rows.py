"""Re-evaluating a committed results row from its checkpoint reproduces its eval.json: what
`skill-embedding evaluate results/runs/<row> --out DIR` gives a reader is what the row says.
One point-mass row per experiment here (about 3 s each); every row, the arm's too, with
`SKILL_EMBEDDING_ALL_ROWS=1 pytest test/test_committed_rows.py`.

The point-mass rows reproduce on any CPU (AVX2 and AVX512 machines, and with torch's scalar
kernels, ATEN_CPU_CAPABILITY=default). An arm row's 200 steps of contact carry a last-bit
difference in torch's vector kernels into its returns: the arm rows re-evaluated exactly on
the CPU kind that wrote them (AVX512); on an AVX2 machine some differ (docs/measuring.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from skill_embedding_ros.cli import main

RUNS = Path(__file__).resolve().parents[1] / "results" / "runs"
ARM_SUITES = ("jaco", "jaco_velocity")


def _rows() -> list[Path]:
    rows = sorted(p.parent for p in RUNS.glob("*/policy.safetensors"))
    if os.environ.get("SKILL_EMBEDDING_ALL_ROWS"):
        return rows
    first: dict[str, Path] = {}
    for row in rows:  # <experiment>_seed<s>: the lowest seed of each experiment
        first.setdefault(row.name.rsplit("_seed", 1)[0], row)
    # An arm row's evaluation (MuJoCo meshes, 200-step episodes) takes a minute or more here.
    return [row for row in first.values() if _suite(row) not in ARM_SUITES]


def _suite(row: Path) -> str:
    return yaml.safe_load((row / "config.yaml").read_text())["train"]["suite"]


@pytest.mark.parametrize("row", _rows(), ids=lambda p: p.name)
def test_a_committed_row_reevaluates_into_its_eval_json(row, tmp_path):
    assert main(["evaluate", str(row), "--out", str(tmp_path)]) == 0
    want = json.loads((row / "eval.json").read_text())
    got = json.loads((tmp_path / "eval.json").read_text())
    assert set(got) == set(want)
    for key in sorted(want):
        if key == "kl":  # float32 arithmetic: see kl_close
            assert kl_close(got[key], want[key]), (got[key], want[key])
        elif key != "checkpoint":  # where it was read from
            assert got[key] == want[key], key


def kl_close(got, want) -> bool:
    """KL between distant embeddings is a difference of large float32 terms, good to about a
    millionth of itself (reach_force_seed2: 158.17575 in float32, 158.17569 in float64), and
    eval.json rounds it to 4 decimals: the row's training process and a re-evaluation may land
    one rounding step apart (158.1757 and 158.1758 there; reach_tasks_seed3 the same). Equal
    to that precision; every other figure exactly."""
    got, want = np.asarray(got), np.asarray(want)
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= 1e-4 + 1e-6 * abs(want)))


def test_there_are_committed_rows():
    assert len(_rows()) >= 5, list(RUNS.iterdir())
