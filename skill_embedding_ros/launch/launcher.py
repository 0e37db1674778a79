"""`skill-embedding launch <graph>`: run a graph description where ROS 2 is pip-installed (no
`ros2 launch` there). Each node is a process started with `--ros-args`; its output comes back
one line at a time, prefixed with `[<namespace>/<name>]`. Ctrl-C stops every node (SIGINT, then
SIGTERM, then SIGKILL); a node that dies is reported with its exit code and last lines, and the
graph is shut down. On Linux every node also gets SIGTERM from the kernel when the launcher
dies, however it dies (`kill -9` included), so no node outlives it holding the replay store's
lock. ROS-free: the environment (ROS_DOMAIN_ID, RMW_IMPLEMENTATION, ...) passes through to the
nodes untouched.
"""

from __future__ import annotations

import collections
import fnmatch
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import IO

import yaml

from skill_embedding_ros.launch.compose import write_parameters
from skill_embedding_ros.launch.graph import (
    GraphError,
    NodeSpec,
    find_graph,
    list_graphs,
    load_graph,
    parse_assignments,
)
from skill_embedding_ros.launch.graph_exit import LEFT_HUNG, ExitTracker, describe_exit
from skill_embedding_ros.ros.executables import CONTAINER, NODES

TAIL_LINES = 20
"""Last output lines of a node shown when it dies."""
_COLORS = (36, 32, 33, 35, 34, 96, 92, 93, 95, 94)
_RED, _BOLD = "\033[31m", "\033[1m"
STACKS_WAIT_S = 1.0
"""s given to a stuck node to write its stacks before it is killed."""
_CLEAN_STOP = (0, -signal.SIGINT)
"""Exit codes of a node stopped by SIGINT: 0 from rclpy nodes, -SIGINT from a bare Python."""
PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal a process gets when its parent dies."""
_DIE_WITH_PARENT = f"""
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit("the launcher died while this node was starting")
os.execvp(sys.argv[2], sys.argv[2:])
"""


def die_with_parent(argv: list[str], parent: int) -> list[str]:
    """`argv` run so that it gets SIGTERM when `parent` dies, however it dies: a tiny Python
    sets PR_SET_PDEATHSIG (kept across exec) and execs argv in its own process, same pid.

    Why not preexec_fn: it runs Python between fork and exec in a launcher whose output
    threads are running, which can deadlock. Why SIGTERM: the project's nodes stop cleanly on
    it (ros/run.py), like on Ctrl-C. Elsewhere than Linux there is no such call: argv as is,
    and a killed launcher leaves its nodes running."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-S", "-c", _DIE_WITH_PARENT, str(parent), *argv]


