"""Sim bridge over real DDS: bridges run as their own processes, the test drives them from a probe
node (commands in; joint states, object poses, /clock and the reset service out)."""

from __future__ import annotations

import re
import signal
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import reset_reply_task
from skill_embedding_ros.ros.conversions import stamp_ns as ns_of
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop
from skill_embedding_ros.tasks.registry import get_suite

PERIOD_NS = 100_000_000  # both suites: 0.1 s per control period
WAIT = 15.0  # s; generous, the machine is shared


class Bridge:
    """One bridge process and the probe's view of it."""

    def __init__(self, graph, namespace: str, **params):
        self.probe = graph.probe
        self.suite = get_suite(params.get("suite", "reach"))
        self.proc = start_node("sim_bridge", graph.domain, graph.log_dir, namespace, params)
        node = self.probe.node
        self.states: list[JointState] = []
        self.poses: dict[str, list[PoseStamped]] = {o: [] for o in self.suite.objects}
        self.topic = f"/{namespace}/{topics.JOINT_STATES}"
        self.pub = node.create_publisher(
            Float64MultiArray, f"/{namespace}/{topics.COMMANDS}", topics.RELIABLE
        )
        self.reset_client = node.create_client(Trigger, f"/{namespace}/{topics.ROBOT_RESET}")
        self.subscribed = False

    def subscribe(self) -> None:
        node = self.probe.node
        node.create_subscription(JointState, self.topic, self.states.append, topics.RELIABLE)
        for o, got in self.poses.items():
            topic = self.topic.replace(topics.JOINT_STATES, topics.object_pose_topic(o))
            node.create_subscription(PoseStamped, topic, got.append, topics.RELIABLE)
        self.subscribed = True

    def stamps(self) -> list[int]:
        return [ns_of(s.header.stamp) for s in self.states]

    def state_at(self, stamp_ns: int) -> JointState:
        self.probe.spin_until(
            lambda: stamp_ns in self.stamps(), WAIT, f"{self.topic} stamped {stamp_ns} ns"
        )
        return next(s for s in self.states if ns_of(s.header.stamp) == stamp_ns)

    def pose_at(self, obj: str, stamp_ns: int) -> PoseStamped:
        got = self.poses[obj]
        self.probe.spin_until(
            lambda: any(ns_of(p.header.stamp) == stamp_ns for p in got), WAIT, f"{obj} pose"
        )
        return next(p for p in got if ns_of(p.header.stamp) == stamp_ns)

    def command(self, *velocities: float, wait_for: int | None = None) -> JointState | None:
        """Send one command; with `wait_for` (a stamp, ns) return the state it produced."""
        self.probe.spin_until(
            lambda: self.pub.get_subscription_count() > 0, WAIT, "the bridge's command sub"
        )
        self.pub.publish(Float64MultiArray(data=[float(v) for v in velocities]))
        return None if wait_for is None else self.state_at(wait_for)

    def reset(self) -> Trigger.Response:
        assert self.reset_client.wait_for_service(timeout_sec=WAIT), "no reset service"
        future = self.reset_client.call_async(Trigger.Request())
        self.probe.spin_until(future.done, WAIT, "the reset response")
        return future.result()


class Graph:
    def __init__(self, tmp_path):
        self.domain = fresh_domain()
        self.log_dir = tmp_path
        self.probe = Probe(self.domain)
        self.bridges: list[Bridge] = []

    def bridge(self, namespace: str, **params) -> Bridge:
        b = Bridge(self, namespace, **params)
        self.bridges.append(b)
        return b

    def wait_for_publishers(self) -> None:
        """Subscribe only once every bridge's state publisher exists: each has published its
        first state by then, so these are late subscribers that rely on the startup repeat."""
        for b in self.bridges:
            self.probe.spin_until(
                lambda b=b: self.probe.node.count_publishers(b.topic) > 0, WAIT, b.topic
            )
            b.subscribe()


