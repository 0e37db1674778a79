"""scripts/transfer_critic_check.py: the discounted returns it compares with, and a run on a
transfer checkpoint as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skill_embedding_ros.transfer.model import build_model
from skill_embedding_ros.transfer.train import CHECKPOINT, TransferRun
from test.script_modules import load_script
from test.test_transfer import SUITE, _cfg, _skills

REPO = Path(__file__).resolve().parents[1]


def _script():
    return load_script("transfer_critic_check")


def test_returns_to_go_against_a_loop():
    blocks = np.random.default_rng(0).normal(size=(3, 6))
    got = _script().discounted_to_go(blocks, 0.5)
    for j in range(6):
        want = sum(0.5**i * blocks[:, j + i] for i in range(6 - j))
        assert got[:, j] == pytest.approx(want)


def test_a_checkpoint_is_checked(tmp_path):
    model = build_model(_skills(), SUITE, "between", _cfg(env_steps=200, eval_every=0))
    TransferRun(model, tmp_path).run()
    out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, "scripts/transfer_critic_check.py", str(tmp_path / CHECKPOINT),
         "--episodes", "3", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["env_steps"] == 200 and [s["decision"] for s in report["steps"]] == [0, 1, 2]
    assert all(np.isfinite(s["q_mean"]) and np.isfinite(s["return_mean"]) for s in report["steps"])
