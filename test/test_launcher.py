"""The pip launcher with tiny real processes: prefixed logs, Ctrl-C, a dying node, finishing nodes,
a node that ignores SIGINT, one deaf to every stop signal; a real rclpy process reading the
command line it builds. The launcher on a graph of real nodes: test_launcher_graph_ros.py."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from skill_embedding_ros.launch.graph import NodeSpec, config_class
from skill_embedding_ros.launch.launcher import node_command, ros_value
from skill_embedding_ros.ros.processes import fresh_domain, ros_env

REPO = Path(__file__).resolve().parents[1]

# Stand-ins for nodes (python -c scripts; extra words become sys.argv[1:]).
TALKER = """
import os, time
print(f"hello pid {os.getpid()}")
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    print("bye")
"""
CRASHER = """
import time
time.sleep(0.3)
print("about to fail")
print("reason: test")
raise SystemExit(3)
"""
FINISHER = """
import sys, time
time.sleep(float(sys.argv[1]))
print("work done")
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("ignoring SIGINT")
while True:
    time.sleep(0.05)
"""
# Deaf to both stop signals; writes its stacks on SIGUSR1 as every node does (ros/run.py).
STUCK = """
import faulthandler, signal, time
faulthandler.register(signal.SIGUSR1)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def stuck_here():
    print("deaf", flush=True)
    while True:
        time.sleep(0.05)
stuck_here()
"""
# Ends as ros/run.py ends a process that closed its nodes, then hung leaving DDS: by SIGALRM
# (graph_exit.LEFT_HUNG). With an argument it finishes on its own after that many seconds.
HUNG_LEAVING = """
import os, signal, sys, time
def leave():
    print("closed", flush=True)
    os.kill(os.getpid(), signal.SIGALRM)
    time.sleep(5)
if len(sys.argv) > 1:
    time.sleep(float(sys.argv[1]))
    leave()
print("hello", flush=True)
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    leave()
"""
SCRIPTS = {
    "hung_leaving": HUNG_LEAVING,
    "talker": TALKER,
    "crasher": CRASHER,
    "finisher": FINISHER,
    "stubborn": STUBBORN,
    "stuck": STUCK,
}

# Runs GraphRunner in its own process (it owns the SIGINT handler), over specs given as JSON.
DRIVER = """
import json, sys
from skill_embedding_ros.launch.graph import NodeSpec
from skill_embedding_ros.launch.launcher import GraphRunner

