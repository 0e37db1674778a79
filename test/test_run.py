"""ros/run.py `spin`, the way every node runs: Ctrl-C (SIGINT) or SIGTERM at any moment stops a
real rclpy node with exit code 0, also while rclpy is turning a message into Python (where a
KeyboardInterrupt raised by the signal handler used to surface as a RuntimeError from
take_message and an exit 1)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from skill_embedding_ros.launch.graph_exit import LEFT_HUNG
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


def _start(script: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=ros_env(fresh_domain()),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    """Its output once it exits; killed past `timeout` (a busy process left running would load
    every test after this one)."""
    try:
        return proc.communicate(timeout=timeout)[0]
    finally:
        proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_stops_a_node_with_exit_0(signum):
    rng = random.Random(signum)
    failures = []
    for _ in range(8):  # measured without the fix: 9 of 15 SIGINTs exited 1
        proc = _start(FLOOD)
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


# A node that finishes at once but whose destruction never returns (as a DDS teardown once did).
STUCK_LEAVING = """
import sys, time
from rclpy.node import Node
from skill_embedding_ros.ros import run


class StuckLeaving(Node):
    def __init__(self):
        super().__init__("stuck_leaving")
        self.exit_code = 0

    def destroy_node(self):
        time.sleep(60)


run.LEAVE_TIMEOUT_S = 0.5
sys.exit(run.spin(StuckLeaving))
"""

# A node busy in a callback that ignores both stop signals' requests (stands in for any hang).
STUCK_SPINNING = """
import sys, time
from rclpy.node import Node
from skill_embedding_ros.ros.run import spin


def stuck_in_a_callback():
    print("stuck", flush=True)
    while True:
        time.sleep(0.05)


class StuckSpinning(Node):
    def __init__(self):
        super().__init__("stuck_spinning")
        self.create_timer(0.01, stuck_in_a_callback)


sys.exit(spin(StuckSpinning))
"""


# Two nodes in one process passing a message back and forth intra-process without a pause, as a
# composed lockstep actor does: the executor is never idle. ENDS_AT: the pong node ends the run
# with its pong of that count, and says how many pings reached it after that.
PING_PONG = """
import sys
from std_msgs.msg import Int64
from rclpy.node import Node
from skill_embedding_ros.ros.run import spin_nodes

ENDS_AT = int(sys.argv[1])


class Ping(Node):
    def __init__(self):
        super().__init__("ping")
        self.pub = self.create_publisher(Int64, "ping", 10)
        self.create_subscription(Int64, "pong", self.on_pong, 10)
        self.start = self.create_timer(0.2, self.serve)
        self.pongs = 0

    def serve(self):  # once: a new ping per pong from then on
        self.destroy_timer(self.start)
        self.pub.publish(Int64(data=0))

    def on_pong(self, msg):
        self.pongs += 1
        self.pub.publish(Int64(data=msg.data))

    def close(self):
        print(f"ping got {self.pongs} pongs", flush=True)


class Pong(Node):
    def __init__(self):
        super().__init__("pong")
        self.pub = self.create_publisher(Int64, "pong", 10)
        self.create_subscription(Int64, "ping", self.on_ping, 10)
        self.count, self.after, self.exit_code = 0, 0, None

    def on_ping(self, msg):
        if self.exit_code is not None:
            self.after += 1
        self.count += 1
        if self.count == 1000:
            print("busy", flush=True)
        self.pub.publish(Int64(data=msg.data + 1))
        if self.count == ENDS_AT:  # its last pong is on its way: ping must not get it
            self.exit_code = 3

    def close(self):
        print(f"closed after {self.count}, {self.after} after the end", flush=True)


