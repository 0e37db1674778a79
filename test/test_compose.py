"""Composed actors (launch/compose.py), ROS-free: `compose:=true` turns each actor's bridge,
gate and policy into one actor_container process with the same parameters, ends the graph's
wait as its members would, writes the parameters file the container reads, and is refused
with a keystore. test_graph_ros.py runs a composed graph over DDS."""

from __future__ import annotations

from pathlib import Path

import yaml

from skill_embedding_ros.launch.compose import compose, container_parameters
from skill_embedding_ros.launch.graph import find_graph, load_graph
from skill_embedding_ros.launch.launcher import launch, node_command
from skill_embedding_ros.ros.executables import COMPOSABLE


def _resolve(name: str, **values):
    return load_graph(find_graph(name)).resolve({k: str(v) for k, v in values.items()})


def test_each_actor_becomes_one_process_with_its_nodes_parameters():
    plain = _resolve("train_sim", actors=2, seed=3)
    composed = _resolve("train_sim", actors=2, seed=3, compose="true")
    assert [s.label for s in composed] == [
        "actor_0/actor", "actor_1/actor", "replay_recorder", "learner"
    ]  # fmt: skip
    by_label = {s.label: s for s in plain}
    for container in composed[:2]:
        assert container.executable == "actor_container" and container.on_exit == "error"
        assert [m.executable for m in container.members] == list(COMPOSABLE)
        for member in container.members:
            assert member == by_label[member.label]  # the very specs of the plain graph
    assert composed[2:] == plain[-2:]
    assert compose(plain) == composed


def test_a_finishing_member_finishes_its_container():
    evaluation = _resolve("evaluate_sim", compose="true", checkpoint="x.safetensors")
    (container,) = evaluation
    assert container.on_exit == "done"  # the evaluating policy ends the graph


def test_the_parameters_file_holds_each_member_under_its_full_name(tmp_path):
    container = _resolve("train_sim", actors=1, compose="true", seed=2)[0]
    argv = node_command(container, params_dir=str(tmp_path))
    assert argv[argv.index("--ros-args") - 3 : argv.index("--ros-args")] == list(COMPOSABLE)
    assert argv[argv.index("-r") + 1] == "__ns:=/actor_0"
    written = yaml.safe_load(Path(argv[argv.index("--params-file") + 1]).read_text())
    assert written == container_parameters(container)
    assert written["/actor_0/sim_bridge"]["ros__parameters"]["seed"] == 2000
    assert set(written) == {"/actor_0/sim_bridge", "/actor_0/safety_gate", "/actor_0/skill_policy"}


def test_compose_is_refused_with_a_keystore(tmp_path, capsys):
    code = launch("train_sim", ["compose:=true"], False, False, keystore=str(tmp_path))
    assert code == 2
    assert "compose:=true" in capsys.readouterr().err