nodes = json.loads(sys.argv[1])
scripts = {n["label"]: [sys.executable, "-c", n["script"], *n["args"]] for n in nodes}
specs = [NodeSpec(n["kind"], n["name"], n["namespace"], {}, n["on_exit"]) for n in nodes]
runner = GraphRunner(
    specs,
    command=lambda spec: scripts[spec.label],
    sigint_timeout=float(sys.argv[2]),
    sigterm_timeout=float(sys.argv[3]),
)
sys.exit(runner.run())
"""


class Launcher:
    """The launcher process, its output collected line by line."""

    def __init__(
        self, nodes: list[dict], sigint_timeout: float = 10.0, sigterm_timeout: float = 5.0
    ):
        for node in nodes:
            node.setdefault("namespace", "")
            node.setdefault("on_exit", "error")
            node.setdefault("args", [])
            node["script"] = SCRIPTS[node["kind"]]
            node["label"] = NodeSpec("", node["name"], node["namespace"], {}).label
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                DRIVER,
                json.dumps(nodes),
                str(sigint_timeout),
                str(sigterm_timeout),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, *needles: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(n in self.text for n in needles):
            assert time.monotonic() < deadline, f"no {needles} in output:\n{self.text}"
            time.sleep(0.05)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"launcher did not exit; output:\n{self.text}") from None
        self.reader.join(5)
        return code

    def pids(self, label: str) -> list[int]:
        return [
            int(line.split("hello pid ")[1])
            for line in self.lines
            if line.startswith(f"[{label}] hello pid ")
        ]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_prefixed_logs_and_ctrl_c_stops_every_node():
    launcher = Launcher(
        [
            {"kind": "talker", "name": "talker", "namespace": "actor_0"},
            {"kind": "talker", "name": "talker", "namespace": "actor_1"},
            {"kind": "talker", "name": "learner"},
        ]
    )
    launcher.wait_for("[actor_0/talker] hello", "[actor_1/talker] hello", "[learner] hello")
    pids = [launcher.pids(label)[0] for label in ("actor_0/talker", "actor_1/talker", "learner")]
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.wait() == 0, launcher.text
    for label in ("actor_0/talker", "actor_1/talker", "learner"):
        assert f"[{label}] bye" in launcher.lines  # each got SIGINT and shut down itself
    assert "[launch] graph stopped" in launcher.lines
    assert all(_gone(pid) for pid in pids)


def test_a_dying_node_is_reported_and_stops_the_graph():
    launcher = Launcher(
        [
            {"kind": "talker", "name": "talker", "namespace": "actor_0"},
            {"kind": "crasher", "name": "skill_policy", "namespace": "actor_1"},
        ]
    )
    code = launcher.wait()
    assert code == 1, launcher.text
    text = launcher.text
    assert "[launch] actor_1/skill_policy (crasher) exited with code 3" in text
    report = text[text.index("exited with code 3") :]
    assert "about to fail" in report and "reason: test" in report  # its last lines
    assert "[actor_0/talker] bye" in text
    assert "[launch] graph stopped with errors" in text


def test_finishing_nodes_end_the_graph_with_success():
    launcher = Launcher(
        [
            {"kind": "talker", "name": "sim_bridge", "namespace": "actor_0"},
            {
                "kind": "finisher",
                "name": "policy",
                "namespace": "actor_0",
                "on_exit": "done",
                "args": ["0.2"],
            },
            {
                "kind": "finisher",
                "name": "policy",
                "namespace": "actor_1",
                "on_exit": "done",
                "args": ["0.8"],
            },
        ]
    )
    assert launcher.wait() == 0, launcher.text
    text = launcher.text
    assert "actor_0/policy finished; waiting for actor_1/policy" in text
    assert "actor_1/policy finished, the last node the graph waits for" in text
    assert "[actor_0/sim_bridge] bye" in text
    assert text.index("[actor_1/policy] work done") < text.index("[actor_0/sim_bridge] bye")


def test_a_node_that_closed_then_hung_leaving_dds_does_not_fail_the_graph():
    # A Fast DDS teardown hang after the node's work was done is said, not counted as a failure:
    # when the node finishes the graph, and when the graph is being stopped.
    finishing = Launcher(
        [
            {"kind": "talker", "name": "sim_bridge", "namespace": "actor_0"},
            {"kind": "hung_leaving", "name": "learner", "on_exit": "done", "args": ["0.3"]},
        ]
    )
    assert finishing.wait() == 0, finishing.text
    assert "learner finished (closed, then hung leaving DDS and was ended" in finishing.text
    assert "[launch] graph stopped" in finishing.lines
    stopped = Launcher([{"kind": "hung_leaving", "name": "replay_recorder"}])
    stopped.wait_for("[replay_recorder] hello")
    stopped.proc.send_signal(signal.SIGINT)
    assert stopped.wait() == 0, stopped.text
    assert "[launch] replay_recorder closed, then hung leaving DDS" in stopped.text
    assert "[launch] graph stopped" in stopped.lines


def test_a_node_that_ignores_ctrl_c_is_terminated():
    launcher = Launcher([{"kind": "stubborn", "name": "gate"}], sigint_timeout=0.5)
    launcher.wait_for("[gate] ignoring SIGINT")
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.wait() == 1, launcher.text
    assert "[launch] gate did not stop; sending SIGTERM" in launcher.text


def test_a_node_deaf_to_stop_signals_shows_its_stacks_before_it_is_killed():
    launcher = Launcher(
        [{"kind": "stuck", "name": "gate"}], sigint_timeout=0.3, sigterm_timeout=0.3
    )
    launcher.wait_for("[gate] deaf")
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.wait() == 1, launcher.text
    text = launcher.text
    stacks = text.index("[launch] gate is stuck; its stacks:")
    assert "in stuck_here" in text[stacks:], text
    assert text.index("[launch] gate did not stop; sending SIGKILL") > stacks


def test_node_command_runs_the_node_module_with_ros_args():
    spec = NodeSpec("sim_bridge", "bridge", "actor_2", {"seed": 3, "suite": "reach"})
    assert node_command(spec) == [
        sys.executable,
        "-m",
        "skill_embedding_ros.ros.sim_bridge",
        "--ros-args",
        "-r",
        "__node:=bridge",
        "-r",
        "__ns:=/actor_2",
        "-p",
        "seed:=3",
        "-p",
        "suite:=reach",
    ]
    assert "-r" not in node_command(NodeSpec("learner", "learner", "", {}))[5:]


@pytest.mark.parametrize(
    "value, text",
    [(True, "true"), (3, "3"), (2.0, "2.0"), ("0", "'0'"), ("", "''"), ("a/b c", "a/b c")],
)
def test_ros_values_keep_their_type(value, text):
    assert ros_value(value) == text


def test_a_real_rclpy_node_reads_the_command_line(tmp_path):
    """rcl itself parses what node_command builds: names, namespace and typed parameters, with
    strings that look like other types ("0", "true", "") kept as strings."""
    params = {
        "config": "true",
        "checkpoint": "",
        "mode": "evaluate",
        "seed": 7,
        "reset_timeout": 3.0,
    }
    spec = NodeSpec("skill_policy", "policy", "actor_1", params)
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import dataclasses, json, sys
            import rclpy
            from skill_embedding_ros.launch.graph import config_class

            rclpy.init(args=sys.argv)
            node = rclpy.create_node("unnamed")
            values = {
                f.name: node.declare_parameter(f.name, getattr(config_class(sys.argv[1]), f.name))
                .value
                for f in dataclasses.fields(config_class(sys.argv[1]))
            }
            print(json.dumps({"fqn": node.get_fully_qualified_name(), "values": values}))
            node.destroy_node()
            rclpy.shutdown()
            """
        )
    )
    argv = node_command(spec)
    ros_args = argv[argv.index("--ros-args") :]
    out = subprocess.run(
        [sys.executable, str(probe), spec.executable, *ros_args],
        env=ros_env(fresh_domain()),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["fqn"] == "/actor_1/policy"
    defaults = dataclasses.asdict(config_class("skill_policy")())
    assert result["values"] == {**defaults, **params}
