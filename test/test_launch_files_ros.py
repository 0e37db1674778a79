"""Every launch file under the real ROS 2 launch system, not only under the pip launcher:
../shared/tools/ros2-launch installs the committed package into a throw-away prefix (as colcon
would) and runs launch/<name>.launch.py with launch's own LaunchService (launch and launch_ros
vendored in ../shared/vendor), then shuts it down as Ctrl-C would. Each graph must start every
node it describes and end with return code 0. deploy_hw runs against the hardware emulator,
started beside it as a vendor's stack would be."""

from __future__ import annotations

import re
import subprocess

import pytest

from skill_embedding_ros.launch.graph import find_graph, load_graph
from skill_embedding_ros.ros.processes import REPO, fresh_domain, ros_env, start_node, stop
from skill_embedding_ros.testing.checkpoints import untrained_checkpoint

TOOL = REPO.parent / "shared" / "tools" / "ros2-launch"
pytestmark = pytest.mark.skipif(
    not TOOL.exists(), reason=f"no {TOOL} (the vendored ROS 2 launch system) next to the repo"
)
LAUNCH_FILES = sorted(p.name.removesuffix(".launch.py") for p in (REPO / "launch").glob("*.py"))


def _arguments(name: str, tmp_path) -> tuple[list[str], float]:
    """Command-line arguments and seconds to run for each launch file."""
    if name == "train_sim":
        return ["actors:=1", f"run_dir:={tmp_path / 'run'}"], 25
    if name == "evaluate_sim":
        checkpoint = untrained_checkpoint("reach_bernoulli.yaml", tmp_path / "reach.safetensors")
        return [f"checkpoint:={checkpoint}", "episodes:=2"], 25
    checkpoint = untrained_checkpoint("jaco_velocity_smoke.yaml", tmp_path / "jaco.safetensors")
    return [f"checkpoint:={checkpoint}", "trials:=1", f"run_dir:={tmp_path / 'run'}"], 25


def test_every_launch_file_is_tested():
    assert LAUNCH_FILES == ["deploy_emulated", "deploy_hw", "evaluate_sim", "train_sim"]


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_file_runs_under_ros2_launch(name, tmp_path):
    domain = fresh_domain()
    arguments, seconds = _arguments(name, tmp_path)
    beside = None
    if name == "deploy_hw":  # the arm's side: the emulator (its poses off: the graph has its own)
        beside = start_node("arm_emulator", domain, tmp_path, params={"object_namespace": ""})
    try:
        result = subprocess.run(
            [str(TOOL), name, str(seconds), *arguments],
            cwd=REPO,
            env=ros_env(domain),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        if beside is not None:
            stop(beside)
    out = result.stdout + result.stderr
    assert out.rstrip().endswith("LAUNCH RC 0"), out[-5000:]
    started = re.findall(r"\[INFO\] \[([a-z_]+)-\d+\]: process started", out)
    values = dict(a.split(":=", 1) for a in arguments)
    wanted = [s.executable for s in load_graph(find_graph(name)).resolve(values)]
    assert sorted(started) == sorted(wanted), out[-5000:]
