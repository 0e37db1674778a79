"""Graph descriptions, the launch files and `skill-embedding launch` argument handling, checked
statically: the launch files cannot run here (no `launch`/`launch_ros`), so they are parsed, and
their shared glue runs against small stand-ins for the launch API."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import runpy
import sys
import types
from pathlib import Path

import pytest

from skill_embedding_ros import cli
from skill_embedding_ros.launch.graph import (
    GRAPH_DIR,
    GraphError,
    config_class,
    find_graph,
    load_graph,
    parse_assignments,
)
from skill_embedding_ros.ros.executables import NODES, PARAMETERS
from skill_embedding_ros.settings.run import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
GRAPHS = sorted(GRAPH_DIR.glob("*.yaml"))
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return path


_MINIMAL = """
description: test graph
arguments:
  actors: {default: 1, description: actors}
  seed: {default: 0, description: base seed}
nodes:
  - executable: sim_bridge
    per_actor: true
    parameters: {seed: "{seed + i}"}
"""


# -- the shipped graphs ------------------------------------------------------------------------


def test_required_graphs_and_launch_files_exist():
    assert {"train_sim", "evaluate_sim"} <= {p.stem for p in GRAPHS}
    assert {"train_sim.launch.py", "evaluate_sim.launch.py"} <= {p.name for p in LAUNCH_FILES}


def test_parameter_mapping_covers_every_executable():
    assert set(PARAMETERS) == set(NODES)
    for executable in NODES:
        assert dataclasses.is_dataclass(config_class(executable))


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_graph_names_existing_nodes_parameters_and_configs(path):
    graph = load_graph(path)  # checks executables and parameter names against NODES/PARAMETERS
    for arg in graph.arguments.values():
        assert arg.description, f"{path}: argument {arg.name} has no description"
    for spec in graph.resolve({}):
        module, _ = NODES[spec.executable].split(":")
        source = REPO / (module.replace(".", "/") + ".py")
        assert source.is_file(), f"{path}: {spec.executable} -> {source} does not exist"
        # The node declares the parameters the graph was checked against.
        assert PARAMETERS[spec.executable] in source.read_text(), (
            f"{source} does not use {PARAMETERS[spec.executable]}"
        )
        if "config" in spec.parameters:
            run_config = spec.parameters["config"]
            assert (CONFIG_DIR / run_config).is_file(), f"{path}: no config/{run_config}"


def test_train_graph_resolves_namespaced_actor_sets():
    specs = load_graph(find_graph("train_sim")).resolve({"actors": "3", "run_dir": "runs/x"})
    per_actor = [s for s in specs if s.namespace]
    assert sorted((s.namespace, s.executable) for s in per_actor) == sorted(
        (f"actor_{i}", exe)
        for i in range(3)
        for exe in ("sim_bridge", "safety_gate", "skill_policy")
    )
    shared = sorted(s.executable for s in specs if not s.namespace)
    assert shared == ["learner", "replay_recorder"]
    by_label = {s.label: s for s in specs}
    assert [by_label[f"actor_{i}/skill_policy"].parameters["seed"] for i in range(3)] == [0, 1, 2]
    assert by_label["replay_recorder"].parameters["store"] == "runs/x/store"
    assert by_label["learner"].parameters["store"] == "runs/x/store"
    assert by_label["learner"].on_exit == "done"
    assert by_label["actor_0/sim_bridge"].parameters["mode"] == "lockstep"


def test_evaluate_graph_runs_policies_to_the_end():
    specs = load_graph(find_graph("evaluate_sim")).resolve(
        {"actors": "2", "episodes": "7", "checkpoint": "runs/a/checkpoint.safetensors"}
    )
    assert {s.executable for s in specs} == {"sim_bridge", "safety_gate", "skill_policy"}
    policies = [s for s in specs if s.executable == "skill_policy"]
    assert [s.on_exit for s in policies] == ["done", "done"]
    assert policies[1].parameters == {
        "checkpoint": "runs/a/checkpoint.safetensors",
        "mode": "evaluate",
        "episodes": 7,
        "seed": 1,
    }


@pytest.mark.parametrize(
    "name, args", [("train_sim", {}), ("evaluate_sim", {"checkpoint": "c.safetensors"})]
)
def test_sim_gates_take_their_limits_from_the_scene_and_step_as_the_bridge(name, args):
    # A gate tighter than the scene shrinks the arena the graph trains in, and the skills it
    # learns no longer match in-process training and evaluation (which only the scene limits):
    # so the graphs override no limit, and the gate reads the bridge's robot_description.
    specs = load_graph(find_graph(name)).resolve(args)
    gates = [s for s in specs if s.executable == "safety_gate"]
    bridges = [s for s in specs if s.executable == "sim_bridge"]
    assert gates and all(not s.parameters.get("limits") for s in gates)
    assert all(not s.parameters.get("robot_description") for s in gates)
    assert [s.parameters["stepping"] for s in gates] == [s.parameters["mode"] for s in bridges]


# -- the launch files --------------------------------------------------------------------------


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_an_existing_graph(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    assert ast.get_docstring(tree), f"{path} has no docstring"
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    graphs = [
        call.args[0].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "graph_launch_description"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    ]
    assert graphs, f"{path} does not call graph_launch_description('<graph>')"
    for name in graphs:
        assert (GRAPH_DIR / f"{name}.yaml").is_file(), f"{path}: no config/graphs/{name}.yaml"


class _Recorded:
    """Stands in for a launch action: keeps what it was built with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context):
        return context.launch_configurations[self.args[0]]


