"""Graph descriptions (config/graphs/*.yaml): which nodes a graph runs, where, with which
parameters. ROS-free, and the one source of truth for both the pip launcher
(`skill-embedding launch`) and the ROS 2 launch files (launch/*.launch.py).

The format (docs/launching.md shows a whole file):

    description: what the graph does (shown by --describe and ros2 launch --show-args)
    arguments:                  # what `name:=value` may set on the command line
      <name>:
        default: 2              # its YAML type (int, float, bool, str) is the argument's type
        description: ...        # required: every argument says what it is for
        choices: [a, b]         # optional
    nodes:
      - executable: sim_bridge  # a key of ros/executables.py NODES
        name: sim_bridge        # optional; default: the executable
        per_actor: true         # optional: one copy per actor i = 0..actors-1, in namespace
                                #   actor_<i> (the graph must have an int argument `actors`)
        namespace: tools        # optional, shared nodes only; default: the root namespace
        on_exit: done           # optional: error (default) or done, see launch/graph_exit.py
        when: {mode: explore}   # optional: only when each named argument has that value
        parameters:             # fields of the executable's config dataclass (PARAMETERS)
          seed: "{seed + i}"

Substitution: `{...}` in a parameter value (or a list item) is an expression over the arguments,
`i` (the actor index, per-actor nodes only), integers and + - *. A value that is exactly one
`{...}` keeps the expression's type (`"{seed + i}"` is an int); otherwise the results are
formatted into the string (`"{run_dir}/store"`). Values cannot hold literal braces.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from skill_embedding_ros.launch.agreement import check_agreement, suite_facts
from skill_embedding_ros.launch.expressions import GraphError, substitute, text
from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.ros.executables import NODES, PARAMETERS
from skill_embedding_ros.settings import nodes as node_configs
from skill_embedding_ros.settings.base import from_dict

GRAPH_DIR = data_dir("config") / "graphs"

ON_EXIT = {
    "error": "runs until the graph stops; exiting on its own fails the graph",
    "done": "finishes its work; the graph ends (exit 0) once every `done` node has exited 0",
}
ACTOR_NAMESPACE = "actor_{i}"
_GRAPH_KEYS = ("description", "arguments", "nodes")
_ARGUMENT_KEYS = ("default", "description", "choices")
_NODE_KEYS = ("executable", "name", "namespace", "per_actor", "on_exit", "when", "parameters")
_ARGUMENT_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Argument:
    name: str
    default: bool | int | float | str
    description: str
    choices: tuple | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    def text(self, value: Any) -> str:
        """How the value is written on a command line (`name:=<text>`)."""
        return text(value)

    def convert(self, raw: Any) -> bool | int | float | str:
        """A command-line string (or a Python value) -> a value of this argument's type."""
        kind = self.type
        try:
            if not isinstance(raw, str):
                if kind is float and type(raw) is int:
                    raw = float(raw)
                if type(raw) is not kind:
                    raise ValueError
                value = raw
            elif kind is bool:
                # The spellings launch's conditions accept.
                value = {"true": True, "1": True, "false": False, "0": False}[raw.lower()]
            else:
                value = kind(raw)
        except (KeyError, ValueError):
            raise GraphError(
                f"argument {self.name}: expected {kind.__name__}, got {raw!r}"
            ) from None
        if self.choices is not None and value not in self.choices:
            raise GraphError(f"argument {self.name}: {value!r} is not one of {list(self.choices)}")
        return value


@dataclass(frozen=True)
class NodeSpec:
    """One node process of a resolved graph."""

    executable: str
    name: str
    namespace: str
    """Without slashes: "actor_0", or "" for the root namespace."""
    parameters: dict[str, Any]
    """Typed as the config dataclass declares them (tuples as lists)."""
    on_exit: str = "error"
    members: tuple[NodeSpec, ...] = ()
    """A container's nodes, run in its one process (launch/compose.py); empty for a node."""

    @property
    def label(self) -> str:
        """What the launcher prefixes its log lines with: "actor_0/sim_bridge"."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def config_class(executable: str) -> type:
    """The config dataclass whose fields are `executable`'s parameters."""
    return getattr(node_configs, PARAMETERS[executable])


def list_graphs() -> dict[str, str]:
    """Graph names under config/graphs -> the first line of their description."""
    graphs = {}
    for path in sorted(GRAPH_DIR.glob("*.yaml")):
        try:
            graphs[path.stem] = load_graph(path).description.strip().splitlines()[0]
        except (GraphError, IndexError) as err:
            graphs[path.stem] = f"(invalid: {err})"
    return graphs