def ros_value(value) -> str:
    """A parameter value as `-p name:=<value>` text: YAML, which rcl parses, so strings that look
    like numbers or booleans ("0", "true", "") are quoted and stay strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"))
    return text.removesuffix("\n...\n").strip()


def node_command(spec: NodeSpec, params_dir: str | None = None) -> list[str]:
    """The command line that starts `spec` as a ROS 2 node process (what ros2 launch builds).
    A container (launch/compose.py) gets its members' parameters as a file in `params_dir`."""
    if spec.members:
        path = write_parameters(spec, params_dir or tempfile.mkdtemp(prefix="skill_embedding_"))
        module = CONTAINER[spec.executable].split(":")[0]
        members = [m.executable for m in spec.members]
        ros_args = ["-r", f"__ns:=/{spec.namespace}", "--params-file", str(path)]
        return [sys.executable, "-m", module, *members, "--ros-args", *ros_args]
    module = NODES[spec.executable].split(":")[0]
    argv = [sys.executable, "-m", module, "--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        argv += ["-r", f"__ns:=/{spec.namespace}"]
    for key, value in spec.parameters.items():
        argv += ["-p", f"{key}:={ros_value(value)}"]
    return argv


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen
    prefix: str
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    reader: threading.Thread | None = None


class GraphRunner:
    """Start node processes, relay their output, and stop them all together.

    `command` turns a spec into a command line (node_command for real nodes; tests give small
    scripts). Must run in the main thread, which owns the SIGINT/SIGTERM handlers.
    """

    def __init__(
        self,
        specs: list[NodeSpec],
        command: Callable[[NodeSpec], list[str]] = node_command,
        out: IO[str] | None = None,
        sigint_timeout: float = 10.0,
        sigterm_timeout: float = 5.0,
        node_env: Callable[[NodeSpec], dict[str, str]] | None = None,
    ):
        self.specs = specs
        self.node_env = node_env or (lambda spec: {})
        """Extra environment of one node's process (its DDS security enclave, say)."""
        self.command = command
        self.out = out or sys.stdout
        self.sigint_timeout = sigint_timeout
        self.sigterm_timeout = sigterm_timeout
        self.color = self.out.isatty() and "NO_COLOR" not in os.environ
        self.children: list[_Child] = []
        self.signals = 0
        self.signal_name = ""
        self._lock = threading.Lock()

    # -- output ------------------------------------------------------------------------------

    def _write(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def say(self, message: str, error: bool = False) -> None:
        """A line from the launcher itself."""
        prefix = "[launch]"
        if self.color:
            prefix = f"{_BOLD}{_RED if error else ''}{prefix}\033[0m"
        self._write(f"{prefix} {message}")

    def _pump(self, child: _Child) -> None:
        for raw in iter(child.proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            child.tail.append(line)
            self._write(f"{child.prefix} {line}")
        child.proc.stdout.close()

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
        """Run the graph until it ends; returns the exit code (0 ok, 1 a node failed)."""
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                self._start_all()
            except OSError as err:
                self.say(f"could not start a node: {err}", error=True)
                return self._shutdown(1)
            return self._shutdown(self._supervise())
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self.signals += 1
        self.signal_name = signal.Signals(signum).name

    def _start_all(self) -> None:
        env = dict(os.environ)
        # Nodes write to a pipe: unbuffered, so lines arrive (and interleave) as they happen.
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.color:
            env.setdefault("RCUTILS_COLORIZED_OUTPUT", "1")
        for index, spec in enumerate(self.specs):
            prefix = f"[{spec.label}]"
            if self.color:
                prefix = f"\033[{_COLORS[index % len(_COLORS)]}m{prefix}\033[0m"
            proc = subprocess.Popen(
                die_with_parent(self.command(spec), os.getpid()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**env, **self.node_env(spec)},
                # Own session: a terminal's Ctrl-C reaches only the launcher, which then signals
                # every node once (a node seeing it twice could break off its own shutdown).
                start_new_session=True,
            )
            child = _Child(spec, proc, prefix)
            child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
            child.reader.start()
            self.children.append(child)
        self.say(f"started {len(self.children)} nodes (Ctrl-C stops them all)")

    def _supervise(self) -> int:
        """Wait for Ctrl-C or for node exits that end the graph; returns the exit code."""
        tracker = ExitTracker(self.specs)
        running = list(self.children)
        while True:
            if self.signals:
                self.say(f"stopping the graph ({self.signal_name})")
                return 0
            for child in list(running):
                code = child.proc.poll()
                if code is None:
                    continue
                running.remove(child)
                child.reader.join(timeout=2.0)  # its last lines, before the verdict
                verdict = tracker.exited(child.spec, code)
                if verdict.code:
                    self._report(child, verdict.message)
                else:
                    self.say(verdict.message)
                if verdict.end:
                    self.say("stopping the graph")
                    return verdict.code
            time.sleep(0.05)

    def _report(self, child: _Child, message: str) -> None:
        lines = [f"{message}; its last lines:"] + [f"    {line}" for line in child.tail]
        if not child.tail:
            lines = [f"{message} (no output)"]
        for line in lines:
            self.say(line, error=True)

    def _shutdown(self, code: int) -> int:
        """SIGINT every running node; SIGTERM, then SIGKILL, the ones still running after their
        timeout (a further Ctrl-C skips the wait). A node that stops badly makes the code 1."""
        alive = [c for c in self.children if c.proc.poll() is None]
        forced = set()
        stopping = alive
        steps = (
            (signal.SIGINT, self.sigint_timeout),
            (signal.SIGTERM, self.sigterm_timeout),
            (signal.SIGKILL, 0.0),
        )
        for sig, timeout in steps:
            if not stopping:
                break
            if sig == signal.SIGKILL:
                self._show_stacks(stopping)
            for child in stopping:
                if sig != signal.SIGINT:
                    self.say(f"{child.spec.label} did not stop; sending {sig.name}", error=True)
                    forced.add(id(child))
                # Popen polls first: a node that exited meanwhile is not signalled.
                child.proc.send_signal(sig)
            self._wait(stopping, timeout)
            stopping = [c for c in stopping if c.proc.poll() is None]
        for child in alive:
            child.proc.wait()
            child.reader.join(timeout=2.0)
            returncode = child.proc.returncode
            if id(child) in forced:
                code = 1
            elif returncode == LEFT_HUNG:
                self.say(f"{child.spec.label} {describe_exit(returncode)}")
            elif returncode not in _CLEAN_STOP:
                message = f"{child.spec.label} {describe_exit(returncode)} while stopping"
                self._report(child, message)
                code = 1
        for child in self.children:
            child.reader.join(timeout=2.0)
        self.say("graph stopped" + (" with errors" if code else ""), error=bool(code))
        return code

    def _show_stacks(self, children: list[_Child]) -> None:
        """Before a kill: where each node is stuck, as its Python stacks in its output (a node
        writes them on SIGUSR1, ros/run.py)."""
        for child in children:
            if child.proc.poll() is None:
                self.say(f"{child.spec.label} is stuck; its stacks:", error=True)
                child.proc.send_signal(signal.SIGUSR1)
        self._wait(children, STACKS_WAIT_S)  # time to write them; a node may also exit meanwhile

    def _wait(self, children: list[_Child], timeout: float) -> None:
        """Until every child has exited, `timeout` s pass, or another Ctrl-C arrives."""
        deadline = time.monotonic() + timeout
        signals = self.signals
        while time.monotonic() < deadline and self.signals == signals:
            if all(c.proc.poll() is not None for c in children):
                return
            time.sleep(0.05)


def select(specs: list[NodeSpec], only: str) -> list[NodeSpec]:
    """The nodes whose label matches one of the comma-separated fnmatch patterns `only`."""
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [s for s in specs if any(fnmatch.fnmatchcase(s.label, p) for p in patterns)]
    if not chosen:
        labels = ", ".join(s.label for s in specs)
        raise GraphError(f"--only {only!r} matches none of the graph's nodes: {labels}")
    return chosen


def launch(
    graph: str | None,
    assignments: list[str],
    list_only: bool,
    describe: bool,
    keystore: str | None = None,
    only: str = "",
) -> int:
    """The `skill-embedding launch` command; `keystore`: run each node in its own enclave;
    `only`: comma-separated patterns of node labels (fnmatch: "actor_*", "learner") to start
    here, the rest of the graph running elsewhere (docs/multi_host.md)."""
    try:
        if list_only or graph is None:
            if graph is None and not list_only:
                print("error: name a graph to launch; the graphs are:", file=sys.stderr)
            for name, summary in list_graphs().items():
                print(f"{name:<16} {summary}")
            return 0 if list_only else 2
        loaded = load_graph(find_graph(graph))
        values = parse_assignments(assignments)
        if describe:
            print(loaded.describe(values))
            return 0
        specs = loaded.resolve(values)  # checked whole, wherever its nodes run
        if only:
            specs = select(specs, only)
    except GraphError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    node_env = None
    if keystore and any(s.members for s in specs):
        print(
            "error: compose:=true runs an actor's nodes in one process, one DDS identity; a "
            "keystore gives each node its own enclave. Launch without compose:=true.",
            file=sys.stderr,
        )
        return 2
    if keystore:
        from skill_embedding_ros.security.keystore import security_environment
        from skill_embedding_ros.security.permissions import enclave_path

        try:  # every enclave checked before any node starts
            envs = {
                s.label: security_environment(keystore, enclave_path(s.namespace, s.name))
                for s in specs
            }
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        node_env = lambda spec: envs[spec.label]  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="skill_embedding_launch_") as params_dir:
        command = partial(node_command, params_dir=params_dir)
        return GraphRunner(specs, command=command, node_env=node_env).run()