sys.exit(spin_nodes([Ping, Pong]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_composed_process_whose_executor_is_never_idle(signum):
    """ros/run.py's loop looks at the stop request after every callback. (Waiting in the
    EventsExecutor's spin_until_future_complete instead, tried: busy, it never returns at its
    timeout, and an actor container ignored Ctrl-C.)"""
    proc = _start(PING_PONG.replace("int(sys.argv[1])", "-1"))
    try:
        first, busy = proc.stdout.readline(), proc.stdout.readline()
        assert "intra-process (no DDS while no other process subscribes): /ping, /pong" in first
        assert busy.strip() == "busy", first + busy
        proc.send_signal(signum)
    finally:
        out = _finish(proc, timeout=10)
    assert proc.returncode == 0 and "closed after" in out, out


def test_a_node_that_ends_the_run_stops_it_before_another_callback():
    """The first node to set `exit_code` stops the loop before another callback runs."""
    proc = _start(PING_PONG.replace("int(sys.argv[1])", "5000"))
    out = _finish(proc, timeout=30)
    assert proc.returncode == 3, out
    assert "closed after 5000, 0 after the end" in out and "ping got 4999 pongs" in out, out


def test_a_failing_intra_process_callback_stops_a_composed_process_before_another():
    """ros/intra_process.py keeps a callback's error for the loop to raise (rclpy's
    EventsExecutor would crash on it); the loop raises it before the next callback."""
    failing = PING_PONG.replace("int(sys.argv[1])", "5000")
    proc = _start(failing.replace("self.exit_code = 3", "raise ValueError('pong failed')"))
    out = _finish(proc, timeout=30)
    assert proc.returncode == 1 and "ValueError: pong failed" in out, out
    assert "closed after 5000, 0 after the end" in out and "ping got 4999 pongs" in out, out


def test_a_node_stuck_leaving_dds_writes_its_stacks_and_is_ended_by_sigalrm():
    proc = _start(STUCK_LEAVING)
    out, _ = proc.communicate(timeout=30)  # not the 60 s its destroy_node would take
    assert proc.returncode == LEFT_HUNG, out  # ended, and so told apart from a failure
    assert "Timeout (0:00:00.500000)!" in out and "in destroy_node" in out, out
    # A run that failed stays a failure, hang or not.
    proc = _start(STUCK_LEAVING.replace("self.exit_code = 0", "self.exit_code = 3"))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "in destroy_node" in out, out


def test_sigusr1_writes_a_running_nodes_stacks():
    proc = _start(STUCK_SPINNING)
    try:
        assert proc.stdout.readline().strip() == "stuck"
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        assert proc.poll() is None  # only asked, not stopped
    finally:
        proc.kill()
        out, _ = proc.communicate()
    assert "in stuck_in_a_callback" in out and "in spin_nodes" in out, out


def test_the_executor_is_the_events_one_unless_a_node_asks_or_the_env_says(monkeypatch):
    """run.new_executor: EventsExecutor by default (this rclpy has it), SingleThreadedExecutor
    for a node that asks (events=False: the recorders); SKILL_EMBEDDING_EXECUTOR
    overrides both ways, and a wrong value is refused by name."""
    import rclpy

    from skill_embedding_ros.ros.replay_recorder import ReplayRecorder
    from skill_embedding_ros.ros.run import EXECUTOR_ENV, new_executor

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=fresh_domain())

    def kind(events: bool) -> str:
        executor = new_executor(events, context)
        executor.shutdown()
        return type(executor).__name__

    try:
        assert ReplayRecorder.single_threaded_executor is True
        assert (kind(True), kind(False)) == ("EventsExecutor", "SingleThreadedExecutor")
        monkeypatch.setenv(EXECUTOR_ENV, "single")
        assert kind(True) == "SingleThreadedExecutor"
        monkeypatch.setenv(EXECUTOR_ENV, "events")
        assert kind(False) == "EventsExecutor"
        monkeypatch.setenv(EXECUTOR_ENV, "fast")
        with pytest.raises(SystemExit, match="SKILL_EMBEDDING_EXECUTOR must be single or events"):
            kind(True)
    finally:
        rclpy.shutdown(context=context)


@pytest.mark.parametrize("stepping", ["lockstep", "realtime"])
def test_the_gate_asks_for_single_threaded_in_real_time_and_keeps_one_command_in_lockstep(
    stepping,
):
    """ros/safety_gate.py: a lockstep gate spins the EventsExecutor with a one-deep command queue
    (a flood cannot queue before an e-stop); a real-time one queues commands, each to be
    answered, and asks for SingleThreadedExecutor, which takes services between them."""
    import rclpy

    from skill_embedding_ros.ros import topics
    from skill_embedding_ros.ros.safety_gate import SafetyGate

    args = ["--ros-args", "-p", f"stepping:={stepping}", "-p", "estop_file:=''"]
    rclpy.init(args=args, domain_id=fresh_domain())
    try:
        gate = SafetyGate()
        (commands,) = [
            s for s in gate.subscriptions if s.topic_name.endswith("/" + topics.POLICY_COMMAND)
        ]
        assert gate.single_threaded_executor is (stepping == "realtime")
        assert commands.qos_profile.depth == (1 if stepping == "lockstep" else 10)
        gate.destroy_node()
    finally:
        rclpy.shutdown()