@pytest.fixture
def launch_api(monkeypatch):
    """Minimal stand-ins for launch, launch_ros and ament_index_python: enough to run the launch
    files' glue and look at the actions it builds (the real API is not installed here)."""
    names = {
        "launch.actions": [
            "DeclareLaunchArgument",
            "EmitEvent",
            "LogInfo",
            "OpaqueFunction",
            "RegisterEventHandler",
        ],
        "launch.event_handlers": ["OnShutdown"],
        "launch.events": ["Shutdown"],
        "launch.launch_description": ["LaunchDescription"],
        "launch_ros.actions": ["Node"],
    }
    for module in ("launch", "launch_ros", "ament_index_python"):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    for module, classes in names.items():
        stub = types.ModuleType(module)
        for name in classes:
            setattr(stub, name, type(name, (_Recorded,), {}))
        monkeypatch.setitem(sys.modules, module, stub)
    substitutions = types.ModuleType("launch.substitutions")
    substitutions.LaunchConfiguration = _LaunchConfiguration
    monkeypatch.setitem(sys.modules, "launch.substitutions", substitutions)
    packages = types.ModuleType("ament_index_python.packages")
    # The repo has the layout of the installed share directory (config/graphs/*.yaml).
    packages.get_package_share_directory = lambda package: str(REPO)
    monkeypatch.setitem(sys.modules, "ament_index_python.packages", packages)
    monkeypatch.delitem(sys.modules, "skill_embedding_ros.ros.launch_graph", raising=False)
    return importlib.import_module("skill_embedding_ros.ros.launch_graph")


