"""Multi-process ROS 2 helpers for tests, benchmarks and scripts: nodes run as real processes
over real DDS, each graph on its own ROS_DOMAIN_ID, discovery kept on this host; the caller talks
to them through a probe node in its own rclpy context."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

from skill_embedding_ros.launch.graph import NodeSpec, find_graph, load_graph
from skill_embedding_ros.launch.launcher import node_command

REPO = Path(__file__).resolve().parents[2]
# Spread over 1..101 (the safe range on Linux) so parallel test runs rarely collide.
_domains = itertools.count(os.getpid() % 50)


def fresh_domain() -> int:
    return 1 + next(_domains) % 101


def ros_env(domain: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    return env


def graph_params(executable: str, graph: str = "train_sim", **overrides) -> dict:
    """Actor 0's parameters for `executable` in a graph description (one source of truth for
    how a graph sets a node up, e.g. the gate's stepping and coasting reserve), with overrides.
    A latched e-stop is kept in memory only unless a test says otherwise."""
    args = {"checkpoint": "unused.safetensors"} if graph == "evaluate_sim" else {}
    spec = next(
        s for s in load_graph(find_graph(graph)).resolve(args) if s.executable == executable
    )
    params = dict(spec.parameters)
    if executable == "safety_gate":
        params["estop_file"] = ""
    return {**params, **overrides}


def start_node(
    executable: str,
    domain: int,
    log_dir: Path,
    namespace: str = "",
    params: dict | None = None,
) -> subprocess.Popen:
    """Start node `executable` (a key of NODES) as its own process; stdout+stderr to a log."""
    # The launcher's own command line, so tests start nodes exactly as a graph does.
    cmd = node_command(NodeSpec(executable, executable, namespace.strip("/"), dict(params or {})))
    log_dir.mkdir(parents=True, exist_ok=True)
    name = f"{namespace.strip('/').replace('/', '_')}_{executable}".strip("_")
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        cmd, env=ros_env(domain), stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    proc.log_path = log_dir / f"{name}.log"  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Ctrl-C a node process, then kill it if it does not exit; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def log_text(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


class Probe:
    """A node in the test process, in its own context on the graph's domain."""

    def __init__(self, domain: int, name: str = "probe"):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], bool], timeout: float, what: str = "condition"):
        """Spin until done() is true; AssertionError naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
