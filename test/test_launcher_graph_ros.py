"""The real launcher on a small graph of real nodes (sim bridges, replay and bag recorders):
Ctrl-C stops them all cleanly (exit 0), and a `kill -9` of the launcher takes every node down
with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from skill_embedding_ros.data.replay_store import StoreReader, StoreWriter
from skill_embedding_ros.ros.processes import REPO, fresh_domain, ros_env
from test.test_launcher import _gone

SMALL_GRAPH = """
description: A small graph of real nodes for the launcher's tests.
arguments:
  actors: {default: 2, description: Simulated robots.}
  out: {default: out, description: Directory for the store and the bag.}
nodes:
  - executable: sim_bridge
    per_actor: true
    parameters: {mode: realtime, seed: "{i}"}
  - executable: replay_recorder
    parameters: {store: "{out}/store", flush_period: 0.2, scan_period: 0.2}
  - executable: bag_recorder
    parameters: {out: "{out}/bag", topics: ["/actor_*/joint_states"], scan_period: 0.2}
"""


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


class _Graph:
    """`skill-embedding launch` of SMALL_GRAPH as its own process, up and recording."""

    def __init__(self, tmp_path: Path):
        graph = tmp_path / "small.yaml"
        graph.write_text(SMALL_GRAPH)
        self.out = tmp_path / "out"
        cmd = [sys.executable, "-m", "skill_embedding_ros.cli", "launch", str(graph)]
        self.proc = subprocess.Popen(
            [*cmd, f"out:={self.out}"],
            env=ros_env(fresh_domain()),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.nodes: list[int] = []
        deadline = time.monotonic() + 60
        up = ("[replay_recorder]", "recording into", "[bag_recorder] ", "recording /actor_1/")
        while not all(n in self.text for n in up) or len(self.nodes) < 4:
            assert time.monotonic() < deadline, f"the graph did not come up:\n{self.text}"
            assert self.proc.poll() is None, self.text
            self.nodes = _children(self.proc.pid)
            time.sleep(0.1)

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_gone(self, timeout: float) -> list[int]:
        """The node processes still alive after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(_gone(p) for p in self.nodes):
            time.sleep(0.1)
        return [p for p in self.nodes if not _gone(p)]

    def cleanup(self) -> None:
        for pid in [self.proc.pid, *self.nodes]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


def test_kill_9_of_the_launcher_takes_every_node_down(tmp_path):
    graph = _Graph(tmp_path)
    try:
        graph.proc.send_signal(signal.SIGKILL)
        graph.proc.wait(10)
        left = graph.wait_gone(30)
        assert not left, f"nodes {left} outlived the launcher:\n{graph.text}"
        # They stopped as on Ctrl-C: the store's lock is free and its chunks readable.
        StoreWriter(graph.out / "store").close()
        assert StoreReader(graph.out / "store").unreadable == []
    finally:
        graph.cleanup()


def test_ctrl_c_of_a_graph_stops_every_node_cleanly(tmp_path):
    graph = _Graph(tmp_path)
    try:
        time.sleep(1.0)
        graph.proc.send_signal(signal.SIGINT)
        assert graph.proc.wait(40) == 0, graph.text
        assert "[launch] graph stopped" in graph.text and "with errors" not in graph.text
        assert not graph.wait_gone(5)
        assert not list((graph.out / "store").glob("wal_*"))  # the recorder closed its store
        assert (graph.out / "bag" / "metadata.yaml").is_file()  # the bag recorder its bag
    finally:
        graph.cleanup()
