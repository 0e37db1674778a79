"""Multi-process ROS 2 helpers for tests, benchmarks and scripts: nodes run as real processes
over real DDS, each graph on its own ROS_DOMAIN_ID, discovery kept on this host; the caller talks
to them through a probe node in its own rclpy context."""

from __future__ import annotations

import fcntl
import itertools
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

from skill_embedding_ros.launch.compose import compose
from skill_embedding_ros.launch.graph import NodeSpec, find_graph, load_graph
from skill_embedding_ros.launch.launcher import STACKS_WAIT_S, node_command
from skill_embedding_ros.ros.run import new_executor

REPO = Path(__file__).resolve().parents[2]
DOMAINS = range(1, 102)
"""ROS_DOMAIN_IDs a graph may take (the range safe on Linux)."""
HELD = 4
"""Domains one process keeps reserved: its latest graphs (a test starts one per test)."""
_next = itertools.count(os.getpid())
_held: list[tuple[int, object]] = []


def fresh_domain() -> int:
    """A ROS_DOMAIN_ID no other graph on this host is using, reserved for this process.

    Two graphs on one domain talk to each other (a test run beside a soak, chaos or another test
    run would corrupt both), so a domain is taken only when (a) this host's lock file for it can
    be locked, which other processes of this project hold for their latest HELD domains, and (b)
    its first participant's unicast port (Fast DDS: 7410 + 250 * domain) is free, which catches
    graphs started by anything else, e.g. `ros2 launch`."""
    for _ in DOMAINS:
        domain = DOMAINS[next(_next) % len(DOMAINS)]
        lock = _lock(domain)
        if lock is None:
            continue
        if not _port_free(7410 + 250 * domain):
            lock.close()
            continue
        _held.append((domain, lock))
        while len(_held) > HELD:
            _held.pop(0)[1].close()  # closing the file releases its lock
        return domain
    raise RuntimeError(f"every ROS domain in {DOMAINS} is in use on this host")


def _lock(domain: int):
    folder = Path(tempfile.gettempdir()) / "skill_embedding_ros_domains"
    folder.mkdir(exist_ok=True)
    f = open(folder / f"{domain}.lock", "a")  # noqa: SIM115 (kept open: it holds the lock)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


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
    spec = NodeSpec(executable, executable, namespace.strip("/"), dict(params or {}))
    return _start(spec, domain, log_dir)


def start_container(
    domain: int, log_dir: Path, namespace: str, params: dict[str, dict]
) -> subprocess.Popen:
    """Start an actor_container (compose:=true) holding the nodes `params` names, each with its
    parameters, in `namespace`, as the launcher would; stdout+stderr to a log."""
    specs = [NodeSpec(e, e, namespace.strip("/"), dict(p)) for e, p in params.items()]
    (container,) = compose(specs)
    return _start(container, domain, log_dir)


def _start(spec: NodeSpec, domain: int, log_dir: Path) -> subprocess.Popen:
    """`spec` as a process, by the launcher's own command line (tests start nodes exactly as a
    graph does); its output to log_dir/<label>.log (the path as `proc.log_path`)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.label.replace('/', '_')}.log"
    cmd = node_command(spec, params_dir=str(log_dir))
    log = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        cmd, env=ros_env(domain), stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Ctrl-C a node process, then kill it if it does not exit, its stacks written to its log
    first (SIGUSR1, ros/run.py); returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(STACKS_WAIT_S)
            proc.kill()
            proc.wait()
    return proc.returncode


def log_text(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_alive(cond: Callable[[], bool], timeout: float, what: str, procs) -> None:
    """Wait until cond() is true while every process in `procs` keeps running; AssertionError
    naming `what` after `timeout` seconds, or the process that died, with its log's tail."""
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            assert p.poll() is None, f"{p.args} died:\n{log_text(p)[-2000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Probe:
    """A node in the test process, in its own context on the graph's domain; `add_node` puts
    more in the same context and executor (`events`: the executor a node process spins,
    ros/run.py `new_executor`)."""

    def __init__(self, domain: int, name: str = "probe", events: bool = False):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.nodes = [self.node]
        if events:
            self.executor = new_executor(context=self.context)
        else:
            self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def add_node(self, name: str):
        node = rclpy.create_node(name, context=self.context)
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

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
        for node in reversed(self.nodes):
            node.destroy_node()
        rclpy.shutdown(context=self.context)
