"""ros/run.py `spin`, the way every node runs: Ctrl-C (SIGINT) or SIGTERM at any moment stops a
real rclpy node with exit code 0, also while rclpy is turning a message into Python (where a
KeyboardInterrupt raised by the signal handler used to surface as a RuntimeError from
take_message and an exit 1)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import pytest

from skill_embedding_ros.ros.processes import REPO, fresh_domain, ros_env

# A node flooding itself with messages whose conversion to Python is mostly Python (many
# nested messages), so a signal lands inside rclpy's take_message often.
FLOOD = """
import sys
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from skill_embedding_ros.ros.run import spin

values = [KeyValue(key="k", value="v")] * 20
BIG = DiagnosticArray(status=[DiagnosticStatus(name=str(i), values=values) for i in range(200)])


class Flood(Node):
    def __init__(self):
        super().__init__("flood")
        self.pub = self.create_publisher(DiagnosticArray, "flood", 10)
        self.create_subscription(DiagnosticArray, "flood", lambda msg: None, 10)
        self.create_timer(0.001, lambda: self.pub.publish(BIG))
        print("ready", flush=True)

    def close(self):
        print("closed", flush=True)


sys.exit(spin(Flood))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_stops_a_node_with_exit_0(signum):
    rng = random.Random(signum)
    failures = []
    for _ in range(8):  # measured without the fix: 9 of 15 SIGINTs exited 1
        proc = subprocess.Popen(
            [sys.executable, "-c", FLOOD],
            env=ros_env(fresh_domain()),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        signal_at = rng.uniform(0.05, 0.4)
        try:
            proc.wait(signal_at)
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
        if proc.returncode != 0 or "closed" not in out:
            failures.append(f"exit {proc.returncode} after {signal_at:.2f} s:\n{out[-1500:]}")
    assert not failures, "\n".join(failures)
