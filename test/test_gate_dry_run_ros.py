"""A dry run (gate `dry_run: true`): the robot gets only stops while the gate decides as usual
and reports what it would have sent; `executed` says what the robot got. Real sim bridge (in
real time, as hardware runs) and gate processes; a probe plays a policy that pushes +x."""

from __future__ import annotations

import json

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import reset_reply_stamp
from skill_embedding_ros.ros.processes import (
    Probe,
    fresh_domain,
    graph_params,
    log_text,
    start_node,
    stop,
)

NS = "/actor_0/"
PUSH = [0.5, 0.0]  # m/s on x, y: inside the point mass's limits


def test_a_dry_run_holds_the_robot_and_reports_what_it_would_send(tmp_path):
    domain = fresh_domain()
    bridge = start_node("sim_bridge", domain, tmp_path, "actor_0", {"mode": "realtime"})
    gate_params = graph_params("safety_gate", stepping="realtime", dry_run=True)
    gate = start_node("safety_gate", domain, tmp_path, "actor_0", gate_params)
    probe = Probe(domain)
    states: list[JointState] = []
    executed: list[JointState] = []
    commands: list[list[float]] = []
    reports: list[dict[str, str]] = []
    try:
        node = probe.node
        policy = node.create_publisher(JointState, NS + topics.POLICY_COMMAND, topics.RELIABLE)

        def on_state(msg: JointState) -> None:
            states.append(msg)
            command = JointState(name=["x", "y"], velocity=PUSH)
            command.header.stamp = msg.header.stamp  # the state it answers, as a policy does
            policy.publish(command)

        node.create_subscription(JointState, NS + topics.JOINT_STATES, on_state, topics.RELIABLE)
        node.create_subscription(
            JointState, NS + topics.EXECUTED, executed.append, topics.RELIABLE
        )
        node.create_subscription(
            Float64MultiArray,
            NS + topics.COMMANDS,
            lambda msg: commands.append(list(msg.data)),
            topics.RELIABLE,
        )
        node.create_subscription(
            DiagnosticStatus,
            NS + topics.GATE_STATE,
            lambda msg: reports.append({v.key: v.value for v in msg.values}),
            topics.LATCHED,
        )
        probe.spin_until(lambda: len(executed) >= 30, 30.0, "30 answered commands")
        probe.spin_for(1.0)  # the gate reports once a second
        # A reset moves the robot too: the gate answers it itself, naming the newest state.
        reset = node.create_client(Trigger, NS + topics.RESET)
        probe.spin_until(reset.service_is_ready, 10.0, "the gate's reset service")
        reply = reset.call_async(Trigger.Request())
        probe.spin_until(reply.done, 10.0, "the reset's reply")
        probe.spin_for(0.5)  # a reset robot would show a new random start here
    finally:
        probe.close()
        codes = stop(gate), stop(bridge)
    assert codes == (0, 0), log_text(gate) + log_text(bridge)
    x = [dict(zip(s.name, s.position, strict=True))["x"] for s in states]
    assert max(x) - min(x) < 1e-3, "the robot moved in a dry run"
    assert commands and not np.any(commands), "the robot got something other than stops"
    assert not np.any([e.velocity for e in executed]), "executed must say what the robot got"
    would = [r["would_send"] for r in reports if "would_send" in r]
    assert would and np.allclose(json.loads(would[-1]), PUSH), would[-3:]
    assert "dry run: would send [0.5, 0.0]" in log_text(gate)
    assert reply.result().success and reset_reply_stamp(reply.result().message) is not None