def find_graph(name_or_path: str | Path) -> Path:
    """A path to a graph file, or the name of one under config/graphs."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = GRAPH_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in GRAPH_DIR.glob("*.yaml"))
    raise GraphError(f"no graph {str(name_or_path)!r}: not a file, and not one of {known}")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """ros2-launch-style `name:=value` items -> {name: value} (a later item wins)."""
    values = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise GraphError(f"expected name:=value, got {item!r}")
        values[name] = value
    return values


@dataclass
class Graph:
    path: Path
    description: str
    arguments: dict[str, Argument]
    nodes: list[dict]
    """The checked node entries of the file, before substitution."""

    @property
    def name(self) -> str:
        return self.path.stem

    def resolve(self, values: Mapping[str, Any]) -> list[NodeSpec]:
        """Argument values (strings as on a command line, or typed) -> the nodes to start."""
        unknown = sorted(set(values) - set(self.arguments))
        if unknown:
            raise GraphError(
                f"graph {self.name}: unknown argument(s) {unknown}; "
                f"arguments: {sorted(self.arguments)}"
            )
        scope = {
            name: arg.convert(values[name]) if name in values else arg.default
            for name, arg in self.arguments.items()
        }
        if "actors" in scope and scope["actors"] < 1:
            raise GraphError(f"argument actors: must be >= 1, got {scope['actors']}")
        specs = []
        for index, node in enumerate(self.nodes):
            where = f"{self.path}: nodes[{index}] ({node['executable']})"
            when = node.get("when") or {}
            if any(scope[name] != self.arguments[name].convert(v) for name, v in when.items()):
                continue
            if node.get("per_actor"):
                for i in range(scope["actors"]):
                    ns = ACTOR_NAMESPACE.format(i=i)
                    specs.append(self._spec(node, ns, {**scope, "i": i}, where))
            else:
                specs.append(self._spec(node, node.get("namespace", "").strip("/"), scope, where))
        seen = set()
        for spec in specs:
            if spec.label in seen:
                raise GraphError(f"{self.path}: two nodes are {spec.label}; set `name:` on one")
            seen.add(spec.label)
        try:
            check_agreement(specs)
        except ValueError as err:
            raise GraphError(f"graph {self.name}: {err}") from None
        if scope.get("compose"):
            from skill_embedding_ros.launch.compose import compose  # it imports NodeSpec

            specs = compose(specs)
        return specs

    def _spec(self, node: dict, namespace: str, scope: dict, where: str) -> NodeSpec:
        executable = node["executable"]
        raw = {
            key: substitute(value, scope, f"{where}.parameters.{key}")
            for key, value in (node.get("parameters") or {}).items()
        }
        try:  # `auto`: the suite's own value (launch/agreement.py)
            raw = suite_facts(executable, raw, scope.get("suite"))
        except ValueError as err:
            raise GraphError(f"{where}: {err}") from None
        # Type the values as the node declares them: a ROS parameter declared as a double
        # rejects an integer override, so 1 must travel as 1.0.
        try:
            typed = from_dict(config_class(executable), raw, "parameters")
        except (TypeError, ValueError) as err:
            raise GraphError(f"{where}: {err}") from None
        parameters = {}
        for key in raw:
            value = getattr(typed, key)
            if isinstance(getattr(config_class(executable)(), key), bool) != isinstance(
                value, bool
            ):
                raise GraphError(f"{where}: parameters.{key}: expected a bool, got {value!r}")
            parameters[key] = list(value) if isinstance(value, tuple) else value
        return NodeSpec(
            executable=executable,
            name=node.get("name", executable),
            namespace=namespace,
            parameters=parameters,
            on_exit=node.get("on_exit", "error"),
        )

    def describe(self, values: Mapping[str, Any] | None = None) -> str:
        """Human-readable: description, arguments and the nodes they resolve to."""
        lines = [f"graph {self.name} ({self.path})", ""]
        for paragraph in self.description.strip().split("\n"):
            lines += [textwrap.fill(paragraph, 99), ""] if paragraph.strip() else []
        lines.append("arguments (name:=value):")
        for arg in self.arguments.values():
            choices = f", one of {list(arg.choices)}" if arg.choices else ""
            lines.append(
                f"  {arg.name} ({arg.type.__name__}, default {arg.text(arg.default)}{choices})"
            )
            lines.append(
                textwrap.fill(
                    arg.description, 99, initial_indent=" " * 6, subsequent_indent=" " * 6
                )
            )
        lines += ["", "nodes:"]
        for spec in self.resolve(values or {}):
            lines.append(f"  {spec.label:<28} {spec.executable:<16} on_exit={spec.on_exit}")
            for node in spec.members or (spec,):
                params = " ".join(f"{k}:={v}" for k, v in node.parameters.items())
                head = f"{node.name}: " if spec.members else ""
                lines += [f"      {head}{params}"] if params or head else []
        return "\n".join(lines)


def load_graph(path: str | Path) -> Graph:
    """Read and check a graph file; every error names the file and the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise GraphError(f"{path}: not valid YAML: {err}") from None
    _check_mapping(data, f"{path}", _GRAPH_KEYS, required=("description", "nodes"))
    if not isinstance(data["description"], str) or not data["description"].strip():
        raise GraphError(f"{path}: description: must be a non-empty string")
    arguments = _load_arguments(path, data.get("arguments") or {})
    nodes = data["nodes"]
    if not isinstance(nodes, list) or not nodes:
        raise GraphError(f"{path}: nodes: must be a non-empty list of nodes")
    for index, node in enumerate(nodes):
        _check_node(path, index, node, arguments)
    graph = Graph(path, data["description"], arguments, nodes)
    graph.resolve({})  # the defaults must resolve: catches bad substitutions and values now
    return graph


