"""Several nodes in one process (`actor_container`, like a ROS 2 component container): an
actor's sim bridge, safety gate and skill policy built into one rclpy context and spun by one
executor, with the same names, namespaces, parameters and topics as in their own processes.

    python -m skill_embedding_ros.ros.container sim_bridge safety_gate skill_policy \\
        --ros-args -r __ns:=/actor_0 --params-file actor_0.yaml

The nodes share the namespace given with `__ns`; each reads its parameters from the file's
section for its own name (`/actor_0/sim_bridge: {ros__parameters: ...}`), which the launchers
write (launch/compose.py). The first node to finish ends the process with its exit code. The
nodes hand each other their messages without DDS while no other process subscribes to them
(ros/intra_process.py).
Why: one process per actor instead of three on a machine with fewer cores than processes
(docs/launching.md, "Composed actors").
"""

from __future__ import annotations

import importlib
import sys

from skill_embedding_ros.ros.executables import COMPOSABLE
from skill_embedding_ros.ros.run import spin_nodes


def node_class(executable: str):
    """The node class behind a composable executable name."""
    module, cls = COMPOSABLE[executable].split(":")
    return getattr(importlib.import_module(module), cls)


def main(args=None) -> int:
    argv = list(sys.argv if args is None else args)
    names = argv[1 : argv.index("--ros-args")] if "--ros-args" in argv else argv[1:]
    unknown = [n for n in names if n not in COMPOSABLE]
    if not names or unknown:
        print(
            f"actor_container: name the nodes to run, of {sorted(COMPOSABLE)}"
            + (f"; not composable: {unknown}" if unknown else ""),
            file=sys.stderr,
        )
        return 2
    return spin_nodes([node_class(n) for n in names], argv)


if __name__ == "__main__":
    sys.exit(main())
