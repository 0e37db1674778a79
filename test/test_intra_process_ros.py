"""ros/intra_process.py with real rclpy nodes: between nodes of one process a message is handed
over as the object published, without DDS; once another process subscribes, every subscriber
gets each message once by DDS; a callback's error reaches the spin loop; an inbox keeps the
newest `depth` messages; latched and raw topics stay on DDS."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading

import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from std_msgs.msg import Float64MultiArray

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.intra_process import IntraProcess
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, ros_env
from skill_embedding_ros.ros.run import INTRA_PROCESS_ENV, intra_process

LISTENER = """
import sys, rclpy
from std_msgs.msg import Float64MultiArray
from skill_embedding_ros.ros import topics
rclpy.init()
node = rclpy.create_node("listener")
node.create_subscription(
    Float64MultiArray, "/chatter", lambda m: print(m.data[0], flush=True), topics.RELIABLE
)
print("ready", flush=True)
rclpy.spin(node)
"""


class Graph(Probe):
    """The probe's node ("talker") and more (`add_node`) on the executor a container spins;
    `wire` routes them as the container does, and spinning raises what a callback raised, as
    the container's loop does."""

    def __init__(self):
        self.domain = fresh_domain()
        super().__init__(self.domain, "talker", events=True)
        self.router = None

    def wire(self) -> IntraProcess:
        self.router = IntraProcess(self.nodes, self.executor)
        return self.router

    def spin_until(self, done, what: str, timeout: float = 20.0) -> None:
        def checked() -> bool:
            self.router.raise_failure()
            return done()

        super().spin_until(checked, timeout, what)


@pytest.fixture
def graph():
    g = Graph()
    yield g
    g.close()


def talker_and_listener(graph: Graph, qos=topics.RELIABLE):
    got: list = []
    pub = graph.node.create_publisher(Float64MultiArray, "/chatter", qos)
    graph.add_node("local").create_subscription(Float64MultiArray, "/chatter", got.append, qos)
    return pub, got


def test_a_local_subscriber_gets_the_published_object(graph):
    pub, got = talker_and_listener(graph)
    assert graph.wire().topics == ["/chatter"]
    sent = [Float64MultiArray(data=[float(i)]) for i in range(20)]
    for i, msg in enumerate(sent):
        pub.publish(msg)
        graph.spin_until(lambda i=i: len(got) > i, "the local message")
    # The very objects: DDS would have handed over new ones, converted from its bytes.
    assert all(a is b for a, b in zip(got, sent, strict=True))
    with pytest.raises(TypeError):
        pub.publish("not a message")
    # Serialized already: by DDS, the local subscriber gets the message it holds.
    pub.publish(serialize_message(Float64MultiArray(data=[7.0])))
    graph.spin_until(lambda: len(got) == 21, "the serialized message")
    assert got[-1].data.tolist() == [7.0]


def test_with_a_subscriber_in_another_process_each_gets_every_message_once_by_dds(graph):
    pub, got = talker_and_listener(graph)
    graph.wire()
    listener = subprocess.Popen(
        [sys.executable, "-c", LISTENER],
        env=ros_env(graph.domain),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in listener.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=30).strip() == "ready"
        # Until the listener hears one: a writer sends to a reader only once both have matched.
        heard_one, warm_ups = False, 0
        while not heard_one:
            pub.publish(Float64MultiArray(data=[-1.0]))
            warm_ups += 1
            graph.spin_until(lambda n=warm_ups: len(got) == n, "the warm-up message")
            with contextlib.suppress(queue.Empty):
                heard_one = float(lines.get(timeout=0.2)) == -1.0
        got.clear()
        sent, heard = [Float64MultiArray(data=[float(i)]) for i in range(20)], []
        for i, msg in enumerate(sent):  # in lockstep: a writer keeps only its last 10
            pub.publish(msg)
            graph.spin_until(lambda i=i: len(got) > i, "the local subscriber's message")
            while len(heard) <= i:
                value = float(lines.get(timeout=10))
                if value != -1.0:  # not a warm-up heard late
                    heard.append(value)
    finally:
        listener.kill()
        listener.wait()
    assert heard == [float(i) for i in range(20)]
    assert [m.data[0] for m in got] == heard
    assert not any(a is b for a, b in zip(got, sent, strict=True))  # converted: by DDS
    graph.executor.spin_once(timeout_sec=0.2)
    assert len(got) == 20  # and not once more intra-process


def test_a_callback_error_reaches_the_spin_loop(graph):
    def fails(msg):
        raise ValueError(f"bad {msg.data[0]}")

    pub = graph.node.create_publisher(Float64MultiArray, "/chatter", topics.RELIABLE)
    graph.add_node("local").create_subscription(
        Float64MultiArray, "/chatter", fails, topics.RELIABLE
    )
    graph.wire()
    pub.publish(Float64MultiArray(data=[3.0]))
    with pytest.raises(ValueError, match=r"bad 3\.0"):
        graph.spin_until(lambda: False, "the error", timeout=5.0)


def test_an_inbox_keeps_the_newest_depth_messages(graph):
    qos = QoSProfile(
        depth=2, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
    )
    pub, got = talker_and_listener(graph, qos)
    graph.wire()
    for i in range(5):  # no spin between: the executor has not run the callback yet
        pub.publish(Float64MultiArray(data=[float(i)]))
    graph.spin_until(lambda: len(got) == 2, "two messages")
    graph.executor.spin_once(timeout_sec=0.2)
    assert [m.data[0] for m in got] == [3.0, 4.0]


def test_a_best_effort_publisher_reaches_no_reliable_subscriber(graph):
    # DDS does not connect them; neither does the router.
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    got: list = []
    pub = graph.node.create_publisher(Float64MultiArray, "/chatter", best_effort)
    graph.add_node("local").create_subscription(Float64MultiArray, "/chatter", got.append, 10)
    assert graph.wire().topics == []
    pub.publish(Float64MultiArray(data=[1.0]))
    for _ in range(5):
        graph.executor.spin_once(timeout_sec=0.05)
    assert got == []


def test_latched_and_raw_topics_stay_on_dds(graph):
    talker, local = graph.node, graph.add_node("local")
    got: list = []
    latched = talker.create_publisher(Float64MultiArray, "/latched", topics.LATCHED)
    local.create_subscription(Float64MultiArray, "/latched", got.append, topics.LATCHED)
    raw = talker.create_publisher(Float64MultiArray, "/raw", topics.RELIABLE)
    local.create_subscription(Float64MultiArray, "/raw", got.append, topics.RELIABLE, raw=True)
    assert graph.wire().topics == []
    graph.spin_until(lambda: latched.get_subscription_count() == 1, "the local subscriber")
    graph.spin_until(lambda: raw.get_subscription_count() == 1, "the raw subscriber")
    latched.publish(Float64MultiArray(data=[1.0]))
    raw.publish(Float64MultiArray(data=[2.0]))
    graph.spin_until(lambda: len(got) == 2, "both by DDS")
    assert sorted(type(m).__name__ for m in got) == ["Float64MultiArray", "bytes"]


def test_the_switch_takes_0_or_1(monkeypatch, graph):
    talker_and_listener(graph)
    monkeypatch.setenv(INTRA_PROCESS_ENV, "yes")
    with pytest.raises(SystemExit, match="must be 0 or 1"):
        intra_process(graph.nodes, graph.executor)
    monkeypatch.setenv(INTRA_PROCESS_ENV, "0")
    assert intra_process(graph.nodes, graph.executor) is None
    monkeypatch.delenv(INTRA_PROCESS_ENV)
    assert intra_process(graph.nodes, graph.executor).topics == ["/chatter"]