def _run_launch_file(name: str, overrides: dict[str, str]):
    """generate_launch_description(), then what launch does: defaults + overrides -> nodes."""
    ld = runpy.run_path(str(REPO / "launch" / f"{name}.launch.py"))[
        "generate_launch_description"
    ]()
    entities = ld.args[0]
    declared = [e for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    values = {d.args[0]: d.kwargs["default_value"] for d in declared}
    context = types.SimpleNamespace(launch_configurations={**values, **overrides})
    context.is_shutdown = False
    actions = opaque.kwargs["function"](context, *opaque.kwargs["args"])
    nodes = [a for a in actions if type(a).__name__ == "Node"]
    return declared, nodes, context


@pytest.mark.parametrize("name", ["train_sim", "evaluate_sim"])
def test_launch_file_declares_every_graph_argument(launch_api, name):
    graph = load_graph(find_graph(name))
    declared, nodes, _ = _run_launch_file(name, {})
    assert [d.args[0] for d in declared] == list(graph.arguments)
    for d in declared:
        arg = graph.arguments[d.args[0]]
        assert d.kwargs["description"] == arg.description
        assert d.kwargs["default_value"] == arg.text(arg.default)
        if arg.choices:
            assert d.kwargs["default_value"] in d.kwargs["choices"]
    specs = graph.resolve({})
    assert [(n.kwargs["executable"], n.kwargs["name"]) for n in nodes] == [
        (s.executable, s.name) for s in specs
    ]
    for node, spec in zip(nodes, specs, strict=True):
        assert node.kwargs["package"] == "skill_embedding_ros"
        assert node.kwargs["namespace"] == (spec.namespace or None)
        assert node.kwargs["parameters"] == ([spec.parameters] if spec.parameters else None)
        assert node.kwargs["output"] == "screen"


def test_launch_file_ends_the_graph_like_the_launcher(launch_api):
    _, nodes, context = _run_launch_file("evaluate_sim", {"actors": "2"})
    assert len(nodes) == 6
    policies = [n for n in nodes if n.kwargs["executable"] == "skill_policy"]
    exited = types.SimpleNamespace(returncode=0)
    first = policies[0].kwargs["on_exit"](exited, context)
    assert [type(a).__name__ for a in first] == ["LogInfo"]
    last = policies[1].kwargs["on_exit"](exited, context)
    assert [type(a).__name__ for a in last] == ["LogInfo", "EmitEvent"]

    _, nodes, context = _run_launch_file("train_sim", {"actors": "3"})
    assert len(nodes) == 11
    bridge = nodes[0]
    actions = bridge.kwargs["on_exit"](types.SimpleNamespace(returncode=3), context)
    shutdown = actions[-1].kwargs["event"]
    assert "actor_0/sim_bridge" in shutdown.kwargs["reason"]
    assert "exited with code 3" in shutdown.kwargs["reason"]
    context.is_shutdown = True  # Ctrl-C: every exit from now on is expected
    assert nodes[1].kwargs["on_exit"](types.SimpleNamespace(returncode=-2), context) is None


# -- errors that name the file, the key and what is allowed ------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("nodes: [\n  - executable: sim_bridge\n", "not valid YAML"),
        ("description: x\nnodes: []\nextra: 1\n", "unknown key(s) ['extra']"),
        ("description: x\nnodes: [{executable: nope}]\n", "unknown executable 'nope'"),
        (
            "description: x\nnodes: [{executable: safety_gate, parameters: {sed: 1}}]\n",
            "unknown parameter(s) ['sed'] for safety_gate",
        ),
        (
            "description: x\nnodes: [{executable: safety_gate, respawn: true}]\n",
            "nodes[0]: unknown key(s) ['respawn']",
        ),
        ("description: x\narguments: {a: {default: 1}}\nnodes: []\n", "missing key(s)"),
        (
            "description: x\nnodes: [{executable: sim_bridge, per_actor: true}]\n",
            "needs an int argument `actors`",
        ),
        (
            "description: x\nnodes: [{executable: sim_bridge, parameters: {seed: '{sed}'}}]\n",
            "unknown name 'sed'",
        ),
        (
            "description: x\nnodes: [{executable: sim_bridge, parameters: {seed: abc}}]\n",
            "(sim_bridge): parameters.seed: expected int, got 'abc'",
        ),
        (
            "description: x\nnodes: [{executable: sim_bridge, parameters: {mode: fast}}]\n",
            "mode must be 'lockstep' or 'realtime'",
        ),
        (
            "description: x\nnodes: [{executable: sim_bridge, parameters: {publish_clock: 1}}]\n",
            "parameters.publish_clock: expected a bool, got 1",
        ),
        (
            "description: x\nnodes: [{executable: safety_gate}, {executable: safety_gate}]\n",
            "two nodes are safety_gate; set `name:` on one",
        ),
        (
            "description: x\nnodes: [{executable: sim_bridge, on_exit: restart}]\n",
            "'restart' is not one of ['error', 'done']",
        ),
    ],
)
def test_bad_graph_files_give_clear_errors(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(GraphError) as err:
        load_graph(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_unknown_key_error_lists_the_allowed_keys(tmp_path):
    with pytest.raises(GraphError, match=r"allowed: \['executable', 'name', 'namespace'"):
        load_graph(_write(tmp_path, "description: x\nnodes: [{executable: sim_bridge, x: 1}]\n"))


def test_arguments_convert_and_substitute(tmp_path):
    graph = load_graph(_write(tmp_path, _MINIMAL))
    specs = graph.resolve({"actors": "2", "seed": "10"})
    assert [(s.label, s.parameters) for s in specs] == [
        ("actor_0/sim_bridge", {"seed": 10}),
        ("actor_1/sim_bridge", {"seed": 11}),
    ]
    with pytest.raises(GraphError, match=r"unknown argument\(s\) \['sed'\].*'actors', 'seed'"):
        graph.resolve({"sed": "1"})
    with pytest.raises(GraphError, match="argument actors: expected int, got 'two'"):
        graph.resolve({"actors": "two"})
    with pytest.raises(GraphError, match="actors: must be >= 1"):
        graph.resolve({"actors": "0"})


def test_parameters_are_typed_as_the_node_declares_them(tmp_path):
    graph = load_graph(
        _write(
            tmp_path,
            "description: x\narguments: {dir: {default: runs/a, description: d}}\n"
            "nodes:\n  - executable: safety_gate\n    parameters: {state_latency: 2}\n"
            "  - executable: learner\n    parameters: {out: '{dir}/sub', store: '{dir}'}\n",
        )
    )
    gate, learner = graph.resolve({"dir": "/tmp/r"})
    assert gate.parameters == {"state_latency": 2.0}
    assert type(gate.parameters["state_latency"]) is float  # rcl rejects an int for a double
    assert learner.parameters == {"out": "/tmp/r/sub", "store": "/tmp/r"}


def test_assignments_use_the_ros2_launch_syntax():
    assert parse_assignments(["actors:=4", "run_dir:=a:=b", "x:="]) == {
        "actors": "4",
        "run_dir": "a:=b",
        "x": "",
    }
    with pytest.raises(GraphError, match="expected name:=value, got 'actors=4'"):
        parse_assignments(["actors=4"])


def test_cli_describe_and_list(capsys):
    assert cli.main(["launch", "train_sim", "actors:=3", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "actors (int, default 2)" in out
    assert "actor_2/skill_policy" in out and "actor_3" not in out
    assert cli.main(["launch", "--list"]) == 0
    assert "train_sim" in capsys.readouterr().out


def test_cli_rejects_unknown_arguments_and_graphs(capsys):
    assert cli.main(["launch", "train_sim", "actor:=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown argument(s) ['actor']" in err and "'actors'" in err
    assert cli.main(["launch", "no_such_graph"]) == 2
    assert "no graph 'no_such_graph'" in capsys.readouterr().err
