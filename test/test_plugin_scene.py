"""A scene the package has never heard of (test/plugins/rail_suite.py: other joints, an object
pose, a 7-D observation from a stateful observer, non-region tasks) runs through all three paths
by its name alone: in-process training and evaluation, the ROS 2 training graph, and bag
ingestion of robot topics. No package file names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from skill_embedding_ros.cli import main
from skill_embedding_ros.data.replay_store import StoreReader
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, ros_env
from skill_embedding_ros.tasks.registry import get_suite
from skill_embedding_ros.testing.bags import (
    expected_episodes,
    robot_demos,
    robot_messages,
    write_messages,
)
from skill_embedding_ros.testing.episodes import assert_same_episode

SUITE_NAME = f"{Path(__file__).parent / 'plugins' / 'rail_suite.py'}:SUITE"
CONFIG = """
agent: {hidden: [32, 32], critic_hidden: [32, 32], history: 2}
replay: {capacity: 5000, batch: 8, segment: 5}
train: {suite: "%s", tasks: [right, left], env_steps: %d, warmup_steps: 100, log_every: 100,
        envs_per_actor: 2}
"""


def write_config(tmp_path: Path, env_steps: int) -> Path:
    path = tmp_path / "rail.yaml"
    path.write_text(CONFIG % (SUITE_NAME, env_steps))
    return path


def test_the_plugin_is_not_named_by_the_package():
    package = Path(REPO) / "skill_embedding_ros"
    # The plug-in's own identifiers (the Jaco's paper tasks rail_lift and rail_push and its rail
    # prop are another thing of the same name).
    names = ("rail_suite", "railscene", "railsuite", "railobserver", "puck", "paddle")
    hits = [
        p.name for p in package.rglob("*.py") if any(n in p.read_text().lower() for n in names)
    ]
    assert not hits, hits


def test_in_process_training_and_evaluation(tmp_path, capsys):
    config = write_config(tmp_path, 400)
    out = tmp_path / "run"
    train = ["train", "--config", str(config), "--out", str(out), "--quiet", "--no-eval"]
    assert main(train) == 0
    assert (out / "checkpoint.safetensors").is_file()
    rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] >= 400 and "charts/success_task1" in rows[-1]
    assert main(["evaluate", str(out), "--episodes", "4"]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert [t["task"] for t in report["per_task"]] == ["right", "left"]
    assert (out / "eval.png").stat().st_size > 0


def test_bag_of_robot_topics_is_ingested(tmp_path):
    suite = get_suite(SUITE_NAME)

    def bat_right(obs, rng):
        """Carriage right, past its speed limit (the ingester clips); paddle waving."""
        return np.array([1.2, 2.0 * np.sin(10 * obs[1] + 1)]) + rng.normal(0, 0.1, 2)

    demos = robot_demos(suite, 2, bat_right, seed=3)
    bag = tmp_path / "demo_bag"
    write_messages(bag, robot_messages(suite, demos))
    store = tmp_path / "store"
    config = write_config(tmp_path, 400)
    args = ["ingest", str(bag), "--into", str(store), "--config", str(config)]
    assert main([*args, "--task", "right", "--quiet"]) == 0
    got = StoreReader(store).new_episodes()
    want = expected_episodes(suite, demos, "right", 0)
    assert len(got) == 2
    for g, w in zip(got, want, strict=True):
        assert_same_episode(g, w)
    # The observer's puck velocity (from pose stamps) came through the bag intact.
    assert np.abs(got[0].obs[1:, 6]).max() > 0


def test_training_graph(tmp_path):
    domain = fresh_domain()
    run_dir = tmp_path / "run"
    probe = Probe(domain)  # keeps the domain's discovery warm, as the other graph tests do
    cmd = [
        sys.executable,
        "-m",
        "skill_embedding_ros.cli",
        "launch",
        "train_sim",
        "actors:=1",
        f"suite:={SUITE_NAME}",
        # No interface:= or period:=: the launcher takes the plug-in's own (launch/agreement.py).
        f"config:={write_config(tmp_path, 300)}",
        f"run_dir:={run_dir}",
    ]
    try:
        result = subprocess.run(
            cmd, env=ros_env(domain), cwd=REPO, capture_output=True, text=True, timeout=150
        )
    finally:
        probe.close()
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    episodes = StoreReader(run_dir / "store").new_episodes()
    assert sum(len(e) for e in episodes) >= 300
    assert all(len(e) == 20 and e.obs.shape[1] == 7 for e in episodes)
    assert {e.task for e in episodes} == {0, 1}
