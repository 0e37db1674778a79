"""ROS 2 launch glue for launch/*.launch.py: a graph description (config/graphs) becomes one
DeclareLaunchArgument per graph argument (with the graph's description, so `ros2 launch ...
--show-args` documents them) and one launch_ros Node per node, so `ros2 launch` and
`skill-embedding launch` start the same graph and end it the same way (graph.ExitTracker).

Needs a ROS 2 install (launch, launch_ros); pip-only machines lack them, and nothing but the
launch files imports this module.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnShutdown
from launch.events import Shutdown
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from skill_embedding_ros.launch.compose import write_parameters
from skill_embedding_ros.launch.graph import Graph, NodeSpec, load_graph
from skill_embedding_ros.launch.graph_exit import ExitTracker

PACKAGE = "skill_embedding_ros"


def graph_path(name: str) -> Path:
    """Where setup.py installs config/graphs/<name>.yaml."""
    return Path(get_package_share_directory(PACKAGE)) / "config" / "graphs" / f"{name}.yaml"


def graph_launch_description(name: str) -> LaunchDescription:
    """The launch description of graph `name`: its arguments, then its nodes."""
    graph = load_graph(graph_path(name))
    arguments = [
        DeclareLaunchArgument(
            arg.name,
            default_value=arg.text(arg.default),
            description=arg.description,
            choices=[arg.text(c) for c in arg.choices] if arg.choices else None,
        )
        for arg in graph.arguments.values()
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes, args=[graph])])


def _nodes(context, graph: Graph) -> list:
    """Resolve the argument values (strings, as typed after `name:=`) into node actions."""
    values = {name: LaunchConfiguration(name).perform(context) for name in graph.arguments}
    specs = graph.resolve(values)
    tracker = ExitTracker(specs)
    actions: list = [
        RegisterEventHandler(OnShutdown(on_shutdown=lambda event, context: tracker.stop()))
    ]
    params_dir = tempfile.mkdtemp(prefix="skill_embedding_launch_")
    for spec in specs:
        if spec.members:  # compose:=true: no name (a __node remap would rename every member)
            path = write_parameters(spec, params_dir)
            actions.append(
                Node(
                    package=PACKAGE,
                    executable=spec.executable,
                    namespace=spec.namespace,
                    arguments=[m.executable for m in spec.members],
                    parameters=[str(path)],
                    output="screen",
                    on_exit=functools.partial(_on_exit, tracker, spec),
                )
            )
            continue
        actions.append(
            Node(
                package=PACKAGE,
                executable=spec.executable,
                name=spec.name,
                namespace=spec.namespace or None,
                # graph.resolve typed each value as the node declares it (1.0, not 1).
                parameters=[spec.parameters] if spec.parameters else None,
                output="screen",
                on_exit=functools.partial(_on_exit, tracker, spec),
            )
        )
    return actions


def _on_exit(tracker: ExitTracker, spec: NodeSpec, event, context) -> list | None:
    """A node process exited (event: launch.events.process.ProcessExited)."""
    if context.is_shutdown:
        tracker.stop()
    verdict = tracker.exited(spec, event.returncode)
    if verdict is None:
        return None
    log = LogInfo(msg=("" if verdict.code == 0 else "error: ") + verdict.message)
    if not verdict.end:
        return [log]
    return [log, EmitEvent(event=Shutdown(reason=verdict.message))]
