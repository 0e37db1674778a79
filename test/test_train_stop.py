"""Ctrl-C or SIGTERM during `skill-embedding train` (a real process and signal): the run stops
after the step or update under way, writes its checkpoint as at the end (hours of an arm run are
not lost), skips the evaluation, says how to go on and exits as a shell reports the signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from skill_embedding_ros.agent.checkpoint import read_checkpoint
from skill_embedding_ros.ros.processes import REPO

BUDGET = 10_000_000


@pytest.mark.parametrize(("signum", "actor_processes"), [(signal.SIGINT, 0), (signal.SIGTERM, 2)])
def test_a_stopped_run_keeps_its_checkpoint(tmp_path, signum, actor_processes):
    out = tmp_path / "run"
    sets = {
        "train.env_steps": BUDGET,
        "train.warmup_steps": 300,
        "train.log_every": 100,
        "train.actor_processes": actor_processes,
        "agent.hidden": "[8]",
        "agent.critic_hidden": "[8]",
    }
    cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "train", "--quiet", "--out", str(out)]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    progress = out / "progress.jsonl"
    deadline = time.monotonic() + 120
    try:
        while not (progress.is_file() and '"losses/critic"' in progress.read_text()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no update within 120 s"
            time.sleep(0.2)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stderr, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_by"] == signum.name and 300 < summary["env_steps"] < BUDGET
    _, meta = read_checkpoint(out / "checkpoint.safetensors")
    assert meta["env_steps"] == summary["env_steps"]
    assert f"--start-from {out / 'checkpoint.safetensors'}" in stdout
    assert not (out / "eval.json").exists()