@pytest.fixture
def graph(tmp_path):
    g = Graph(tmp_path)
    yield g
    codes = [stop(b.proc) for b in g.bridges]
    g.probe.close()
    logs = "\n".join(log_text(b.proc) for b in g.bridges)
    assert all(c == 0 for c in codes), f"bridge exit codes {codes}\n{logs}"


def positions(state: JointState) -> np.ndarray:
    return np.asarray(state.position)


def test_lockstep_publishes_at_startup_and_steps_once_per_command(graph):
    bridge = graph.bridge("actor_0", suite="push", seed=7, frame_id="arena")
    graph.wait_for_publishers()
    start = bridge.state_at(0)
    assert list(start.name) == ["x", "y"] and len(start.velocity) == 2
    pose = bridge.pose_at("block", 0)
    assert pose.header.frame_id == "arena"
    assert pose.pose.position.z == pytest.approx(0.05)  # the block's height above the floor

    moved = bridge.command(1.0, 0.0, wait_for=PERIOD_NS)
    graph.probe.spin_for(0.5)  # anything else the command caused would arrive by now
    assert [t for t in bridge.stamps() if t > 0] == [PERIOD_NS]  # exactly one new state
    dx, dy = positions(moved) - positions(start)
    assert dx > 0.05 and abs(dy) < 1e-3
    assert moved.velocity[0] > 0.5
    new_pose = bridge.pose_at("block", PERIOD_NS)
    assert new_pose.pose.position.x == pose.pose.position.x  # the mass did not reach the block


def test_same_seed_and_commands_reproduce_the_trajectory_and_resets(graph):
    a = graph.bridge("actor_0", suite="push", seed=7)
    b = graph.bridge("actor_1", suite="push", seed=7)
    other = graph.bridge("actor_2", suite="push", seed=8)
    clock = []
    graph.probe.node.create_subscription(Clock, topics.CLOCK, clock.append, topics.RELIABLE)
    graph.wait_for_publishers()
    assert positions(a.state_at(0)).tolist() == positions(b.state_at(0)).tolist()
    assert positions(a.state_at(0)).tolist() != positions(other.state_at(0)).tolist()

    def trajectory(bridge: Bridge) -> list:
        steps = []
        for k, cmd in enumerate(commands, start=1):
            s = bridge.command(*cmd, wait_for=k * PERIOD_NS)
            block = bridge.pose_at("block", k * PERIOD_NS).pose.position
            steps.append((list(s.position), list(s.velocity), (block.x, block.y)))
        return steps

    # Out-of-range values included: the bridge clips them exactly like the env.
    commands = np.random.default_rng(0).uniform(-1.3, 1.3, (8, 2)).tolist() + [[0.0, 1.0]] * 4
    assert trajectory(a) == trajectory(b)

    end = len(commands) * PERIOD_NS
    first = a.reset()
    assert first.success
    assert re.search(f"sec={(end + PERIOD_NS) // 10**9} nanosec=", first.message), first.message
    after = a.state_at(end + PERIOD_NS)  # time moved on by one period across the reset
    assert list(after.velocity) == [0.0, 0.0]
    assert positions(after).tolist() not in (
        positions(a.state_at(0)).tolist(),
        positions(a.state_at(end)).tolist(),
    )
    assert b.reset().success
    assert positions(b.state_at(end + PERIOD_NS)).tolist() == positions(after).tolist()
    assert a.reset().success
    again = a.state_at(end + 2 * PERIOD_NS)
    assert positions(again).tolist() != positions(after).tolist()  # successive resets differ
    # One state per command and per reset, stamps strictly increasing across the resets.
    assert [t for t in a.stamps() if t > 0] == [k * PERIOD_NS for k in range(1, len(commands) + 3)]
    assert clock == []  # lockstep bridges never own /clock


