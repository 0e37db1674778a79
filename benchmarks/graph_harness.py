"""What the graph benchmark's measurements share (bench_graph.py runs them): the run config,
Python processes on a ROS_DOMAIN_ID with their logs, a node in this process in its own rclpy
context, and the two helper servers that bench_graph.py runs as `--serve echo|weights`.

The graph's own nodes start as in the tests (skill_embedding_ros/ros/processes.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from skill_embedding_ros.agent.checkpoint import decode_weights
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import ros_env
from skill_embedding_ros.ros.run import new_executor

REPO = Path(__file__).resolve().parents[1]
BENCH_SCRIPT = Path(__file__).resolve().with_name("bench_graph.py")  # runs `--serve ROLE`
RUN_CONFIG = "reach_bernoulli.yaml"  # the network sizes and suite every measurement uses
PING, PONG, WEIGHTS_ACK = "bench_ping", "bench_pong", "bench_weights_ack"

# -- processes --------------------------------------------------------------------------------


def start(args: list[str], domain: int, log: Path) -> subprocess.Popen:
    """A Python process on `domain`, stdout+stderr to `log`. It stays in our process group, so a
    Ctrl-C at the terminal reaches it too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], env=ros_env(domain), stdout=out, stderr=out, cwd=REPO
        )
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> list[int]:
    """Ctrl-C every process at once (shutdowns overlap), kill what has not exited by `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [proc.returncode for proc in procs]


def log_tail(proc: subprocess.Popen, lines: int = 15) -> str:
    text = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return "\n".join(text.splitlines()[-lines:])


def check_alive(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is not None:
            name = Path(proc.log_path).stem  # type: ignore[attr-defined]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_tail(proc)}")


class RosContext:
    """A node in this process, in its own rclpy context on `domain`."""

    def __init__(self, domain: int, name: str):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = new_executor(context=self.context)  # as the nodes spin
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        # Executor down before rclpy.shutdown, or the process aborts (DESIGN.md, known facts).
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


# -- the helper servers (`bench_graph.py --serve echo|weights`) -----------------------------


class Echo(Node):
    """Sends every ping straight back: the other end of the bare DDS round trip."""

    def __init__(self):
        super().__init__("bench_echo")
        pong = self.create_publisher(Float64MultiArray, PONG, topics.RELIABLE)
        self.create_subscription(Float64MultiArray, PING, pong.publish, topics.RELIABLE)


class WeightsSink(Node):
    """Receives /policy_weights as a skill policy does and acks each with its receipt time
    (CLOCK_MONOTONIC is system-wide on Linux, so the sender can subtract its send time)."""

    def __init__(self):
        super().__init__("bench_weights_sink")
        self.ack = self.create_publisher(Float64MultiArray, WEIGHTS_ACK, topics.RELIABLE)
        self.create_subscription(
            UInt8MultiArray, topics.POLICY_WEIGHTS, self.on_weights, topics.LATCHED
        )

    def on_weights(self, msg: UInt8MultiArray) -> None:
        received = time.monotonic_ns()
        _, version, _ = decode_weights(bytes(msg.data))
        decode_us = (time.monotonic_ns() - received) / 1e3
        self.ack.publish(Float64MultiArray(data=[float(version), float(received), decode_us]))


SERVERS = {"echo": Echo, "weights": WeightsSink}


def start_server(role: str, domain: int, log_dir: Path) -> subprocess.Popen:
    return start([str(BENCH_SCRIPT), "--serve", role], domain, log_dir / f"{role}.log")
