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
    _check_run(name, arguments, result.stdout + result.stderr)


def test_composed_actors_run_under_ros2_launch(tmp_path):
    """compose:=true through launch_ros: one actor_container per actor, whose nodes read their
    parameters from the file the launch file writes, and the evaluation ends the graph."""
    checkpoint = untrained_checkpoint("reach_bernoulli.yaml", tmp_path / "reach.safetensors")
    arguments = [f"checkpoint:={checkpoint}", "episodes:=2", "actors:=2", "compose:=true"]
    result = subprocess.run(
        [str(TOOL), "evaluate_sim", "25", *arguments],
        cwd=REPO,
        env=ros_env(fresh_domain()),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    _check_run("evaluate_sim", arguments, out)
    for i in (0, 1):  # each policy ran its episodes, under its own namespace and name
        assert f"[actor_{i}.skill_policy]: episode 1 " in out, out[-5000:]


def _check_run(name: str, arguments: list[str], out: str) -> None:
    """The launch ended with return code 0 after starting every process the graph resolves to."""
    assert out.rstrip().endswith("LAUNCH RC 0"), out[-5000:]
    started = re.findall(r"\[INFO\] \[([a-z_]+)-\d+\]: process started", out)
    values = dict(a.split(":=", 1) for a in arguments)
    wanted = [s.executable for s in load_graph(find_graph(name)).resolve(values)]
    assert sorted(started) == sorted(wanted), out[-5000:]