def test_realtime_publishes_at_the_control_rate_and_owns_the_clock(graph):
    timer = graph.bridge("actor_0", suite="reach", mode="realtime", publish_clock=True)
    quiet = graph.bridge("actor_1", suite="reach", mode="realtime")
    clock = []
    graph.probe.node.create_subscription(Clock, topics.CLOCK, clock.append, topics.RELIABLE)
    graph.wait_for_publishers()
    graph.probe.spin_until(lambda: len(timer.states) > 0, WAIT, "a realtime state")
    first = len(timer.states)
    graph.probe.spin_for(1.5)
    rate = (len(timer.states) - first) / 1.5
    assert 6 <= rate <= 13, f"{rate:.1f} states/s, control rate is 10/s"
    stamps = timer.stamps()
    assert np.all(np.diff(stamps) == PERIOD_NS)  # one period of sim time per tick, none lost
    assert positions(timer.states[-1]).tolist() == positions(timer.states[0]).tolist()  # idle
    assert len(quiet.states) > 5
    assert graph.probe.node.count_publishers(topics.CLOCK) == 1  # only the bridge asked to
    # Every state's time went out on /clock too (the newest may still be in flight).
    assert set(stamps[:-1]) <= {ns_of(c.clock) for c in clock}

    # The latest command is held: one message keeps the mass moving, tick after tick.
    last = timer.stamps()[-1]
    timer.command(0.0, -1.0)
    graph.probe.spin_for(0.6)
    y = [s.position[1] for s in timer.states if ns_of(s.header.stamp) > last]
    assert len(y) >= 4 and np.all(np.diff(y[-3:]) < -0.05)

    # A reset starts the new episode at rest: the held command is dropped.
    sec, nanosec = re.search(r"sec=(\d+) nanosec=(\d+)", timer.reset().message).groups()
    reset_at = int(sec) * 10**9 + int(nanosec)
    graph.probe.spin_for(0.5)
    after = [positions(s).tolist() for s in timer.states if ns_of(s.header.stamp) >= reset_at]
    assert len(after) >= 3 and all(p == after[0] for p in after)


def test_a_realtime_resets_state_goes_out_when_its_period_comes(graph):
    """A reset's state is stamped one period on. Sent at once, it came up to a period before
    its time; the safety gate's latency window (control/latency.py) took it for the fastest
    state, and every state after it looked late for the window's 10 s: in a real-time graph the
    gate stopped the robot for most of each episode (measured: "a joint state came 94 ms later
    than the fastest of the last 10 s" after each reset)."""
    bridge = graph.bridge("actor_0", suite="reach", mode="realtime")
    graph.wait_for_publishers()
    arrivals: list[tuple[float, int]] = []  # (monotonic s, stamp ns)

    def arrived(msg: JointState) -> None:
        arrivals.append((time.monotonic(), ns_of(msg.header.stamp)))

    node = graph.probe.node
    node.create_subscription(JointState, bridge.topic, arrived, topics.RELIABLE)
    graph.probe.spin_until(lambda: len(arrivals) > 5, WAIT, "realtime states")
    seen = len(arrivals)
    graph.probe.spin_until(lambda: len(arrivals) > seen, WAIT, "a state")  # a period ahead
    sec, nanosec = re.search(r"sec=(\d+) nanosec=(\d+)", bridge.reset().message).groups()
    reset_at = int(sec) * 10**9 + int(nanosec)
    graph.probe.spin_for(0.5)
    # arrival - stamp: constant but for delivery delays; a state sent early undercuts it.
    offsets = {stamp: t - stamp * 1e-9 for t, stamp in arrivals}
    before = [offset for stamp, offset in offsets.items() if stamp < reset_at]
    assert reset_at in offsets and reset_at + PERIOD_NS in offsets, sorted(offsets)
    assert offsets[reset_at] > min(before) - 0.02, (offsets[reset_at], min(before))
    assert np.all(np.diff(sorted(offsets)) == PERIOD_NS)  # still one state per period


