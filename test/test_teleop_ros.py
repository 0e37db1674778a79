"""Teleop at the safety gate over real DDS: a MuJoCo sim bridge of the point mass in real time
and a gate with `teleop: keyboard_point_mass` and `deadman: true`, each its own process; a probe
plays the operator (sensor_msgs/Joy on /joy) and the policy (policy_command), and watches what the
gate sends (commands), answers (executed) and reports (gate_state)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from skill_embedding_ros.control.teleop import load_mapping
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.processes import REPO, Probe, fresh_domain, log_text, start_node, stop

NS = "/actor_0/"
PERIOD = 0.1  # s: the reach suite's control period, the gate's default
MAPPING = load_mapping("keyboard_point_mass")  # x on axis 0, y on axis 1, each at half speed
SPEED = 1.0  # m/s, the point mass's velocity limit
RELEASES = 100


def _buttons(*roles: str) -> list[int]:
    buttons = [0] * MAPPING.button_count
    for role in roles:
        buttons[MAPPING.buttons[role]] = 1
    return buttons


class _Graph:
    def __init__(self, tmp_path):
        domain = fresh_domain()
        self.estop_file = tmp_path / "estop" / "actor_0_safety_gate.latched"
        self.bridge = start_node(
            "sim_bridge", domain, tmp_path, "actor_0", {"suite": "reach", "mode": "realtime"}
        )
        self.gate = start_node(
            "safety_gate",
            domain,
            tmp_path,
            "actor_0",
            {
                "stepping": "realtime",
                "teleop": "keyboard_point_mass",
                "deadman": True,
                "estop_file": str(tmp_path / "estop" / "{node}.latched"),
            },
        )
        self.probe = Probe(domain)
        node = self.probe.node
        self.commands: list[tuple[float, np.ndarray]] = []
        self.executed: list[tuple[float, dict[str, float]]] = []
        self.states: list[dict[str, str]] = []
        self.velocities: list[tuple[float, dict[str, float]]] = []
        now = time.monotonic
        node.create_subscription(
            Float64MultiArray, NS + topics.COMMANDS,
            lambda m: self.commands.append((now(), np.array(m.data))), topics.RELIABLE,
        )  # fmt: skip
        node.create_subscription(
            JointState, NS + topics.EXECUTED,
            lambda m: self.executed.append((now(), dict(zip(m.name, m.velocity, strict=True)))),
            topics.RELIABLE,
        )  # fmt: skip
        node.create_subscription(
            JointState, NS + topics.JOINT_STATES,
            lambda m: self.velocities.append((now(), dict(zip(m.name, m.velocity, strict=True)))),
            topics.RELIABLE,
        )  # fmt: skip
        node.create_subscription(
            DiagnosticStatus, NS + topics.GATE_STATE,
            lambda m: self.states.append({kv.key: kv.value for kv in m.values}), topics.LATCHED,
        )  # fmt: skip
        self.joy = node.create_publisher(Joy, topics.JOY, topics.RELIABLE)
        self.policy = node.create_publisher(
            JointState, NS + topics.POLICY_COMMAND, topics.RELIABLE
        )
        self.estop = node.create_client(SetBool, NS + topics.ESTOP)
        self.probe.spin_until(
            lambda: self.states and "teleop" in self.states[-1] and self.velocities,
            30.0,
            "the gate's state with teleop and the bridge's joint states",
        )
        self.probe.spin_until(
            lambda: self.joy.get_subscription_count() and self.policy.get_subscription_count(),
            10.0,
            "the gate's Joy and policy subscriptions",
        )

    def run(self, seconds: float, buttons=(), axes=(0.0, 0.0), policy=None) -> None:
        """Publish a Joy every 20 ms and (if given) a policy command every 40 ms, for `seconds`."""
        end, k = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            self.joy.publish(Joy(buttons=_buttons(*buttons), axes=[float(a) for a in axes]))
            if policy is not None and k % 2 == 0:
                self.policy.publish(JointState(name=["x", "y"], velocity=list(policy)))
            k += 1
            self.probe.spin_for(0.02)

    def state(self, done, what: str) -> dict[str, str]:
        self.probe.spin_until(lambda: done(self.states[-1]), 5.0, what)
        return self.states[-1]

    def call_estop(self, latch: bool) -> str:
        self.probe.spin_until(self.estop.service_is_ready, 10.0, "the e-stop service")
        future = self.estop.call_async(SetBool.Request(data=latch))
        self.probe.spin_until(future.done, 5.0, "the e-stop response")
        return future.result().message

    def close(self) -> tuple[int, int]:
        self.probe.close()
        return stop(self.gate), stop(self.bridge)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    g = _Graph(tmp_path_factory.mktemp("teleop"))
    yield g
    codes = g.close()
    assert codes == (0, 0), log_text(g.gate) + log_text(g.bridge)


def test_deadman_release_stops_the_robot_within_two_periods(graph):
    delays = []
    start = time.monotonic()
    for k in range(RELEASES):
        policy = [0.3 * (-1) ** k, 0.0]  # back and forth: the mass stays near its start
        graph.commands.clear()
        deadline = time.monotonic() + 5.0
        while not any(c[0] == policy[0] for _, c in graph.commands):  # forwarded while held
            assert time.monotonic() < deadline, f"release {k}: no forwarded command"
            graph.run(0.04, ["deadman"], policy=policy)
        graph.run(0.02, ["deadman"])  # nothing of the policy's left in flight
        released = time.monotonic()
        graph.run(0.05, [], policy=policy)  # the policy goes on: only stops may answer it
        graph.probe.spin_until(
            lambda since=released: any(t > since and not c.any() for t, c in graph.commands),
            5.0,
            f"a stop after release {k}",
        )
        after = [(t, c) for t, c in graph.commands if t > released]
        first = next(t for t, c in after if not c.any())
        delays.append(first - released)
        assert all(not c.any() for t, c in after if t >= first), f"release {k}: {after}"
    took = time.monotonic() - start
    median, worst = np.median(delays) * 1e3, max(delays) * 1e3
    print(
        f"{RELEASES} deadman releases in {took:.1f} s: the first stop {median:.1f} ms (median), "
        f"{worst:.1f} ms (max) after the release; promised {2 * PERIOD * 1e3:.0f} ms"
    )
    assert max(delays) < 2 * PERIOD, sorted(delays)[-5:]
    graph.state(lambda s: s["teleop"] == "stop", "teleop: stop with the deadman released")


def test_takeover_answers_the_policy_with_the_operators_command(graph):
    before = int(graph.states[-1]["interventions"])
    graph.executed.clear()
    graph.commands.clear()
    operator = [0.4, 0.0]  # axes: 0.4 x half speed
    expected = {"x": operator[0] * 0.5 * SPEED, "y": 0.0}
    # Hold intervene until the gate has answered 10 of the policy's commands with the operator's
    # (a gate that starts `late` on a loaded machine stops until its timing holds).
    deadline = time.monotonic() + 10.0
    while sum(e == pytest.approx(expected) for _, e in graph.executed) < 10:
        assert time.monotonic() < deadline, [e for _, e in graph.executed]
        graph.run(0.2, ["intervene"], axes=operator, policy=[-0.3, 0.3])
    answers = [e for _, e in graph.executed]
    # Never the policy's: the operator's command (the mass near its start: nothing limits
    # 0.2 m/s), or a stop (the switch, or the gate late: docs/safety.md, Timing).
    theirs = [e == pytest.approx(expected) for e in answers]
    stops = [not any(e.values()) for e in answers]
    assert all(t or s for t, s in zip(theirs, stops, strict=True)), answers
    sent = [c for _, c in graph.commands]
    assert sum(np.allclose(c, [expected["x"], 0.0]) for c in sent) >= sum(theirs)
    taken = sum(e == pytest.approx(expected) for e in answers)
    graph.state(
        lambda s: int(s["interventions"]) >= before + taken,  # some may still be in flight
        f"the gate state to count {taken} interventions",
    )
    assert any(s["teleop"] == "teleop" and s["mode"] == "ok" for s in graph.states)

    # The policy falls silent: the operator's commands go on at the watchdog's rate (4 a period)
    # and the robot moves at their speed.
    graph.commands.clear()
    silent = time.monotonic()
    graph.run(1.0, ["intervene"], axes=operator)
    rate = sum(np.allclose(c, [expected["x"], 0.0]) for _, c in graph.commands) / 1.0
    assert rate > 0.5 * 4 / PERIOD, rate
    moving = [v["x"] for t, v in graph.velocities if t > silent + 0.3]
    assert moving and np.median(moving) == pytest.approx(expected["x"], abs=0.02), moving

    # Letting go of intervene stops at once (the deadman is not held either).
    graph.commands.clear()
    released = time.monotonic()
    graph.run(0.3, [])
    first = next(t for t, c in graph.commands if not c.any())
    assert first - released < 2 * PERIOD
    # (Before it, at most what was in flight at the release.)
    assert all(not c.any() for t, c in graph.commands if t >= first)


def test_the_estop_button_latches_until_the_estop_service_releases_it(graph):
    graph.run(0.1, ["estop"])
    state = graph.state(lambda s: s["estop"] == "true", "the e-stop latched by the button")
    assert state["mode"] == "estop" and graph.estop_file.exists()
    graph.commands.clear()
    graph.run(1.0, ["deadman", "intervene"], axes=[1.0, 1.0], policy=[0.3, 0.3])  # nothing gets
    assert len(graph.commands) >= 10 and all(not c.any() for _, c in graph.commands)  # through
    graph.run(0.5, ["deadman"], policy=[0.3, 0.3])  # the button released: still latched
    assert all(not c.any() for _, c in graph.commands)
    # No episode reset while latched: a reset moves the robot (an arm homes past the gate).
    reset = graph.probe.node.create_client(Trigger, NS + topics.RESET)
    graph.probe.spin_until(reset.service_is_ready, 10.0, "the gate's reset service")
    refused = reset.call_async(Trigger.Request())
    graph.probe.spin_until(refused.done, 10.0, "the reset's reply")
    assert not refused.result().success and "e-stop is latched" in refused.result().message
    assert graph.call_estop(False) == "e-stop released"
    assert not graph.estop_file.exists()
    graph.commands.clear()
    graph.run(0.5, ["deadman"], policy=[0.3, -0.3])
    assert any(np.allclose(c, [0.3, -0.3]) for _, c in graph.commands)
    log = log_text(graph.gate)
    assert "e-stop latched: commanding a stop" in log and "e-stop released" in log


@pytest.mark.parametrize(
    "params, error",
    [
        ({"teleop": "nope"}, "error: teleop: teleop mapping 'nope': no file"),
        ({"deadman": True}, "teleop must be str, got '' (deadman: true needs a mapping)"),
        ({"teleop": "xbox"}, "axes for joint(s) ['finger_1', 'finger_2', 'finger_3', 'joint_1'"),
    ],
)
def test_a_bad_teleop_setup_is_refused_at_start(tmp_path, params, error):
    description = {"robot_description": str(REPO / "urdf" / "point_mass.xml")}
    gate = start_node("safety_gate", fresh_domain(), tmp_path, "", description | params)
    assert gate.wait(30) == 2
    assert error in log_text(gate)