def _check_mapping(data: Any, where: str, allowed: tuple, required: tuple = ()) -> None:
    if not isinstance(data, dict):
        raise GraphError(f"{where}: expected a mapping with keys {list(allowed)}, got {data!r}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise GraphError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise GraphError(f"{where}: missing key(s) {missing}")


def _load_arguments(path: Path, data: Any) -> dict[str, Argument]:
    if not isinstance(data, dict):
        raise GraphError(f"{path}: arguments: expected a mapping of name -> argument")
    arguments = {}
    for name, entry in data.items():
        where = f"{path}: arguments.{name}"
        if not isinstance(name, str) or not name.isidentifier() or name == "i":
            raise GraphError(f"{where}: names must be identifiers other than i (the actor index)")
        _check_mapping(entry, where, _ARGUMENT_KEYS, required=("default", "description"))
        default = entry["default"]
        if type(default) not in _ARGUMENT_TYPES:
            raise GraphError(f"{where}.default: must be a bool, int, float or string")
        description = entry["description"]
        if not isinstance(description, str) or not description.strip():
            raise GraphError(f"{where}.description: every argument needs a description")
        choices = entry.get("choices")
        if choices is not None:
            if not isinstance(choices, list) or default not in choices:
                raise GraphError(f"{where}.choices: must be a list that holds the default")
            choices = tuple(choices)
        arguments[name] = Argument(name, default, " ".join(description.split()), choices)
    return arguments


def _check_node(path: Path, index: int, node: Any, arguments: dict[str, Argument]) -> None:
    where = f"{path}: nodes[{index}]"
    _check_mapping(node, where, _NODE_KEYS, required=("executable",))
    executable = node["executable"]
    if executable not in NODES:
        raise GraphError(
            f"{where}.executable: unknown executable {executable!r}; known: {sorted(NODES)}"
        )
    where = f"{where} ({executable})"
    on_exit = node.get("on_exit", "error")
    if on_exit not in ON_EXIT:
        raise GraphError(f"{where}.on_exit: {on_exit!r} is not one of {list(ON_EXIT)}")
    if not isinstance(node.get("per_actor", False), bool):
        raise GraphError(f"{where}.per_actor: must be true or false")
    if node.get("per_actor"):
        if "namespace" in node:
            raise GraphError(f"{where}.namespace: per-actor nodes live in {ACTOR_NAMESPACE}")
        if "actors" not in arguments or arguments["actors"].type is not int:
            raise GraphError(f"{where}.per_actor: the graph needs an int argument `actors`")
    when = node.get("when") or {}
    if not isinstance(when, dict) or not set(when) <= set(arguments):
        raise GraphError(f"{where}.when: expected a mapping of argument names -> values")
    for name, value in when.items():
        arguments[name].convert(value)  # a value the argument can take, else GraphError
    if not isinstance(node.get("namespace", ""), str):
        raise GraphError(f"{where}.namespace: must be a string")
    name = node.get("name", executable)
    if not isinstance(name, str) or not name.isidentifier():
        raise GraphError(f"{where}.name: {name!r} is not a valid node name")
    parameters = node.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise GraphError(f"{where}.parameters: expected a mapping of parameter -> value")
    fields = [f.name for f in dataclasses.fields(config_class(executable))]
    unknown = sorted(set(parameters) - set(fields))
    if unknown:
        raise GraphError(
            f"{where}.parameters: unknown parameter(s) {unknown} for {executable} "
            f"({PARAMETERS[executable]}); allowed: {fields}"
        )
