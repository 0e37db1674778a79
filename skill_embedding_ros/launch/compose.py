"""Composed actors (`compose:=true` on the sim graphs): each actor's own nodes, the bridge, the
gate and the policy, run in one `actor_container` process (ros/container.py) instead of one
process each, with the same names, namespaces, parameters and topics. ROS-free: both launchers
call it on a resolved graph, and `container_parameters` is the parameters file they write.

One process is one DDS participant, so a keystore (one enclave per node) is refused with it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from skill_embedding_ros.launch.graph import NodeSpec
from skill_embedding_ros.ros.executables import COMPOSABLE, CONTAINER

CONTAINER_NAME = "actor"
"""The container's own label within its namespace: "actor_0/actor"."""


def compose(specs: list[NodeSpec]) -> list[NodeSpec]:
    """Per namespace, its composable nodes become one container spec, placed where the first
    of them was; other nodes stay as they are. The container ends the graph's wait when a
    member would (on_exit "done", e.g. the evaluating policy)."""
    groups: dict[str, list[NodeSpec]] = {}
    for spec in specs:
        if _composable(spec):
            groups.setdefault(spec.namespace, []).append(spec)
    out = []
    for spec in specs:
        if not _composable(spec):
            out.append(spec)
        elif spec is groups[spec.namespace][0]:
            members = groups[spec.namespace]
            done = any(m.on_exit == "done" for m in members)
            container = NodeSpec(
                executable=next(iter(CONTAINER)),
                name=CONTAINER_NAME,
                namespace=spec.namespace,
                parameters={},
                on_exit="done" if done else "error",
                members=tuple(members),
            )
            out.append(container)
    return out


def _composable(spec: NodeSpec) -> bool:
    """An actor's own node under its class's name (the container builds it by class)."""
    return bool(spec.namespace) and spec.executable in COMPOSABLE and spec.name == spec.executable


def container_parameters(spec: NodeSpec) -> dict:
    """A ROS 2 parameters file's content for a container's members, one section each keyed by
    its full name (`/actor_0/sim_bridge: {ros__parameters: {...}}`)."""
    return {
        f"/{m.namespace}/{m.name}": {"ros__parameters": dict(m.parameters)} for m in spec.members
    }


def write_parameters(spec: NodeSpec, directory: str | Path) -> Path:
    """Write a container's parameters file (`container_parameters`) into `directory`; its path."""
    path = Path(directory) / f"{spec.namespace}_{spec.name}.yaml"
    path.write_text(yaml.safe_dump(container_parameters(spec)))
    return path