def test_realtime_makes_up_a_stall_so_its_time_keeps_to_the_wall_clock(graph):
    """A stalled realtime bridge (SIGSTOP, as a starved process) steps the periods it missed
    when it runs again, holding its command as a robot would: its states stay one period apart
    and its simulated time keeps to the wall clock instead of falling behind for good."""
    bridge = graph.bridge("actor_0", suite="reach", mode="realtime")
    graph.wait_for_publishers()
    graph.probe.spin_until(lambda: len(bridge.states) > 3, WAIT, "realtime states")
    start, first = time.monotonic(), bridge.stamps()[-1]
    bridge.proc.send_signal(signal.SIGSTOP)
    try:
        graph.probe.spin_for(0.8)
    finally:
        bridge.proc.send_signal(signal.SIGCONT)
    graph.probe.spin_for(1.0)
    stamps = bridge.stamps()
    assert np.all(np.diff(stamps) == PERIOD_NS)  # every period published, none twice
    # Its clock moved as far as the wall clock, the stall included (it would lag 0.8 s).
    moved, elapsed = (stamps[-1] - first) * 1e-9, time.monotonic() - start
    assert abs(moved - elapsed) < 0.3, (moved, elapsed)
    assert "stalled" not in log_text(bridge.proc)  # 0.8 s is within what is made up


def test_malformed_commands_are_zeroed_and_warned_about_once(graph):
    bridge = graph.bridge("actor_0", suite="reach", seed=1)
    graph.wait_for_publishers()
    start = positions(bridge.state_at(0))
    bridge.command(1.0)  # one joint short
    bridge.command(float("nan"), 0.0)
    bridge.command(float("inf"), 1.0, 0.0)
    # Each still advanced time (a lockstep actor must not stall), with zero velocity.
    held = bridge.state_at(3 * PERIOD_NS)
    assert positions(held).tolist() == start.tolist()
    moved = bridge.command(0.0, -1.0, wait_for=4 * PERIOD_NS)
    assert positions(moved)[1] < start[1] - 0.05
    assert bridge.proc.poll() is None
    stop(bridge.proc)
    assert log_text(bridge.proc).count("rejected command") == 1  # throttled, not one per message


def test_resets_follow_the_task_topic_and_refuse_an_unknown_task(graph):
    """The latest task on `task` is what a reset is for, and the reply names it (the policy
    checks it: topic_names.TASK); an unknown name is refused, the bridge runs on. A suite
    without a URDF publishes its MJCF on both descriptions."""
    bridge = graph.bridge("actor_0", suite="push", seed=1)
    graph.wait_for_publishers()
    node = graph.probe.node
    descriptions = {}
    for topic in (topics.ROBOT_DESCRIPTION, topics.SIM_DESCRIPTION):
        node.create_subscription(
            String,
            f"/actor_0/{topic}",
            lambda m, t=topic: descriptions.__setitem__(t, m.data),
            topics.LATCHED,
        )
    graph.probe.spin_until(lambda: len(descriptions) == 2, WAIT, "both descriptions")
    assert descriptions[topics.ROBOT_DESCRIPTION] == descriptions[topics.SIM_DESCRIPTION]
    assert descriptions[topics.SIM_DESCRIPTION] == bridge.suite.description()

    reply = bridge.reset()
    assert reply.success and reset_reply_task(reply.message) == "", reply.message
    task_pub = node.create_publisher(String, f"/actor_0/{topics.TASK}", topics.LATCHED)
    for name, ok in (("no_such_task", False), (bridge.suite.tasks[-1], True)):
        task_pub.publish(String(data=name))
        graph.probe.spin_for(0.5)  # the reset and the task travel separately
        reply = bridge.reset()
        assert reply.success is ok, reply.message
        if ok:
            assert reset_reply_task(reply.message) == name, reply.message
        else:
            assert "unknown task 'no_such_task'" in reply.message, reply.message
            assert bridge.proc.poll() is None
