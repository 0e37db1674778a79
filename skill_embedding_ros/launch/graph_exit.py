"""How a graph ends when its nodes exit on their own: one rule shared by the pip launcher and
the ROS 2 launch files (launch/graph.py's ON_EXIT says what `error` and `done` mean)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from skill_embedding_ros.launch.graph import NodeSpec


@dataclass(frozen=True)
class Verdict:
    """What a node's exit means for the graph."""

    end: bool
    """Shut the rest of the graph down."""
    code: int
    """Exit code of the whole graph (when it ends now): 0 success, 1 a node failed."""
    message: str


LEFT_HUNG = -signal.SIGALRM
"""How a node process ends that closed its nodes and then hung leaving DDS for longer than
ros/run.py's LEAVE_TIMEOUT_S: the kernel ends it by SIGALRM after it wrote its stacks. Seen in
CI and in graphs, one stop in tens, inside rclpy's destroy_node (Fast DDS deleting a publisher
or the participant while the graph's other processes leave too). Its work was done by then
(`close()`: the store flushed, a last stop sent), so the graph counts the exit as a clean one and
says so."""


def describe_exit(code: int) -> str:
    if code == LEFT_HUNG:
        return "closed, then hung leaving DDS and was ended; its stacks are above, its work done"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class ExitTracker:
    """How the graph ends when its nodes exit on their own (shared by the launcher and the launch
    files, so both end a graph the same way). Once the graph is stopping (an end verdict, or
    `stop()` on Ctrl-C) exits are expected and yield no verdict."""

    def __init__(self, specs: list[NodeSpec]):
        self.waiting = {s.label for s in specs if s.on_exit == "done"}
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True

    def exited(self, spec: NodeSpec, code: int) -> Verdict | None:
        if self.stopping:
            return None
        if spec.on_exit == "done" and code in (0, LEFT_HUNG):
            self.waiting.discard(spec.label)
            done = f"{spec.label} finished" + (f" ({describe_exit(code)})" if code else "")
            if self.waiting:
                return Verdict(False, 0, f"{done}; waiting for {', '.join(sorted(self.waiting))}")
            verdict = Verdict(True, 0, f"{done}, the last node the graph waits for")
        else:
            why = " but should run until the graph stops" if code in (0, LEFT_HUNG) else ""
            verdict = Verdict(
                True, 1, f"{spec.label} ({spec.executable}) {describe_exit(code)}{why}"
            )
        self.stopping = True
        return verdict
